"""The Spark side of the benchmarks: the bench's DuckDB raw layer as the Spark raw layer (Parquet
batch files read as tables through the Thrift Server), and what Spark did while dbt built there.
Used by dbt_build.py.

The raw layer takes the shape the sync gives it (pipelines/warehouse.py, SparkWarehouse): each
raw table becomes one full batch file, written by DuckDB straight from the bench warehouse
(`batch-<DAY_ONE>-full.parquet` in `<raw_dir>/_batches_<table>/`), behind the view
`bench_raw.<table>`; a day of changes is one incremental batch file per changed table
(`batch-<DAY_TWO>-incremental.parquet`), which the view merges by id. The small tables
(_sync_state, _crm_counts, _crm, quotas) are written by SparkWarehouse's own methods.

Every database here starts with `bench_` (the Thrift Server's metastore is shared with the
tests, each with its own prefix); only those are dropped.

    .venv/bin/python bench/spark_side.py --insert-vs-files   # issue 16's question, measured

times what the raw layer would cost through the Thrift Server (an `insert into ... values` of one
100-record page) against what it costs as files (DuckDB writes a 5,000-record Parquet file, then
`refresh table`).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pg_side import ServerSampler  # noqa: E402

from pipelines.settings import Settings  # noqa: E402
from pipelines.warehouse import (  # noqa: E402
    SYNC_STATE_COLUMNS,
    SparkWarehouse,
    claim_for_crm,
    ensure_crm_counts_table,
    ensure_raw_schema,
    ensure_raw_table,
    load_quotas,
)

PREFIX = "bench_"
# What dbt builds (a database per folder of models), dropped to start a full build afresh.
BUILT = ("staging", "crm", "intermediate", "marts", "quality")
SPARK_DIR = ROOT / ".spark"  # `make spark-up`'s cluster: its processes' ids
UI = os.environ.get("CRM_KPI_SPARK_UI", "http://127.0.0.1:4040")


@contextmanager
def spark_warehouse(thrift: str, raw_dir: Path):
    wh = SparkWarehouse(thrift, PREFIX, raw_dir)
    try:
        yield wh
    finally:
        wh.close()


def batch_name(synced_at: datetime, mode: str) -> str:
    """A batch's text, as SparkWarehouse.merge_load names its file and fills its `batch`."""
    return f"{synced_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{mode}"


