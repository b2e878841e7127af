"""Benchmark: the quality checks' share of a run, and their peak memory, on a large portal.

Run by hand (not a test):

    .venv/bin/python bench/checks_bench.py                  # ~250,000 records, with the sync
    .venv/bin/python bench/checks_bench.py --generated [--deals 1000000] [--activities 10000000]

Either way two runs go through Dagster in a child process, as `crm-kpi run` runs them, and the
times of their steps come from the Dagster event log; the checks are every asset check step (the
GX suites and the raw freshness checks). dbt's own data tests run inside the dbt build step and
are printed beside them, from dbt's run_results.json. Peak memory is the child's own high-water
mark: the Dagster process with GX and every check, not dbt's subprocess nor the CRM's.

- Default: a demo CRM of ~250,000 records (bench/sync_bench.py's), a first run (full sync) and a
  second one after nothing changed (incremental sync), each a whole `run_pipeline`.
- --generated: the raw layer is written straight into a scratch warehouse with
  bench/raw_layer.py's generator (a sync of 10 million activities would take hours against rate
  limits), with the sync state and the CRM's live counts a sync leaves; the runs are the run job
  without the sync step (the checks on the raw tables still run). The share is then an upper
  bound: a real run also spends the sync's time.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbt_build import size_gib, wait_measured
from raw_layer import generate_raw, write_quotas
from sync_bench import TOKEN, serve_demo_crm

from pipelines.hubspot.objects import CRM_OBJECTS
from pipelines.warehouse import connect, ensure_crm_counts_table, ensure_raw_schema, load_quotas

TIMEZONE = "America/New_York"
# The run's steps that are not quality checks.
NOT_CHECKS = ("crm_sync", "kpi_models", "published__kpi_file", "report__kpi_report")

# The child: two runs (argv[1]: "crm" or "generated"); per run, each step's seconds.
TWO_RUNS = """
import contextlib, json, sys, time
from pathlib import Path
from dagster import (
    AssetSelection, DagsterEventType, DagsterInstance, Definitions, define_asset_job
)
from pipelines.definitions import defs
from pipelines.runner import run_pipeline
from pipelines.settings import load_settings

raw = [k for k in defs.resolve_all_asset_keys() if k.path[0] == "raw"]
without_sync = Definitions.merge(defs, Definitions(jobs=[define_asset_job(
    "without_sync",
    selection=(AssetSelection.all() - AssetSelection.assets(*raw))
    | AssetSelection.checks_for_assets(*raw),
)])).resolve_job_def("without_sync")
quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
runs = []
for _ in range(2):
    instance = DagsterInstance.ephemeral()
    started = time.perf_counter()
    if sys.argv[1] == "crm":
        outcome = run_pipeline(load_settings(), instance=instance)
        result, modes = outcome.dagster_result, sorted(set(outcome.modes.values()))
    else:
        with contextlib.redirect_stdout(sys.stderr):  # dbt's log lines
            result = without_sync.execute_in_process(
                instance=instance, raise_on_error=False, run_config=quiet
            )
        modes = ["no"]
    wall = time.perf_counter() - started
    steps, begun = {}, {}
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            begun[event.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key] = entry.timestamp - begun[event.step_key]
    # dagster-dbt writes each build's run_results.json under a target/<id>/ of its own.
    newest = max(
        Path("dbt_project/target").glob("*/run_results.json"), key=lambda p: p.stat().st_mtime
    )
    dbt_tests = sum(
        r["execution_time"] for r in json.loads(newest.read_text())["results"]
        if r["unique_id"].startswith("test.")
    )
    failed = sorted({e.check_name for e in result.get_asset_check_evaluations() if not e.passed})
    runs.append({"wall": wall, "steps": steps, "dbt_tests": dbt_tests, "failed": failed,
                 "modes": modes, "success": result.success})
