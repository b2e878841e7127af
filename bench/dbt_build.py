"""Benchmark: `dbt build` of every model on a large portal, full and after a day of changes, on
DuckDB, Postgres and Spark side by side.

Run by hand (not a test):

    .venv/bin/python bench/dbt_build.py [--deals 1000000] [--activities 10000000]
                                        [--rounds 3] [--dir /tmp/crm-kpi-bench] [--keep]
                                        [--warehouse duckdb|postgres|spark|both|all|duckdb,spark]
                                        [--postgres-url URL] [--pg-variant threads=1 ...]
                                        [--spark-thrift HOST:PORT]

`both` is DuckDB and Postgres; `all` adds Spark; a comma-separated list picks any of them.

It writes a raw layer (raw_layer.py: JSON records of the shape the sync stores) straight into a
scratch DuckDB warehouse and, for Postgres, bulk-copies the same rows with COPY into a scratch
database `crm_kpi_bench` on the server of `--postgres-url` (default $CRM_KPI_POSTGRES_URL; a
superuser's, since the benchmark creates databases and reads the server's memory from /proc, so
the server must run on this machine), `record` as jsonb. For Spark (spark_side.py), DuckDB writes
the same rows as the Parquet batch files the sync writes on Spark (one full batch per table), read
as tables by the Spark Thrift Server at `--spark-thrift` (default $CRM_KPI_SPARK_THRIFT or
127.0.0.1:10000, e.g. `make spark-up`'s) in databases `bench_*`. Then it times, in each of
`--rounds` rounds:

1. a full build: the first `dbt build` on that warehouse (every staging table parses all JSON);
2. an incremental build the next day, after 1% of the deals and activities changed (edited,
   archived or new records, re-loaded by the sync with a newer `loaded_at`; copied into Postgres
   and merged by id as the sync merges; on Spark one incremental batch file per table, merged
   by the raw views; Spark's incremental models are rebuilt whole, so there it is a rebuild).

Each round starts the builds from copies of the same warehouses (DuckDB files; Postgres
template databases; on Spark the day-one batch files, the built databases dropped), one right
after the other and engine after engine, so they share the machine's load of the moment; on a
shared machine one build's wall time varies by several seconds. The median of the rounds'
ratios is the figure to compare with the target.

`--pg-variant` adds Postgres builds (full and incremental, from the same copies) with other
settings, e.g. `threads=1` (dbt's threads; the profile's default is 2) or
`work_mem=256MB,jit=off` (any server setting, for dbt's sessions through PGOPTIONS).

For each build: wall time, CPU time (steadier than wall time on a shared machine), peak memory (max
RSS of the dbt process) and the slowest nodes from dbt's JSON events; on Postgres also the
server's CPU and memory (pg_side.ServerSampler: peak PSS summed over the server's processes) and
what its queries spilled to temporary files. On Spark: the driver's and executors' CPU and PSS
(spark_side.ClusterSampler; the Thrift Server is shared, so other sessions' work counts too), and
where the time went: dbt's per-node overhead (nodes, the sum of their times against the wall
time), and from the driver's REST API (spark_side.SparkMonitor, the UI on port 4040) the
build's statements, jobs, stages, executor time, input and shuffle bytes. The builds run `dbt
build` as the pipeline does (dagster-dbt's environment, pipelines/dbt_assets.py's arguments).
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from raw_layer import (  # noqa: E402
    ACTIVITIES,
    CHANGE_SHARE,
    DAY_ONE,
    DAY_TWO,
    RAW_TABLES,
    change_a_day,
    generate_raw,
    write_quotas,
)

from pipelines.warehouse import connect, load_quotas  # noqa: E402

DBT_PROJECT = ROOT / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")
RAW_SNAPSHOT, CHANGED_SNAPSHOT = "crm_kpi_bench_raw", "crm_kpi_bench_changed"
ENGINES = ["duckdb", "postgres", "spark"]
WAREHOUSES = {engine: [engine] for engine in ENGINES} | {"both": ENGINES[:2], "all": ENGINES}
CHANGED_TABLES = ["deals", *ACTIVITIES]
NEWER = f"loaded_at > '{DAY_ONE.isoformat()}'"  # a day's changes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/crm-kpi-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir afterwards")
    parser.add_argument("--rounds", type=int, default=3, metavar="N")
    parser.add_argument(
        "--warehouse",
        default="both",
        help="duckdb, postgres, spark, both (duckdb and postgres), all, or a comma-separated "
        "list (duckdb,spark)",
    )
    parser.add_argument("--postgres-url", default=os.environ.get("CRM_KPI_POSTGRES_URL"))
    parser.add_argument(
        "--spark-thrift", default=os.environ.get("CRM_KPI_SPARK_THRIFT", "127.0.0.1:10000")
    )
    parser.add_argument(
        "--pg-variant",
        action="append",
        default=[],
        metavar="SETTINGS",
        help="extra Postgres builds with these settings: threads=N and/or server settings, "
        "comma-separated (e.g. threads=1 or work_mem=256MB,jit=off)",
    )
    args = parser.parse_args()
    engines = []
    for name in args.warehouse.split(","):
        if name not in WAREHOUSES:
            parser.error(f"--warehouse: {name!r} is none of {', '.join(WAREHOUSES)}")
        engines += [engine for engine in WAREHOUSES[name] if engine not in engines]
    if "postgres" in engines and not args.postgres_url:
        parser.error("Postgres needs --postgres-url or CRM_KPI_POSTGRES_URL")

    data_dir = args.dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    quotas = write_quotas(data_dir)
    started = time.perf_counter()
    warehouse = data_dir / "warehouse.duckdb"
    with connect(warehouse) as con:
        generate_raw(con, args.deals, args.activities, version=0, loaded_at=DAY_ONE)
        load_quotas(con, quotas)  # as the sync step does: dbt reads raw.quotas
    print(
        f"raw layer: {args.deals:,} deals, {args.activities:,} activities generated in "
        f"{time.perf_counter() - started:.0f} s ({size_gib(data_dir):.1f} GiB)"
    )
    print(f"load: {load_average()}")

    pg = None
    if "postgres" in engines:
        from pg_side import PostgresSide

        pg = PostgresSide(args.postgres_url, data_dir)
        print(f"Postgres: {pg.version.split(',')[0]}; {pg.settings()}")
        started = time.perf_counter()
        pg.recreate()
        with connect(warehouse, read_only=True) as con:
            rows = pg.copy_raw(con, RAW_TABLES, quotas)
        print(
            f"raw layer copied into Postgres (COPY, record as jsonb, then vacuum analyze): "
            f"{rows:,} rows in {time.perf_counter() - started:.0f} s ({pg.size_gib():.1f} GiB)"
        )
    spark = None
    if "spark" in engines:
        from spark_side import SparkSide

        spark = SparkSide(args.spark_thrift, data_dir)
        print(f"Spark {spark.version} at {args.spark_thrift}")
        started = time.perf_counter()
        with connect(warehouse, read_only=True) as con:
            rows = spark.load(con, RAW_TABLES, quotas, DAY_ONE)
        print(
            f"raw layer written for Spark (a full Parquet batch per table, by DuckDB): {rows:,} "
            f"rows in {time.perf_counter() - started:.0f} s ({spark.size_gib():.1f} GiB)"
        )
    sides = {"postgres": pg, "spark": spark}
    variants = [parse_variant(v) for v in args.pg_variant]
    snapshots = pg is not None and (args.rounds > 1 or bool(variants))
    if snapshots:
        pg.snapshot(RAW_SNAPSHOT)

    # Round 1's full build makes the warehouse the day's changes land in; later rounds build
    # again from copies of the raw layer and of that changed warehouse.
    raw_copy, changed_copy = data_dir / "raw.duckdb", data_dir / "changed.duckdb"
    shutil.copy(warehouse, raw_copy)
    results: dict[str, list[tuple[dict, dict]]] = {}
    for number in range(1, args.rounds + 1):
        full, incremental = {}, {}
        if number > 1:
            shutil.copy(raw_copy, warehouse)
            if pg:
                pg.recreate(RAW_SNAPSHOT)
            if spark:
                with connect(warehouse, read_only=True) as con:
                    spark.reset(con)
        for engine in engines:
            label = f"round {number}: {engine} full"
            full[engine] = dbt_build(data_dir, engine, sides.get(engine), label)
        if number == 1:
            with connect(warehouse) as con:
                changed = change_a_day(con, args.deals, args.activities)
            print(f"changed {changed:,} raw records ({CHANGE_SHARE:.0%} of deals and activities)")
            shutil.copy(warehouse, changed_copy)
            if pg:
                with connect(warehouse, read_only=True) as con:
                    copied = pg.copy_raw(con, CHANGED_TABLES, quotas, where=NEWER)
                print(f"copied and merged the {copied:,} changed records into Postgres")
                if snapshots:
                    pg.snapshot(CHANGED_SNAPSHOT)
        else:
            shutil.copy(changed_copy, warehouse)
            if pg:
                pg.recreate(CHANGED_SNAPSHOT)
        if spark:
            with connect(warehouse, read_only=True) as con:
                written = spark.apply_changes(con, CHANGED_TABLES, DAY_TWO, NEWER)
            if number == 1:
                print(f"wrote the {written:,} changed records as Spark incremental batches")
        for engine in engines:
            label = f"round {number}: {engine} incremental"
            incremental[engine] = dbt_build(data_dir, engine, sides.get(engine), label)
        for name, variant in variants:
            pg.recreate(RAW_SNAPSHOT)
            label = f"round {number}: {name} full"
            full[name] = dbt_build(data_dir, "postgres", pg, label, variant)
            pg.recreate(CHANGED_SNAPSHOT)
            label = f"round {number}: {name} incremental"
            incremental[name] = dbt_build(data_dir, "postgres", pg, label, variant)
        print(f"\nround {number}, load: {load_average()}")
        for name in full:
            results.setdefault(name, []).append((full[name], incremental[name]))
            f, i = full[name], incremental[name]
            print(
                f"round {number}: {name} incremental / full = {i['wall']:.1f} s / "
                f"{f['wall']:.1f} s = {i['wall'] / f['wall']:.1%} of the wall time, "
                f"{i['cpu']:.1f} s / {f['cpu']:.1f} s = {i['cpu'] / f['cpu']:.1%} of the CPU time"
            )
        if "duckdb" in full:
            for name in full:
                if name != "duckdb":
                    print(
                        f"round {number}: {name} / duckdb wall time: full "
                        f"{full[name]['wall'] / full['duckdb']['wall']:.2f}x, incremental "
                        f"{incremental[name]['wall'] / incremental['duckdb']['wall']:.2f}x"
                    )

    print(f"\nmedians of {args.rounds} round(s):")
    for name, rounds in results.items():
        wall, cpu = (
            statistics.median(i[key] / f[key] for f, i in rounds) for key in ("wall", "cpu")
        )
        print(
            f"{name}: incremental / full {wall:.1%} of the wall time, {cpu:.1%} of the CPU "
            f"time (target < 20%)"
        )
        for kind, index in (("full", 0), ("incremental", 1)):
            builds = [r[index] for r in rounds]
            line = (
                f"  {kind}: {statistics.median(b['wall'] for b in builds):.1f} s wall, dbt "
                f"{statistics.median(b['cpu'] for b in builds):.1f} s CPU, dbt peak "
                f"{max(b['peak_gib'] for b in builds):.2f} GiB"
            )
            if "server" in builds[0] and "temp_gib" in builds[0]:
                server = [b["server"] for b in builds]
                line += (
                    f"; server {statistics.median(s['cpu'] for s in server):.1f} s CPU, peak "
                    f"PSS {max(s['pss_gib'] for s in server):.2f} GiB (RSS sum "
                    f"{max(s['rss_gib'] for s in server):.2f}, largest backend "
                    f"{max(s['backend_hwm_gib'] for s in server):.2f}), spilled "
                    f"{max(b['temp_gib'] for b in builds):.2f} GiB"
                )
            elif "server" in builds[0]:
                server = [b["server"] for b in builds]
                line += (
                    f"; Spark driver + executors {statistics.median(s['cpu'] for s in server):.1f}"
                    f" s CPU, peak PSS {max(s['pss_gib'] for s in server):.2f} GiB"
                )
            if "duckdb" in results and name != "duckdb":
                duck = [r[index] for r in results["duckdb"]]
                ratio = statistics.median(
                    b["wall"] / d["wall"] for b, d in zip(builds, duck, strict=True)
                )
                line += f"; {ratio:.2f}x DuckDB's wall time"
            print(line)
    if pg and not args.keep:
        pg.drop(RAW_SNAPSHOT, CHANGED_SNAPSHOT)
    if spark and not args.keep:
        spark.drop()
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    """`threads=1,work_mem=64MB` as a build's name and its settings."""
    settings = dict(part.split("=", 1) for part in text.split(","))
    return f"postgres[{text}]", settings


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def dbt_build(data_dir: Path, engine: str, side, label: str, variant: dict | None = None) -> dict:
    """Run `dbt build` as the pipeline does; print and return its wall and CPU seconds, peak
    memory and, on Postgres and Spark (`side`: pg_side.PostgresSide or spark_side.SparkSide),
    the server's."""
    env = os.environ | {
        # As dagster-dbt runs dbt: no anonymous usage events, the log as JSON events on stdout.
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_FORMAT": "json",
        "CRM_KPI_DATA_DIR": str(data_dir),
        "CRM_KPI_TIMEZONE": "America/New_York",
        # As in production: "now". A fixed instant per build would make dbt re-parse every model.
        "CRM_KPI_AS_OF": "",
        "CRM_KPI_QUOTAS": str(data_dir / "quotas.csv"),
        "CRM_KPI_WAREHOUSE": "duckdb",
        "CRM_KPI_SCHEMA_PREFIX": "",
    }
    variant = dict(variant or {})
    threads = variant.pop("threads", None)
    if side is not None:
        env |= side.dbt_environment(data_dir, data_dir / "quotas.csv")
        if variant:  # server settings for dbt's sessions (libpq reads PGOPTIONS)
            env["PGOPTIONS"] = " ".join(f"-c {k}={v}" for k, v in variant.items())
    # One per engine (and shared by its builds), so a build parses only what changed.
    target = data_dir / f"target-{engine}"
    command = [
        str(DBT),
        "build",
        "--profiles-dir",
        str(DBT_PROJECT),
        "--project-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target),
        "--log-path",
        str(data_dir / "logs"),
        # As pipelines/dbt_assets.py: no unit tests (fixed rows, ~9 s whatever the data), no
        # JSON artifacts.
        "--exclude-resource-type",
        "unit_test",
        "--no-write-json",
    ]
    if threads:
        command += ["--threads", threads]
    name = label.replace(" ", "_").replace(":", "").replace("[", "_").replace("]", "")
    events = data_dir / "logs" / f"{name.replace(',', '_').replace('=', '-')}.jsonl"
    events.parent.mkdir(exist_ok=True)
    server, spilled, spark = None, 0, None
    if engine == "postgres":
        from pg_side import ServerSampler

        server, spilled = ServerSampler(side.postmaster), side.temp_bytes()
    elif engine == "spark":
        from spark_side import SparkMonitor

        server, spark = side.sampler(), SparkMonitor()
    with contextlib.ExitStack() as measuring:
        for measure in (server, spark):
            if measure:
                measuring.enter_context(measure)
        started = time.perf_counter()
        with events.open("w") as stdout:
            process = subprocess.Popen(command, env=env, cwd=DBT_PROJECT, stdout=stdout)
            returncode, cpu, peak_gib = wait_measured(process)
        elapsed = time.perf_counter() - started
    if returncode:
        raise SystemExit(f"dbt build ({label}) failed with exit code {returncode}; see {events}")
    nodes, dbt_elapsed = node_times(events)
    print(
        f"\n{label} build: {elapsed:.1f} s wall, {cpu:.1f} s CPU, peak memory "
        f"{peak_gib:.1f} GiB (dbt's own count: {dbt_elapsed:.1f} s)"
    )
    result = {"wall": elapsed, "cpu": cpu, "peak_gib": peak_gib, "nodes": nodes}
    if engine == "postgres":
        result["server"] = server.summary()
        result["temp_gib"] = (side.temp_bytes() - spilled) / 2**30
        s = result["server"]
        print(
            f"  Postgres server: {s['cpu']:.1f} s CPU, peak PSS {s['pss_gib']:.2f} GiB "
            f"(RSS sum {s['rss_gib']:.2f} GiB, largest backend {s['backend_hwm_gib']:.2f} GiB), "
            f"spilled {result['temp_gib']:.2f} GiB to temporary files"
        )
    if engine == "spark":
        result |= spark_summary(server, spark, nodes, elapsed, dbt_elapsed)
    by_kind: dict[str, float] = {}
    for unique_id, seconds in nodes.items():
        kind = unique_id.split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0) + seconds
    print("  by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(by_kind.items())))
    for unique_id, seconds in sorted(nodes.items(), key=lambda n: -n[1])[:8]:
        print(f"  {seconds:7.1f} s  {unique_id}")
    return result


def spark_summary(server, monitor, nodes: dict, wall: float, dbt_elapsed: float) -> dict:
    """Print where a Spark build's time went; return the server's and Spark's figures."""
    result = {}
    if server:
        result["server"] = s = server.summary()
        print(
            f"  Spark driver + executors: {s['cpu']:.1f} s CPU, peak PSS {s['pss_gib']:.2f} GiB "
            f"(RSS sum {s['rss_gib']:.2f} GiB; other sessions on the server count too)"
        )
    node_sum = sum(nodes.values())
    print(
        f"  dbt: {len(nodes)} nodes, their times sum to {node_sum:.1f} s "
        f"({node_sum / len(nodes):.2f} s a node) in {dbt_elapsed:.1f} s of running them, "
        f"{wall - dbt_elapsed:.1f} s of the wall time before and after (start-up, parse)"
    )
    spark = monitor.summary() if monitor else None
    if spark:
        result["spark"] = spark
        idle = spark["statements"] - spark["statements_with_jobs"]
        outside = spark["statement_s"] - spark["job_s"]
        print(
            f"  Spark (REST API{', incomplete: the UI dropped some' if spark['incomplete'] else ''}"
            f"): {spark['statements']} statements, {spark['statement_s']:.1f} s in all; "
            f"{idle} ran no job (DDL, metastore: "
            f"{spark['statement_s'] - spark['statements_with_jobs_s']:.1f} s, "
            f"{(spark['statement_s'] - spark['statements_with_jobs_s']) / max(idle, 1):.2f} s "
            f"each); {spark['jobs']} jobs {spark['job_s']:.1f} s, {outside:.1f} s of "
            f"statements outside jobs (planning, metastore, commits)"
        )
        print(
            f"  Spark stages: {spark['stages']} ({spark['skipped_stages']} skipped), "
            f"{spark['tasks']} tasks, executor run {spark['executor_run_s']:.1f} s (CPU "
            f"{spark['executor_cpu_s']:.1f} s, GC {spark['gc_s']:.1f} s), input "
            f"{spark['input_gib']:.2f} GiB, shuffle read {spark['shuffle_read_gib']:.2f} GiB, "
            f"write {spark['shuffle_write_gib']:.2f} GiB, spilled {spark['spilled_gib']:.2f} GiB"
        )
    return result


def node_times(events: Path) -> tuple[dict[str, float], float]:
    """Each node's seconds and the whole build's, from dbt's JSON events (what Dagster reads)."""
    nodes, elapsed = {}, 0.0
    for line in events.read_text().splitlines():
        event = json.loads(line)
        name, data = event["info"]["name"], event["data"]
        if name in ("LogModelResult", "LogTestResult"):
            nodes[data["node_info"]["unique_id"]] = data["execution_time"]
        elif name == "FinishedRunningStats":
            elapsed = data["execution_time"]
    return nodes, elapsed


def size_gib(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**30


def wait_measured(process: subprocess.Popen) -> tuple[int, float, float]:
    """Wait for `process`: its exit code, CPU seconds and peak memory (GiB).

    The peak is the child's own high-water mark (VmHWM), polled. wait4's ru_maxrss would be
    wrong here: Linux carries the parent's high-water mark into a child it spawns (this script
    holds gigabytes after generating the raw layer), so it reported the parent's peak.
    """
    status_file, peak_kib = Path(f"/proc/{process.pid}/status"), 0
    while True:
        try:
            for line in status_file.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak_kib = max(peak_kib, int(line.split()[1]))
        except OSError:  # exiting: the last reading stands
            pass
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_utime + usage.ru_stime, peak_kib / 2**20
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
