"""The Postgres side of the benchmarks: a scratch database holding a copy of a DuckDB raw layer,
and the server's memory and CPU while dbt builds there. Used by dbt_build.py.

The raw layer is generated once, in DuckDB (raw_layer.py), and bulk-copied into Postgres with
COPY (CSV written by DuckDB, read by psycopg2's copy_expert), `record` becoming jsonb as the sync
stores it; a day of changes is copied the same way and merged by id as the sync merges it.
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from pipelines.settings import Settings
from pipelines.warehouse import (
    PostgresWarehouse,
    claim_for_crm,
    ensure_crm_counts_table,
    ensure_raw_schema,
    ensure_raw_table,
    load_quotas,
)

SCHEMA_PREFIX = "crm_kpi_"
DATABASE = "crm_kpi_bench"


def database_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class PostgresSide:
    """The bench database on a Postgres server, and snapshots of it (template databases)."""

    def __init__(self, url: str, scratch: Path):
        self.admin_url = url
        self.url = database_url(url, DATABASE)
        self.scratch = scratch
        with self.admin() as cur:
            cur.execute("show data_directory")
            (data_directory,) = cur.fetchone()
            cur.execute("select version()")
            (self.version,) = cur.fetchone()
        self.postmaster = int(Path(data_directory, "postmaster.pid").read_text().split()[0])

    @contextmanager
    def admin(self):
        con = psycopg2.connect(self.admin_url)
        con.autocommit = True
        try:
            yield con.cursor()
        finally:
            con.close()

    def settings(self) -> dict[str, str]:
        names = (
            "shared_buffers",
            "work_mem",
            "maintenance_work_mem",
            "max_parallel_workers_per_gather",
            "jit",
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "effective_cache_size",
        )
        with self.admin() as cur:
            cur.execute(
                "select name, current_setting(name) from pg_settings where name = any(%s)",
                (list(names),),
            )
            return dict(cur.fetchall())

    def recreate(self, template: str | None = None) -> None:
        """The bench database afresh: empty, or a file copy of `template`."""
        with self.admin() as cur:
            cur.execute(f"drop database if exists {DATABASE} with (force)")
            if template:
                cur.execute(f"create database {DATABASE} template {template} strategy = file_copy")
            else:
                cur.execute(f"create database {DATABASE}")

    def snapshot(self, name: str) -> None:
        """Keep the bench database as it is now under `name`, to start later builds from."""
        with self.admin() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
            cur.execute(f"create database {name} template {DATABASE} strategy = file_copy")

    def drop(self, *names: str) -> None:
        with self.admin() as cur:
            for name in (DATABASE, *names):
                cur.execute(f"drop database if exists {name} with (force)")

    def size_gib(self) -> float:
        with self.admin() as cur:
            cur.execute("select pg_database_size(%s)", (DATABASE,))
            return cur.fetchone()[0] / 2**30

    @contextmanager
    def warehouse(self):
        wh = PostgresWarehouse(self.url, SCHEMA_PREFIX, application_name="crm-kpi-bench")
        try:
            yield wh
        finally:
            wh.close()

    def copy_raw(self, duck, tables: list[str], quotas: Path, where: str | None = None) -> int:
        """Copy DuckDB's raw tables here with COPY; `where`: only those rows, merged by id as the
        sync merges them (a day's changes), else the whole tables. Returns the rows copied."""
        with self.warehouse() as wh:
            ensure_raw_schema(wh)
            ensure_crm_counts_table(wh)
            for table in tables:
                ensure_raw_table(wh, table)
            claim_for_crm(wh, "hubspot")
            load_quotas(wh, quotas)

        def one(table: str) -> int:
            csv = self.scratch / f"{table}.csv"
            selected = f"select * from raw.{table}" + (f" where {where}" if where else "")
            duck.cursor().execute(f"copy ({selected}) to '{csv}' (format csv, header false)")
            with self.warehouse() as wh, csv.open() as file:
                with wh.transaction():
                    cursor = wh.con.cursor()
                    target = f"{wh.raw}.{table}"
                    if where:
                        cursor.execute(f"create temp table batch (like {target}) on commit drop")
                        cursor.copy_expert("copy batch from stdin with (format csv)", file)
                        cursor.execute(f"delete from {target} where id in (select id from batch)")
                        cursor.execute(f"insert into {target} select * from batch")
                    else:
                        cursor.execute(f"truncate {target}")
                        cursor.copy_expert(f"copy {target} from stdin with (format csv)", file)
                    rows = cursor.rowcount
            csv.unlink()
            return rows

        # Two tables at a time: the machine has two cores.
        with ThreadPoolExecutor(2) as pool:
            copied = sum(pool.map(one, sorted(tables, key=lambda t: t != "calls")))
        # The sync's state and watermarks, as DuckDB's.
        state = duck.execute("select * from raw._sync_state").fetchall()
        with self.warehouse() as wh:
            with wh.transaction():
                wh.execute(f"delete from {wh.sync_state_table}")
                for row in state:
                    wh.execute(
                        f"insert into {wh.sync_state_table} values ($a, $b, $c, $d, $e, $f)",
                        dict(zip("abcdef", row, strict=True)),
                    )
            if not where:
                # A settled database (hint bits set, statistics there), as after autovacuum.
                for table in tables:
                    wh.execute(f"vacuum analyze {wh.raw}.{table}")
        return copied

    def dbt_environment(self, data_dir: Path, quotas: Path) -> dict[str, str]:
        settings = Settings(
            _env_file=None,
            CRM_KPI_WAREHOUSE="postgres",
            CRM_KPI_POSTGRES_URL=self.url,
            CRM_KPI_POSTGRES_SCHEMA_PREFIX=SCHEMA_PREFIX,
            CRM_KPI_DATA_DIR=data_dir,
            CRM_KPI_QUOTAS=quotas,
            CRM_KPI_TIMEZONE="America/New_York",
        )
        return settings.dbt_environment() | {"CRM_KPI_AS_OF": ""}

    def temp_bytes(self) -> int:
        """Bytes the bench database's queries spilled to temporary files so far."""
        with self.admin() as cur:
            cur.execute(
                "select coalesce(sum(temp_bytes), 0) from pg_stat_database where datname = %s",
                (DATABASE,),
            )
            return int(cur.fetchone()[0])


class ServerSampler:
    """The Postgres server's memory and CPU while a build runs, sampled from /proc.

    Memory: the sum over the postmaster and its children of PSS (proportional set size: a shared
    page, such as one of shared_buffers, counts once in all, split between the processes that
    touched it), its peak over the samples; beside it, the sum of RSS (counts shared_buffers
    once per process that touched them, so it overstates) and the largest single process's own
    high-water mark (VmHWM, exact for that process even between samples). CPU: user + system
    seconds of the server's processes, the last reading of each (a process that exits between
    two samples loses at most one interval).
    """

    INTERVAL = 0.25

    def __init__(self, postmaster: int):
        self.postmaster = postmaster
        self.peak_pss = self.peak_rss = self.peak_hwm = 0
        self.cpu: dict[int, float] = {}
        self.baseline_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.ticks = os.sysconf("SC_CLK_TCK")

    def processes(self) -> list[int]:
        """The sampled process and the children of `parent()`."""
        pids = [self.postmaster]
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.parent():
                    pids.append(int(entry.name))
        return pids

    def parent(self) -> int:
        return self.postmaster  # its backends

    def sample(self) -> None:
        pss = rss = 0
        for pid in self.processes():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
                if pid not in self.baseline_cpu:  # a process of this build (a backend)
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_hwm = max(self.peak_hwm, int(line.split()[1]))
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self.ticks
            except OSError:
                continue
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self.sample()

    def __enter__(self):
        self.sample()
        self.baseline_cpu = dict(self.cpu)
        # Processes alive now (postmaster, checkpointer, ...) have high-water marks from before
        # the build: the largest process's peak is that of the build's own (its backends).
        self.peak_pss = self.peak_rss = self.peak_hwm = 0
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(s - self.baseline_cpu.get(pid, 0.0) for pid, s in self.cpu.items())

    def summary(self) -> dict[str, float]:
        return {
            "pss_gib": self.peak_pss / 2**20,
            "rss_gib": self.peak_rss / 2**20,
            "backend_hwm_gib": self.peak_hwm / 2**20,
            "cpu": self.cpu_seconds,
        }


def wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg2.connect(url).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