class SparkSide:
    """The bench's databases on the Spark Thrift Server at `thrift`, and its raw files."""

    def __init__(self, thrift: str, scratch: Path):
        self.thrift = thrift
        self.raw_dir = scratch / "spark_raw"
        with self.warehouse() as wh:
            (self.version,) = wh.execute("select version()").fetchone()

    def warehouse(self):
        return spark_warehouse(self.thrift, self.raw_dir)

    def drop(self, names: tuple[str, ...] | None = None) -> None:
        """Drop the bench's databases `names` (without the prefix), or all `bench_*` ones."""
        with self.warehouse() as wh:
            if names is None:
                rows = wh.execute(f"show databases like '{PREFIX}*'").fetchall()
                found = [row[0] for row in rows]
            else:
                found = [f"{PREFIX}{name}" for name in names]
            for database in found:
                assert database.startswith(PREFIX), database
                wh.execute(f"drop database if exists {database} cascade")

    def load(self, duck, tables: list[str], quotas: Path, synced_at: datetime) -> int:
        """The raw layer afresh from DuckDB's `raw.*`: one full batch per table, the sync's
        state, the quotas and the CRM's claim. Returns the rows written."""
        self.drop()
        shutil.rmtree(self.raw_dir, ignore_errors=True)
        with self.warehouse() as wh:
            ensure_raw_schema(wh)
            ensure_crm_counts_table(wh)
            for table in tables:
                ensure_raw_table(wh, table)
            claim_for_crm(wh, "hubspot")
            load_quotas(wh, quotas)
            rows = self._write_batches(wh, duck, tables, batch_name(synced_at, "full"))
            self._write_sync_state(wh, duck)
        return rows

    def apply_changes(self, duck, tables: list[str], synced_at: datetime, where: str) -> int:
        """DuckDB's rows matching `where` (a day's changes) as one incremental batch per table,
        and the sync's state after it. Returns the rows written."""
        with self.warehouse() as wh:
            rows = self._write_batches(
                wh, duck, tables, batch_name(synced_at, "incremental"), where
            )
            self._write_sync_state(wh, duck)
        return rows

    def reset(self, duck) -> None:
        """Back to the raw layer of day one (DuckDB's state, `duck`), nothing built: a full
        build starts from scratch again."""
        self.drop(BUILT)
        with self.warehouse() as wh:
            for folder in self.raw_dir.glob("_batches_*"):
                for file in folder.glob("batch-*-incremental.parquet"):
                    file.unlink()
                wh.execute(f"refresh table {wh.raw}.{folder.name}")
            self._write_sync_state(wh, duck)

    def _write_batches(self, wh, duck, tables, batch: str, where: str | None = None) -> int:
        rows = 0
        for table in tables:
            file = self.raw_dir / f"_batches_{table}" / f"batch-{batch}.parquet"
            selected = f"select *, '{batch}' as batch from raw.{table}"
            if where:
                selected += f" where {where}"
            (written,) = duck.execute(f"copy ({selected}) to '{file}' (format parquet)").fetchone()
            rows += written
            wh.execute(f"refresh table {wh.raw}._batches_{table}")
        return rows

    @staticmethod
    def _write_sync_state(wh, duck) -> None:
        names = [column for column, _ in SYNC_STATE_COLUMNS]
        for row in duck.execute("select * from raw._sync_state").fetchall():
            wh.upsert("_sync_state", SYNC_STATE_COLUMNS, dict(zip(names, row, strict=True)))

    def size_gib(self) -> float:
        return sum(p.stat().st_size for p in self.raw_dir.rglob("*.parquet")) / 2**30

    def dbt_environment(self, data_dir: Path, quotas: Path) -> dict[str, str]:
        settings = Settings(
            _env_file=None,
            CRM_KPI_WAREHOUSE="spark",
            CRM_KPI_SPARK_THRIFT=self.thrift,
            CRM_KPI_SPARK_DATABASE_PREFIX=PREFIX,
            CRM_KPI_SPARK_RAW_DIR=self.raw_dir,
            CRM_KPI_DATA_DIR=data_dir,
            CRM_KPI_QUOTAS=quotas,
            CRM_KPI_TIMEZONE="America/New_York",
        )
        return settings.dbt_environment() | {"CRM_KPI_AS_OF": ""}

    def sampler(self) -> "ClusterSampler | None":
        """The Thrift Server's driver and the worker's executors, if `make spark-up` started
        them on this machine."""
        try:
            driver, worker = (
                int((SPARK_DIR / f"{n}.pid").read_text()) for n in ("thrift", "worker")
            )
        except OSError:
            return None
        return ClusterSampler(driver, worker)


class ClusterSampler(ServerSampler):
    """pg_side.ServerSampler over Spark's processes: the driver (the Thrift Server, where
    statements are planned and the metastore is) and the executors the worker spawned. Both
    outlive a build, so the largest process's high-water mark says nothing about it; and the
    tests sharing the server add their own load."""

    def __init__(self, driver: int, worker: int):
        super().__init__(driver)
        self.worker = worker

    def parent(self) -> int:
        return self.worker  # the executors


