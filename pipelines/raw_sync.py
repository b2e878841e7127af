"""Copy a CRM's records into the raw layer: the machinery every CRM shares.

A CRM's sync module turns its objects into `SyncTask`s (which page streams to fetch, and how its
records name their id, change time and deletion); `run_tasks` fetches the streams in parallel
threads (sharing one request budget) while the calling thread writes (DuckDB takes one writer),
so fetching and loading overlap. Each object's pages are staged in a load table and reach `raw`
in one transaction together with the object's new watermark, so a process killed at any instant
leaves raw and its watermark as the last commit left them: the next run fetches the same changes
again and the merge by id makes that harmless. (Spark has no transactions: there the records'
file is renamed into place before the watermark's, to the same effect; see SparkWarehouse.)
"""

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from .crm_http import CrmError
from .warehouse import SYNC_STATE_COLUMNS, Warehouse, ensure_raw_table

log = logging.getLogger(__name__)

# Pages are staged in `raw._load_<object>`, shaped as the raw table: a full sync whose ids are all
# distinct then becomes the raw table by a rename in the commit's transaction, not by a copy.
LOAD_PREFIX = "_load_"
FLUSH_RECORDS = 5_000  # records buffered per object before one bulk insert
QUEUE_PAGES = 4  # pages in flight between fetchers and the writer: bounds memory


class Page(NamedTuple):
    """One page: how many records it holds, and the JSON text holding them under the shape's
    list key. Only the text waits for the writer: decoded records would hold ~6x its memory."""

    count: int
    # A page's body as received: the loader lets DuckDB parse it, since re-encoding each
    # record in Python cost more than fetching it.
    text: str


@dataclass(frozen=True)
class RecordShape:
    """Where a CRM's page holds its records, and where each record says what the raw row needs.

    `changed` lists JSON paths of change times; the latest non-null one wins (HubSpot's
    archivedAt can be later than its updatedAt). `archived` is a boolean's path, or None.
    """

    list_key: str
    id: str
    changed: tuple[str, ...]
    archived: str | None


class CrmLimitReached(CrmError):
    """The CRM's request allocation is nearly spent: the sync stopped cleanly, keeping what it
    committed. Not a credential problem; the next run resumes from the committed state."""


@dataclass
class ObjectSync:
    """What one object's sync did."""

    object_name: str
    mode: str  # "full" or "incremental"
    since: datetime | None = None
    fetched: int = 0
    pages: int = 0
    records: int = 0  # rows in raw afterwards, archived included
    archived_records: int = 0


# A stream fetches pages with a client of its own (sessions are not shared across threads).
Stream = Callable[[Any], Iterator[Page]]


@dataclass
class SyncTask:
    """One object's sync: its page streams, fetched in parallel into the same load table (arrival
    order does not matter, since the merge keeps the newest version of each record)."""

    name: str
    streams: list[Stream]
    shape: RecordShape
    since: datetime | None  # None: a full sync, replacing the raw table
    watermark: datetime  # where the next incremental sync of the object starts
    result: ObjectSync = field(init=False)
    pages: list[str] = field(default_factory=list)  # page texts waiting for one bulk insert
    buffered: int = 0  # records in them
    open_streams: int = 0
    failed: bool = False

    def __post_init__(self) -> None:
        mode = "full" if self.since is None else "incremental"
        self.result = ObjectSync(self.name, mode, self.since)


class SyncProgress:
    """Told about each object's progress; the default says nothing."""

    def started(self, sync: ObjectSync) -> None: ...
    def advanced(self, sync: ObjectSync) -> None: ...
    def finished(self, sync: ObjectSync) -> None: ...


def watermarks(wh: Warehouse) -> dict[str, datetime]:
    """Each synced object's watermark: its next incremental sync fetches changes from there."""
    return dict(wh.execute(f"select object_name, watermark from {wh.sync_state_table}").fetchall())


