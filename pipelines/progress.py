"""Progress of a long sync: bars on a terminal, a log line now and then elsewhere (Dagster UI)."""

import logging
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .raw_sync import ObjectSync, SyncProgress

LOG_EVERY_S = 10.0


class TerminalProgress(SyncProgress):
    """One line per object: records and pages fetched so far."""

    def __init__(self) -> None:
        self._bars = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(bar_width=None, pulse_style="cyan"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._ids: dict[str, int] = {}

    def __enter__(self) -> "TerminalProgress":
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def started(self, sync: ObjectSync) -> None:
        self._ids[sync.object_name] = self._bars.add_task(
            sync.object_name, total=None, status=f"{sync.mode}…"
        )

    def advanced(self, sync: ObjectSync) -> None:
        self._bars.update(
            self._ids[sync.object_name],
            status=f"{sync.mode}: {sync.fetched:,} records, {sync.pages:,} pages",
        )

    def finished(self, sync: ObjectSync) -> None:
        self._bars.update(
            self._ids[sync.object_name],
            total=1,
            completed=1,
            status=f"{sync.mode}: {sync.fetched:,} fetched, {sync.records:,} stored",
        )


class LogProgress(SyncProgress):
    """Where nobody watches a terminal: a line per object every few seconds, and at the end."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._last: dict[str, float] = {}

    def __enter__(self) -> "LogProgress":
        return self

    def __exit__(self, *exc: object) -> None: ...

    def started(self, sync: ObjectSync) -> None:
        self._last[sync.object_name] = time.monotonic()
        since = f" since {sync.since:%Y-%m-%d %H:%M:%S}" if sync.since else ""
        self._log.info(f"{sync.object_name}: {sync.mode} sync{since}")

    def advanced(self, sync: ObjectSync) -> None:
        now = time.monotonic()
        if now - self._last[sync.object_name] >= LOG_EVERY_S:
            self._last[sync.object_name] = now
            self._log.info(f"{sync.object_name}: {sync.fetched:,} records, {sync.pages:,} pages")

    def finished(self, sync: ObjectSync) -> None:
        self._log.info(
            f"{sync.object_name}: {sync.fetched:,} fetched in {sync.pages:,} pages; "
            f"{sync.records:,} in raw ({sync.archived_records:,} archived)"
        )


def sync_progress(log: logging.Logger) -> TerminalProgress | LogProgress:
    return TerminalProgress() if sys.stderr.isatty() else LogProgress(log)