class SparkMonitor:
    """What the Thrift Server's driver did for the statements mentioning `bench_`, from Spark's
    REST API (the UI's port), polled while a build runs: the UI keeps only the last 1,000 jobs,
    stages and SQL executions, and other sessions share the server.

    Statements (root SQL executions: every statement, DDL and metastore calls included; a
    `create table ... as` runs its query as a child execution) and their durations; jobs and
    their durations (a statement that reads data runs one or more); stages: tasks, executor run
    and CPU time, input (as Spark reports it: next to nothing for these Parquet scans), shuffle
    read and write, spills.
    """

    INTERVAL = 5.0

    def __init__(self, marker: str = PREFIX, ui: str = UI):
        self.marker = marker
        self.ui = ui
        self.app = None
        self.sql: dict[int, dict] = {}
        self.jobs: dict[int, dict] = {}
        self.stages: dict[tuple[int, int], dict] = {}
        self.before = (-1, -1, -1)  # the largest ids seen before the build
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _get(self, path: str):
        with urllib.request.urlopen(f"{self.ui}/api/v1/applications{path}", timeout=10) as r:
            return json.load(r)

    def _poll(self) -> None:
        base = f"/{self.app}"
        retained = "length=1000"  # spark.sql.ui.retainedExecutions's default
        for execution in self._get(f"{base}/sql?details=false&planDescription=false&{retained}"):
            self.sql[execution["id"]] = execution
        for job in self._get(f"{base}/jobs"):
            self.jobs[job["jobId"]] = job
        for stage in self._get(f"{base}/stages"):
            self.stages[stage["stageId"], stage["attemptId"]] = stage

    def _run(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            try:
                self._poll()
            except OSError:
                pass

    def __enter__(self):
        try:
            (app,) = self._get("")
            self.app = app["id"]
            self._poll()
        except (OSError, ValueError):
            self.app = None  # no UI: no summary
            return self
        self.before = (
            max(self.sql, default=-1),
            max(self.jobs, default=-1),
            max((s for s, _ in self.stages), default=-1),
        )
        self.sql.clear()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.app is None:
            return
        self._stop.set()
        self._thread.join()
        time.sleep(1)  # the listener bus reports a finished job a moment later
        self._poll()

    def summary(self) -> dict | None:
        if self.app is None:
            return None
        executions = [e for i, e in self.sql.items() if i > self.before[0] and self._ours(e)]
        jobs = [j for i, j in self.jobs.items() if i > self.before[1] and self._ours(j)]
        stage_ids = {s for j in jobs for s in j["stageIds"]}
        stages = [s for (i, _), s in self.stages.items() if i in stage_ids]
        # A statement is a root execution; a command (create table ... as) runs its query as a
        # child execution, whose jobs count as the statement's.
        has_jobs = {
            e.get("rootExecutionId", e["id"])
            for e in executions
            if e["successJobIds"] or e["failedJobIds"] or e["runningJobIds"]
        }
        sql = [e for e in executions if e.get("rootExecutionId", e["id"]) == e["id"]]
        with_jobs = [e for e in sql if e["id"] in has_jobs]

        def seconds(job: dict) -> float:
            if "completionTime" not in job or "submissionTime" not in job:
                return 0.0
            return (
                _instant(job["completionTime"]) - _instant(job["submissionTime"])
            ).total_seconds()

        return {
            "statements": len(sql),
            "statement_s": sum(e["duration"] for e in sql) / 1000,
            "statements_with_jobs": len(with_jobs),
            "statements_with_jobs_s": sum(e["duration"] for e in with_jobs) / 1000,
            "jobs": len(jobs),
            "job_s": sum(seconds(j) for j in jobs),
            "stages": len(stages),
            "skipped_stages": sum(1 for s in stages if s["status"] == "SKIPPED"),
            "tasks": sum(s["numCompleteTasks"] for s in stages),
            "executor_run_s": sum(s["executorRunTime"] for s in stages) / 1000,
            "executor_cpu_s": sum(s["executorCpuTime"] for s in stages) / 1e9,
            "gc_s": sum(s["jvmGcTime"] for s in stages) / 1000,
            "input_gib": sum(s["inputBytes"] for s in stages) / 2**30,
            "shuffle_read_gib": sum(s["shuffleReadBytes"] for s in stages) / 2**30,
            "shuffle_write_gib": sum(s["shuffleWriteBytes"] for s in stages) / 2**30,
            "spilled_gib": sum(s["diskBytesSpilled"] for s in stages) / 2**30,
            # The UI dropped the build's first statements or jobs before a poll saw them.
            "incomplete": any(
                min((i for i in seen if i > before), default=before + 1) > before + 1
                for seen, before in ((self.sql, self.before[0]), (self.jobs, self.before[1]))
            ),
        }

    def _ours(self, item: dict) -> bool:
        return self.marker in (item.get("description") or "")


def _instant(text: str) -> datetime:
    return datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")


def insert_vs_files(thrift: str, scratch: Path, pages: int = 5) -> None:
    """Issue 16: a page of 100 deals (the bench's records, raw_layer.py) inserted through the
    Thrift Server with `insert into ... values`, against 5,000 deals written by DuckDB as a
    Parquet file plus `refresh table`, as SparkWarehouse commits a batch."""
    from raw_layer import DAY_ONE, generate_raw

    from pipelines.warehouse import connect

    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    database = f"{PREFIX}insert"
    with connect(scratch / "records.duckdb") as duck:
        generate_raw(duck, 5000, 0, version=0, loaded_at=DAY_ONE)
        (size,) = duck.execute("select avg(length(record::varchar)) from raw.deals").fetchone()
        page = duck.execute("select * from raw.deals order by id limit 100").fetchall()
        with spark_warehouse(thrift, scratch) as wh:
            wh.execute(f"drop database if exists {database} cascade")
            wh.execute(f"create database {database}")
            columns = "id string, updated_at timestamp, archived boolean, record string, "
            columns += "loaded_at timestamp, batch string"
            wh.execute(f"create table {database}.inserted ({columns}) using parquet")
            folder = scratch / "files"
            folder.mkdir()
            wh.execute(
                f"create table {database}.files ({columns}) using parquet "
                f"location '{folder.as_uri()}'"
            )

            def text(value: str) -> str:
                return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

            def instant(value: datetime) -> str:
                return f"timestamp '{value.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}'"

            values = ", ".join(
                f"({text(i)}, {instant(u)}, {str(a).lower()}, {text(r)}, {instant(lo)}, 'b')"
                for i, u, a, r, lo in page
            )
            inserts = []
            for _ in range(pages):
                started = time.perf_counter()
                wh.execute(f"insert into {database}.inserted values {values}")
                inserts.append(time.perf_counter() - started)
            writes = []
            for number in range(pages):
                started = time.perf_counter()
                duck.execute(
                    f"copy (select *, 'b' as batch from raw.deals) "
                    f"to '{folder}/batch-{number}.parquet' (format parquet)"
                )
                wrote = time.perf_counter() - started
                wh.execute(f"refresh table {database}.files")
                writes.append((wrote, time.perf_counter() - started))
            (inserted,) = wh.execute(f"select count(*) from {database}.inserted").fetchone()
            (filed,) = wh.execute(f"select count(*) from {database}.files").fetchone()
            wh.execute(f"drop database {database} cascade")
    per_insert = statistics.median(inserts)
    per_file = statistics.median(total for _, total in writes)
    print(f"records: deals of {size:,.0f} characters of JSON on average")
    print(
        f"Thrift insert of a 100-record page: {', '.join(f'{s:.2f}' for s in inserts)} s "
        f"(median {per_insert:.2f} s: {per_insert * 10:.1f} s per 1,000 records; "
        f"{inserted:,} rows)"
    )
    print(
        "DuckDB Parquet file of 5,000 records + refresh table: "
        + ", ".join(f"{w:.3f} + {t - w:.3f}" for w, t in writes)
        + f" s (median {per_file:.3f} s: {per_file / 5:.3f} s per 1,000 records; "
        f"{filed:,} rows)"
    )
    print(
        f"per record: insert {per_insert / 100 * 1000:.2f} ms, file "
        f"{per_file / 5000 * 1000:.4f} ms: the insert {per_insert / 100 / (per_file / 5000):,.0f}x "
        f"slower; a 1,000,000-record full sync's commits: {per_insert * 10_000 / 60:.0f} min "
        f"of inserts against {per_file * 200:.1f} s of files"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--insert-vs-files", action="store_true", required=True)
    parser.add_argument(
        "--spark-thrift", default=os.environ.get("CRM_KPI_SPARK_THRIFT", "127.0.0.1:10000")
    )
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/crm-kpi-bench-insert"))
    args = parser.parse_args()
    insert_vs_files(args.spark_thrift, args.dir.resolve(), args.pages)
    shutil.rmtree(args.dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
