"""Copy CRM objects into the raw layer: whole on the first run, then only what changed.

Objects, and an object's live and archived records, are fetched in parallel threads (sharing one
request budget) while the calling thread writes: DuckDB takes one writer, and fetching and loading
overlap. Each object's pages are staged in a load table and reach `raw` in one transaction together
with the object's new watermark, so a process killed at any instant leaves raw and its watermark as
the last commit left them: the next run fetches the same changes again and the merge by id makes
that harmless.
"""

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import duckdb

from ..warehouse import RAW_SCHEMA, SYNC_STATE_TABLE, ensure_raw_schema, ensure_raw_table
from .client import CrmError, HubSpotClient
from .fetch import Page, all_records, changed_records
from .objects import DEAL_PIPELINES, DEALS, REFERENCE_OBJECTS, CrmObject, stage_history_properties

log = logging.getLogger(__name__)

LOAD_SCHEMA = "_loading"
# HubSpot's search index trails writes by seconds; each run re-reads this much before the last
# run's start, so a change indexed late is still picked up. The merge drops the repeats.
SEARCH_LAG_MARGIN = timedelta(minutes=5)
FLUSH_RECORDS = 5_000  # records buffered per object before one bulk insert
QUEUE_PAGES = 16  # pages in flight between fetchers and the writer: bounds memory
# DuckDB keeps every block it writes cached until memory runs short (by default 80% of RAM), so
# uncapped, the sync's memory grows with the portal; capped, DuckDB evicts and spills to disk.
SYNC_MEMORY_LIMIT = "256MB"


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


@dataclass
class _Task:
    obj: CrmObject
    properties: tuple[str, ...]
    since: datetime | None  # None: fetch everything
    result: ObjectSync = field(init=False)
    pages: list[str] = field(default_factory=list)  # page texts waiting for one bulk insert
    buffered: int = 0  # records in them
    open_streams: int = 0
    failed: bool = False

    def __post_init__(self) -> None:
        mode = "full" if self.since is None else "incremental"
        self.result = ObjectSync(self.obj.name, mode, self.since)

    def streams(self) -> list[Callable[[HubSpotClient], Iterator[Page]]]:
        """Independent page streams, fetched in parallel into the same load table: arrival order
        does not matter, since the merge keeps the newest version of each record."""
        obj, properties = self.obj, self.properties
        if self.since is None:
            streams = [lambda client: all_records(client, obj, properties, archived=False)]
        else:
            since = self.since
            streams = [lambda client: changed_records(client, obj, properties, since)]
        if obj.lists_archived:
            # Search never returns archived records: the archived listing carries the deletions.
            streams.append(lambda client: all_records(client, obj, properties, archived=True))
        return streams


class SyncProgress:
    """Told about each object's progress; the default says nothing."""

    def started(self, sync: ObjectSync) -> None: ...
    def advanced(self, sync: ObjectSync) -> None: ...
    def finished(self, sync: ObjectSync) -> None: ...


def sync_crm(
    make_client: Callable[[], HubSpotClient],
    con: duckdb.DuckDBPyConnection,
    objects: list[CrmObject],
    synced_at: datetime,
    full_refresh: bool = False,
    extra_properties: dict[str, list[str]] | None = None,
    progress: SyncProgress | None = None,
    workers: int = 4,
) -> list[ObjectSync]:
    """Bring `raw.<object>` up to date with the CRM for each of `objects`.

    Args:
        make_client: a new client per fetching thread (sessions are not shared across threads).
        synced_at: when this sync started; the next one re-reads changes from shortly before it.
        full_refresh: fetch everything even where a watermark allows an incremental sync.
        extra_properties: custom properties to fetch, per object name.
    """
    (memory_limit,) = con.execute("select current_setting('memory_limit')").fetchone()
    con.execute(f"set memory_limit = '{SYNC_MEMORY_LIMIT}'")
    try:
        return _sync(
            make_client, con, objects, synced_at, full_refresh, extra_properties, progress, workers
        )
    finally:
        con.execute(f"set memory_limit = '{memory_limit}'")


def _sync(
    make_client, con, objects, synced_at, full_refresh, extra_properties, progress, workers
) -> list[ObjectSync]:
    ensure_raw_schema(con)
    progress = progress or SyncProgress()
    extra = extra_properties or {}
    watermarks = dict(
        con.execute(f"select object_name, watermark from {SYNC_STATE_TABLE}").fetchall()
    )

    def task(obj: CrmObject) -> _Task:
        properties = obj.properties + tuple(extra.get(obj.name, ()))
        if obj == DEALS:  # stage history, named after the stage ids the pipelines just told us
            properties += stage_history_properties(_stored_records(con, DEAL_PIPELINES))
        incremental = obj.searchable and not full_refresh and watermarks.get(obj.name)
        return _Task(
            obj, tuple(dict.fromkeys(properties)), watermarks.get(obj.name) if incremental else None
        )

    # Reference lists first: deals need the pipelines' stage ids.
    first = [o for o in objects if o in REFERENCE_OBJECTS]
    rest = [o for o in objects if o not in REFERENCE_OBJECTS]
    results = []
    for batch in (first, rest):
        tasks = [task(o) for o in batch]
        _run(tasks, make_client, con, synced_at, progress, workers)
        results += [t.result for t in tasks]
    return results


