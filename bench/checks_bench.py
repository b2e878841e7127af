"""Benchmark: the quality checks' share of a run, and their peak memory, on a large portal.

Run by hand (not a test):

    .venv/bin/python bench/checks_bench.py [--deals 25000] [--activities 225000]
                                           [--dir /tmp/crm-kpi-checks-bench] [--keep]

Writes the raw layer straight into a scratch warehouse with bench/dbt_build.py's generator (plus
the sync state and the CRM's live counts a sync leaves), builds it with `dbt build` as a run does,
then runs every Great Expectations suite exactly as its Dagster asset check does (DuckDB query,
GX validation, Data Docs page), then publishes. Checks and publishing run in a child process of
their own, so that its peak memory (the child's own high-water mark) is theirs alone; it
includes the Python, pandas and GX baseline (~0.3 GiB before any row is read).

The run's time here is dbt build + checks + publish: the sync is left out (it depends on the CRM's
rate limits, minutes to hours at this size), so the share printed is an upper bound.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbt_build import (  # noqa: E402
    dbt_build,
    generate_raw,
    size_gib,
    wait_measured,
    write_quotas,
)

from pipelines.hubspot.objects import CRM_OBJECTS  # noqa: E402
from pipelines.hubspot.reconcile import CRM_COUNTS_TABLE, ensure_crm_counts_table  # noqa: E402
from pipelines.warehouse import SYNC_STATE_TABLE, ensure_raw_schema  # noqa: E402

TIMEZONE = "America/New_York"

# The child: every suite as its asset check runs it, then the publication.
CHECKS = """
import json, sys, time
from pathlib import Path
from pipelines.checks import (
    check_parameters, fetch_rows, load_suites, validate_suite, write_data_docs
)
from pipelines.publish import publish_marts
from pipelines.settings import load_settings
from pipelines.warehouse import connect

settings = load_settings()
parameters = check_parameters(settings)
times, failed = {}, []
for suite in load_suites():
    started = time.perf_counter()
    with connect(settings.warehouse_path, read_only=True) as con:
        rows = fetch_rows(con, suite, parameters, settings.published_path)
    result, outcomes = validate_suite(suite, rows, parameters)
    write_data_docs(result, suite, "bench", settings.data_docs_dir)
    times[suite.name] = (time.perf_counter() - started, len(rows))
    failed += [f"{suite.name}: {o.expectation}({o.column})" for o in outcomes if not o.success]
started = time.perf_counter()
publish_marts(settings.warehouse_path, settings.published_path, "bench")
print(json.dumps({"suites": times, "failed": failed, "publish": time.perf_counter() - started}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=25_000)
    parser.add_argument("--activities", type=int, default=225_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/crm-kpi-checks-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir afterwards")
    args = parser.parse_args()

    data_dir = args.dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    quotas = write_quotas(data_dir)
    started = time.perf_counter()
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        generate_raw(con, args.deals, args.activities, version=0, loaded_at=datetime.now(UTC))
        record_sync(con)
        records = sum(
            con.execute(f"select count(*) from raw.{o.name}").fetchall()[0][0] for o in CRM_OBJECTS
        )
    print(
        f"raw layer: {records:,} records ({args.deals:,} deals, {args.activities:,} activities) "
        f"in {time.perf_counter() - started:.0f} s ({size_gib(data_dir):.2f} GiB)"
    )

    build_wall, build_cpu = dbt_build(data_dir, quotas, "full")
    checks = run_checks(data_dir, quotas)
    checks_wall = sum(t for t, _ in checks["suites"].values())
    run_wall = build_wall + checks_wall + checks["publish"]
    print(f"\nchecks: {checks_wall:.1f} s wall, peak memory {checks['peak_gib']:.2f} GiB")
    for name, (seconds, rows) in sorted(checks["suites"].items(), key=lambda kv: -kv[1][0]):
        print(f"  {seconds:6.2f} s  {name} ({rows:,} rows validated)")
    print(f"publish: {checks['publish']:.1f} s")
    if checks["failed"]:
        print("failed expectations (generated data):\n  " + "\n  ".join(checks["failed"]))
    # CPU time is steadier than wall time on a shared machine; the child's CPU time includes
    # importing GX (seconds, once per run process) and publishing.
    print(
        f"\nchecks' share of the run (dbt build + checks + publish, sync left out): "
        f"{checks_wall / run_wall:.1%} of {run_wall:.0f} s wall; checks and publish process "
        f"{checks['cpu']:.0f} s CPU = {checks['cpu'] / (build_cpu + checks['cpu']):.1%} of the "
        f"run's CPU (target < 10%)"
    )
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def record_sync(con) -> None:
    """What a sync leaves beside the raw tables: its state, and the CRM's live counts (here: the
    generated live records, as a CRM that agrees with the warehouse would report them)."""
    ensure_raw_schema(con)
    ensure_crm_counts_table(con)
    now = datetime.now(UTC)
    for obj in CRM_OBJECTS:
        records, archived = con.execute(
            f"select count(*), count(*) filter (archived) from raw.{obj.name}"
        ).fetchall()[0]
        con.execute(
            f"insert or replace into {SYNC_STATE_TABLE} values ($n, $at, $at, 'full', $r, $a)",
            {"n": obj.name, "at": now, "r": records, "a": archived},
        )
        if obj.searchable:
            con.execute(
                f"insert or replace into {CRM_COUNTS_TABLE} values ($n, $live, $at, $at)",
                {"n": obj.name, "live": records - archived, "at": now},
            )


def run_checks(data_dir: Path, quotas: Path) -> dict:
    env = os.environ | {
        "CRM_KPI_DATA_DIR": str(data_dir),
        "CRM_KPI_TIMEZONE": TIMEZONE,
        "CRM_KPI_QUOTAS": str(quotas),
    }
    # The result goes through a file: reading a pipe would block the memory polling.
    with tempfile.TemporaryFile() as out:
        returncode, cpu, peak_gib = wait_measured(
            subprocess.Popen(
                [sys.executable, "-c", CHECKS],
                env=env,
                cwd=Path(__file__).resolve().parent.parent,
                stdout=out,
            )
        )
        out.seek(0)
        result = out.read()
    if returncode:
        raise SystemExit("the checks failed to run")
    return json.loads(result.splitlines()[-1]) | {"peak_gib": peak_gib, "cpu": cpu}


if __name__ == "__main__":
    sys.exit(main())