print(json.dumps(runs))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", action="store_true", help="generate the raw layer")
    parser.add_argument("--deals", type=int, default=1_000_000, help="with --generated")
    parser.add_argument("--activities", type=int, default=10_000_000, help="with --generated")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/crm-kpi-checks-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir afterwards")
    args = parser.parse_args()

    data_dir = args.dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    env = {"CRM_KPI_DATA_DIR": str(data_dir), "CRM_KPI_TIMEZONE": TIMEZONE}
    if args.generated:
        env["CRM_KPI_QUOTAS"] = str(write_quotas(data_dir))  # for the generated reps
        started = time.perf_counter()
        with connect(data_dir / "warehouse.duckdb") as con:
            generate_raw(con, args.deals, args.activities, version=0, loaded_at=datetime.now(UTC))
            record_sync(con)
            load_quotas(con, Path(env["CRM_KPI_QUOTAS"]))  # dbt reads them from raw.quotas
        print(
            f"raw layer: {args.deals:,} deals, {args.activities:,} activities generated in "
            f"{time.perf_counter() - started:.0f} s ({size_gib(data_dir):.2f} GiB)"
        )
        runs, cpu, peak_gib = two_runs("generated", env | {"HUBSPOT_ACCESS_TOKEN": "unused"})
    else:
        with serve_demo_crm(250_000) as (url, stats):
            print(f"demo CRM: {sum(stats['records'].values()):,} records")
            env |= {"HUBSPOT_BASE_URL": url, "HUBSPOT_ACCESS_TOKEN": TOKEN}
            runs, cpu, peak_gib = two_runs("crm", env)

    for number, run in enumerate(runs, 1):
        steps = run["steps"]
        checks = {k: v for k, v in steps.items() if k not in NOT_CHECKS}
        checks_s, report_s = sum(checks.values()), steps.get("report__kpi_report", 0)
        print(
            f"\nrun {number} ({', '.join(run['modes'])} sync): {run['wall']:.1f} s wall"
            + ("" if run["success"] else " (FAILED)")
        )
        for step in NOT_CHECKS:
            if step in steps:
                print(f"  {steps[step]:6.1f} s  {step}")
        print(f"  {checks_s:6.1f} s  {len(checks)} checks; the slowest:")
        for name, seconds in sorted(checks.items(), key=lambda kv: -kv[1])[:4]:
            print(f"           {seconds:5.2f} s  {name}")
        print(f"  (dbt's data tests, inside the dbt build: {run['dbt_tests']:.1f} s)")
        if run["failed"]:
            print("  failed checks: " + ", ".join(run["failed"]))
        print(
            f"  checks' share of the run: {checks_s / run['wall']:.1%} (target < 10%); "
            f"of the run without its report: {checks_s / (run['wall'] - report_s):.1%}"
        )
    print(
        f"\nDagster process (both runs): {cpu:.0f} s CPU, peak memory {peak_gib:.2f} GiB "
        "(GX, pandas and Dagster included; dbt and the CRM run in their own processes)"
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
            "insert or replace into raw._sync_state values ($n, $at, $at, 'full', $r, $a)",
            {"n": obj.name, "at": now, "r": records, "a": archived},
        )
        if obj.searchable:
            con.execute(
                "insert or replace into raw._crm_counts values ($n, $live, $at, $at)",
                {"n": obj.name, "live": records - archived, "at": now},
            )


def two_runs(mode: str, env: dict[str, str]) -> tuple[list[dict], float, float]:
    # The result goes through a file: reading a pipe would block the memory polling.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as log:
        returncode, cpu, peak_gib = wait_measured(
            subprocess.Popen(
                [sys.executable, "-c", TWO_RUNS, mode],
                env=os.environ | env,
                cwd=Path(__file__).resolve().parent.parent,
                stdout=out,
                stderr=log,
            )
        )
        out.seek(0)
        result = out.read()
        if returncode:
            log.seek(0)
            sys.stderr.write(log.read().decode()[-3000:])
            raise SystemExit("the runs failed")
    return json.loads(result.splitlines()[-1]), cpu, peak_gib


if __name__ == "__main__":
    sys.exit(main())