def _run(tasks, make_client, con, synced_at, progress, workers) -> None:
    """Fetch `tasks` in threads; load and commit each as its pages arrive, here."""
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

    def fetch(task: _Task, stream: Callable[[HubSpotClient], Iterator[Page]]) -> None:
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
            streams = [(task, stream) for task in tasks for stream in task.streams()]
            for task in tasks:
                _begin(con, task)
                progress.started(task.result)
                task.open_streams = sum(1 for t, _ in streams if t is task)
            for task, stream in streams:
                pool.submit(fetch, task, stream)
            pending = len(streams)
            while pending:
                task, item = pages.get()
                if isinstance(item, Page):
                    if task.failed:  # its other stream broke: nothing of it is committed
                        continue
                    task.result.pages += 1
                    task.result.fetched += len(item.records)
                    task.pages.append(item.text)
                    task.buffered += len(item.records)
                    if task.buffered >= FLUSH_RECORDS:
                        _flush(con, task)
                    progress.advanced(task.result)
                    continue
                pending -= 1
                if task.failed:
                    continue
                if item is None:
                    task.open_streams -= 1
                    if not task.open_streams:
                        _flush(con, task)
                        _commit(con, task, synced_at)
                        progress.finished(task.result)
                else:
                    task.failed = True
                    task.pages = []
                    con.execute(f"drop table if exists {LOAD_SCHEMA}.{task.obj.name}")
                    failures.append(_naming(task.obj, item))
        finally:
            stop.set()
    if failures:
        raise failures[0]


def _naming(obj: CrmObject, exc: BaseException) -> BaseException:
    """The error of one object's sync, saying which object (CrmError keeps its kind)."""
    if isinstance(exc, CrmError):
        return type(exc)(f"syncing {obj.name}: {exc}")
    return exc


def _begin(con: duckdb.DuckDBPyConnection, task: _Task) -> None:
    ensure_raw_table(con, task.obj.name)
    con.execute(f"create schema if not exists {LOAD_SCHEMA}")
    con.execute(
        f"create or replace table {LOAD_SCHEMA}.{task.obj.name} "
        "(id varchar, changed_at varchar, archived boolean, record json)"
    )


def _flush(con: duckdb.DuckDBPyConnection, task: _Task) -> None:
    """Stage the buffered pages: DuckDB splits them into records, parsing each once."""
    if not task.pages:
        return
    con.execute(
        f"""
        insert into {LOAD_SCHEMA}.{task.obj.name}
        select
            field[1],
            -- An archived record's archivedAt can be later than its updatedAt: the later wins.
            nullif(greatest(coalesce(field[2], ''), coalesce(field[3], '')), ''),
            coalesce(field[4]::boolean, false),
            record
        from (
            select
                record,
                json_extract_string(
                    record, ['$.id', '$.updatedAt', '$.archivedAt', '$.archived']
                ) as field
            from (
                select unnest(from_json(page, '{{"results": ["json"]}}').results) as record
                from (select unnest($pages::varchar[]) as page)
            )
        )
        """,
        {"pages": task.pages},
    )
    task.pages, task.buffered = [], 0


def _commit(con: duckdb.DuckDBPyConnection, task: _Task, synced_at: datetime) -> None:
    """Merge the staged pages into raw and advance the watermark, in one transaction."""
    name, result = task.obj.name, task.result
    raw_table, load_table = f"{RAW_SCHEMA}.{name}", f"{LOAD_SCHEMA}.{name}"
    # A record can arrive twice (changed while we paged, or live and then archived): keep the
    # newest version, and an incoming version only if it is not older than the stored one.
    newest = f"""
        select id, changed_at::timestamptz as updated_at, archived, record
        from {load_table}
        qualify row_number() over (
            partition by id order by changed_at::timestamptz desc nulls last, archived desc
        ) = 1
    """
    con.begin()
    try:
        if result.mode == "full":
            con.execute(f"delete from {raw_table}")
            con.execute(f"insert into {raw_table} select *, $at from ({newest})", {"at": synced_at})
        else:
            accepted = f"{LOAD_SCHEMA}.{name}_accepted"
            con.execute(
                f"""
                create table {accepted} as
                select incoming.*, $at as loaded_at
                from ({newest}) as incoming
                left join {raw_table} as stored using (id)
                where stored.id is null or incoming.updated_at >= stored.updated_at
                """,
                {"at": synced_at},
            )
            con.execute(f"delete from {raw_table} where id in (select id from {accepted})")
            con.execute(f"insert into {raw_table} select * from {accepted}")
            con.execute(f"drop table {accepted}")
        result.records, result.archived_records = con.execute(
            f"select count(*), count(*) filter (archived) from {raw_table}"
        ).fetchone()
        con.execute(
            f"insert or replace into {SYNC_STATE_TABLE} "
            "values ($name, $synced_at, $watermark, $mode, $records, $archived)",
            {
                "name": name,
                "synced_at": synced_at,
                "watermark": synced_at - SEARCH_LAG_MARGIN,
                "mode": result.mode,
                "records": result.records,
                "archived": result.archived_records,
            },
        )
        con.execute(f"drop table {load_table}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    log.info(
        "%s: %s sync, %d fetched in %d pages, %d in raw (%d archived)",
        name,
        result.mode,
        result.fetched,
        result.pages,
        result.records,
        result.archived_records,
    )


def _stored_records(con: duckdb.DuckDBPyConnection, obj: CrmObject) -> list[dict]:
    ensure_raw_table(con, obj.name)
    return [
        json.loads(r)
        for (r,) in con.execute(f"select record from {RAW_SCHEMA}.{obj.name}").fetchall()
    ]
