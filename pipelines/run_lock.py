"""One run at a time per warehouse, whoever starts it: `crm-kpi`, the UI or the daemon's schedules.

DuckDB takes one writing process; and on any warehouse a run's checks must gate the marts that
same run built, so a second run must not rebuild them between the first one's checks and its
publication. Every asset and quality check of the code location requires the `warehouse_lock`
resource (definitions.py). With the in-process executor a run initializes its resources once,
before its first step, and tears them down after its last: the lock is held for the whole run.

With an executor whose steps run in other processes (CRM_KPI_EXECUTOR=celery), each step
initializes the resources it needs itself, so the resource alone would hold the warehouse
step by step, and another run could build between this run's checks and its publication. So
the executor is wrapped (HoldingTheWarehouse): the run's own process, which orchestrates the
steps, holds the warehouse from before its first step to after its last, and a step that finds
the warehouse held by its own run goes ahead without taking it (the lock names its holder's
run id). Two steps of one run may then run at once; Dagster orders those that depend on each
other (publication waits for every blocking check). The service's run queue
(docs/service/dagster.yaml, max_concurrent_runs 1) keeps a second run from even starting to
wait; the lock is what guarantees it, for runs from anywhere.

- CRM_KPI_WAREHOUSE=duckdb: an exclusive flock on `.run.lock` in the data directory; the holder
  writes its run id (job, pid, host, since when) into the file, and the kernel frees the lock
  when the holding process dies.
- CRM_KPI_WAREHOUSE=spark: the same flock, on `.run.lock` in the raw files' folder
  (CRM_KPI_SPARK_RAW_DIR), which every writer of that warehouse shares.
- CRM_KPI_WAREHOUSE=postgres: a session advisory lock on a connection of its own to
  CRM_KPI_POSTGRES_URL, keyed by the schema prefix (one warehouse per prefix); the holder's run
  id is the connection's application_name (`pg_stat_activity`), and Postgres frees the lock
  when the session ends.

A run that finds the lock held logs who holds it, waits, and fails after WAIT_LIMIT_SECONDS.
"""

import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster import ConfigurableResource, Executor, InitResourceContext, success_hook

from .settings import Settings, load_settings

LOCK_RESOURCE = "warehouse_lock"
LOCK_FILE = ".run.lock"
# Long enough to outlast a full refresh of a large CRM (HubSpot serves about 19,000 records a
# minute at 190 requests per 10 s: a million records is some 10 minutes of fetching, then the
# build), short enough that an hourly schedule never queues a second waiter behind a stuck run.
# Read when a run starts waiting, so tests can shorten it.
WAIT_LIMIT_SECONDS = 45 * 60
POLL_SECONDS = 1.0  # how often a waiting run tries the lock again
REPORT_EVERY_SECONDS = 60.0  # how often a waiting run says again who holds it