def run_tasks(
    tasks: list[SyncTask],
    make_client: Callable[[], Any],
    wh: Warehouse,
    synced_at: datetime,
    progress: SyncProgress,
    workers: int,
) -> None:
    """Fetch `tasks` in threads; load and commit each as its pages arrive, here.

    One object's failure leaves nothing of it staged, lets the others finish and commit, and is
    raised at the end (the first failure, naming its object).
    """
    if not tasks:
        return
    pages: queue.Queue = queue.Queue(maxsize=QUEUE_PAGES)
    stop = threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def fetch(task: SyncTask, stream: Stream) -> None:
        try:
            with make_client() as client:
                for page in stream(client):
                    if stop.is_set():
                        return
                    put((task, page))
            put((task, None))
        except BaseException as exc:  # handed to the writer thread, which raises it
            put((task, exc))

    failures: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crm-fetch") as pool:
        try:
            streams = [(task, stream) for task in tasks for stream in task.streams]
            for task in tasks:
                _begin(wh, task, synced_at)
                progress.started(task.result)
                task.open_streams = len(task.streams)
            for task, stream in streams:
                pool.submit(fetch, task, stream)
            pending = len(streams)
            while pending:
                task, item = pages.get()
                if isinstance(item, Page):
                    if task.failed:  # its other stream broke: nothing of it is committed
                        continue
                    task.result.pages += 1
                    task.result.fetched += item.count
                    task.pages.append(item.text)
                    task.buffered += item.count
                    if task.buffered >= FLUSH_RECORDS:
                        _flush(wh, task)
                    progress.advanced(task.result)
                    continue
                pending -= 1
                if task.failed:
                    continue
                if item is None:
                    task.open_streams -= 1
                    if not task.open_streams:
                        _flush(wh, task)
                        _commit(wh, task, synced_at)
                        progress.finished(task.result)
                else:
                    task.failed = True
                    task.pages = []
                    wh.drop_load_table(_load_table(wh, task))
                    failures.append(_naming(task.name, item))
        finally:
            stop.set()
    if failures:
        # A spent allocation stops every object alike: say it once, plainly, not per object.
        limit = next((f for f in failures if isinstance(f, CrmLimitReached)), None)
        raise limit or failures[0]


def _naming(name: str, exc: BaseException) -> BaseException:
    """The error of one object's sync, saying which object (CrmError keeps its kind)."""
    if isinstance(exc, CrmLimitReached):
        return exc
    if isinstance(exc, CrmError):
        return type(exc)(f"syncing {name}: {exc}")
    return exc


def _load_table(wh: Warehouse, task: SyncTask) -> str:
    return f"{wh.raw}.{LOAD_PREFIX}{task.name}"


def _begin(wh: Warehouse, task: SyncTask, synced_at: datetime) -> None:
    ensure_raw_table(wh, task.name)
    # Shaped as the raw table; rows get this sync's time.
    wh.create_load_table(_load_table(wh, task), synced_at)


def _flush(wh: Warehouse, task: SyncTask) -> None:
    """Stage the buffered pages in one bulk load."""
    if task.pages:
        wh.load_pages(_load_table(wh, task), task.pages, task.shape)
    task.pages, task.buffered = [], 0


def _commit(wh: Warehouse, task: SyncTask, synced_at: datetime) -> None:
    """Bring the staged pages into raw and advance the watermark: in one transaction, or where
    the engine has none (Spark), the records first, so that a kill in between only makes the
    next sync fetch them again."""
    name, result = task.name, task.result
    load_table = _load_table(wh, task)
    with wh.transaction():
        result.records, result.archived_records = wh.merge_load(
            name, load_table, result.mode, synced_at
        )
        wh.upsert(
            "_sync_state",
            SYNC_STATE_COLUMNS,
            {
                "object_name": name,
                "synced_at": synced_at,
                "watermark": task.watermark,
                "mode": result.mode,
                "records": result.records,
                "archived_records": result.archived_records,
            },
        )
        wh.drop_load_table(load_table)
    log.info(
        "%s: %s sync, %d fetched in %d pages, %d in raw (%d archived)",
        name,
        result.mode,
        result.fetched,
        result.pages,
        result.records,
        result.archived_records,
    )


def stored_records(wh: Warehouse, name: str) -> list[dict]:
    """Every record of a raw table, decoded (for the small reference lists)."""
    ensure_raw_table(wh, name)
    return [
        # psycopg2 decodes jsonb itself; DuckDB hands JSON over as text.
        r if isinstance(r, dict) else json.loads(r)
        for (r,) in wh.execute(f"select record from {wh.raw}.{name}").fetchall()
    ]