class WarehouseBusy(Exception):
    """Another run held the warehouse for longer than a run waits."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    job: str
    pid: int
    host: str
    since: str  # ISO instant, UTC

    @classmethod
    def this_process(cls, run_id: str, job: str) -> "Holder":
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        return cls(run_id, job, os.getpid(), socket.gethostname(), now)

    def describe(self) -> str:
        return f"run {self.run_id} ({self.job}, pid {self.pid} on {self.host}, since {self.since})"


class _FileLock:
    """flock on a file in the data directory; the holder's description is the file's content."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / LOCK_FILE
        self.where = str(self.path)
        self._file = None

    def try_acquire(self, holder: Holder) -> bool:
        file = self.path.open("a+")  # never truncate before holding it: the holder wrote it
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            return False
        file.seek(0)
        file.truncate()
        file.write(json.dumps(asdict(holder)) + "\n")
        file.flush()
        self._file = file
        return True

    def holder(self) -> str:
        holder = self._holder()
        return holder.describe() if holder else "a run that has not said which (it may be starting)"

    def held_by_run(self, run_id: str) -> bool:
        holder = self._holder()
        return holder is not None and holder.run_id == run_id

    def _holder(self) -> Holder | None:
        try:
            return Holder(**json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing releases the flock
            self._file = None


class _PostgresLock:
    """A session advisory lock on a connection of its own to the Postgres warehouse."""

    def __init__(self, settings: Settings):
        self._url = settings.postgres_connection_url()
        # One warehouse per schema prefix in a database: its name keys the lock.
        digest = hashlib.sha256(f"crm-kpi run {settings.postgres_schema_prefix}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self.where = f"advisory lock {self.key} (schema prefix {settings.postgres_schema_prefix!r})"
        self._conn = None
        self._held = False

    def try_acquire(self, holder: Holder) -> bool:
        import psycopg2

        if self._conn is None:
            self._conn = psycopg2.connect(
                self._url,
                # pg_stat_activity shows who holds the lock: the run id (63 characters at most).
                application_name=_session_name(holder.run_id),
                connect_timeout=10,
                # A run outlives idle connections behind NATs: keep the session (and lock) alive.
                keepalives=1,
                keepalives_idle=60,
            )
            self._conn.autocommit = True
        with self._conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", (self.key,))
            self._held = cur.fetchone()[0]
        return self._held

    def holder(self) -> str:
        row = self._holder()
        if row is None:
            return "a run that just finished"
        name, pid, client, since = row
        run = name.removeprefix(_SESSION_PREFIX) if name else "of another user"
        since = since.replace(microsecond=0).isoformat() if since else "?"
        return f"run {run} (server pid {pid}, from {client or 'a local socket'}, since {since})"

    def held_by_run(self, run_id: str) -> bool:
        row = self._holder()
        return row is not None and row[0] == _session_name(run_id)

    def _holder(self) -> tuple | None:
        with self._conn.cursor() as cur:
            cur.execute(
                """
                select a.application_name, l.pid, a.client_addr, a.backend_start
                from pg_locks l left join pg_stat_activity a on a.pid = l.pid
                where l.locktype = 'advisory' and l.granted and l.objsubid = 1
                    and l.classid::bigint = %s and l.objid::bigint = %s
                """,
                ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF),
            )
            return cur.fetchone()

    def release(self) -> None:
        if self._conn is not None:
            try:
                if self._held:
                    with self._conn.cursor() as cur:
                        cur.execute("select pg_advisory_unlock(%s)", (self.key,))
            finally:
                self._conn.close()  # ending the session frees the lock in any case
                self._conn = None
                self._held = False


_SESSION_PREFIX = "crm-kpi run "


def _session_name(run_id: str) -> str:
    return f"{_SESSION_PREFIX}{run_id}"[:63]  # Postgres keeps 63 characters (a run id is 36)


def _lock_for(settings: Settings):
    if settings.warehouse == "postgres":
        return _PostgresLock(settings)
    if settings.warehouse == "spark":  # Spark has no locks: the folder every writer shares
        return _FileLock(settings.raw_files_dir)
    return _FileLock(settings.data_dir.resolve())


@contextmanager
def hold_warehouse(
    settings: Settings, run_id: str, job: str, log: Callable[[str], None]
) -> Iterator[None]:
    """Hold the warehouse of `settings` exclusively; wait for another run, and fail after
    WAIT_LIMIT_SECONDS with WarehouseBusy.

    When another process of run `run_id` holds it (the run's own process, while this is one of
    its steps in a worker), go ahead without taking it: it is held for this run already.
    """
    lock = _lock_for(settings)
    holder = Holder.this_process(run_id, job)
    limit = WAIT_LIMIT_SECONDS
    started = time.monotonic()
    reported_at, reported = float("-inf"), None
    try:
        while not lock.try_acquire(holder):
            if lock.held_by_run(run_id):
                break
            other = lock.holder()
            waited = time.monotonic() - started
            if waited >= limit:
                raise WarehouseBusy(
                    f"the warehouse is busy: {other} holds {lock.where}; gave up after "
                    f"{_duration(waited)}. Let that run finish (or end it), then run again"
                )
            if other != reported or time.monotonic() - reported_at >= REPORT_EVERY_SECONDS:
                log(
                    f"waiting for the warehouse: {other} holds {lock.where}; waiting up to "
                    f"{_duration(limit)} ({_duration(waited)} so far)"
                )
                reported_at, reported = time.monotonic(), other
            time.sleep(POLL_SECONDS)
        if reported is not None:
            log(f"got the warehouse after waiting {_duration(time.monotonic() - started)}")
        yield
    finally:
        lock.release()


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


class WarehouseLock(ConfigurableResource):
    """Holds the warehouse for the whole run: no two runs of one warehouse overlap."""

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator["WarehouseLock"]:
        run = context.dagster_run
        with hold_warehouse(
            load_settings(),
            run_id=context.run_id or "without a run id",
            job=run.job_name if run else "?",
            log=context.log.warning if context.log else print,
        ):
            yield self


class HoldingTheWarehouse(Executor):
    """An executor whose steps run in other processes (Celery workers), made to hold the
    warehouse in the run's own process from before the first step to after the last; the
    steps' `warehouse_lock` resources then find it held by their run and go ahead."""

    def __init__(self, inner: Executor):
        self._inner = inner

    def execute(self, plan_context, execution_plan):
        with hold_warehouse(
            load_settings(),
            run_id=plan_context.run_id,
            job=plan_context.job_name,
            log=plan_context.log.warning,
        ):
            yield from self._inner.execute(plan_context, execution_plan)

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def __getattr__(self, name: str):
        # What the wrapped executor's own machinery asks of it (Celery's app_args, say).
        return getattr(self._inner, name)


# Assets and checks are defined elsewhere; this hook makes each of them require the lock (a
# step's hooks' resources are the run's too), so any run of any of them holds it. It does nothing.
@success_hook(name="holds_the_warehouse", required_resource_keys={LOCK_RESOURCE})
def holds_the_warehouse(_context) -> None:
    return None
