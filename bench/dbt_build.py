"""Benchmark: `dbt build` of every model on a large portal, full and after a day of changes.

Run by hand (not a test):

    .venv/bin/python bench/dbt_build.py [--deals 1000000] [--activities 10000000]
                                        [--rounds 3] [--dir /tmp/crm-kpi-bench] [--keep]

It writes a raw layer (raw_layer.py: JSON records of the shape the sync stores) straight into a
scratch warehouse, then times, in each of `--rounds` rounds:

1. a full build: the first `dbt build` on that warehouse (every staging table parses all JSON);
2. an incremental build the next day, after 1% of the deals and activities changed (edited,
   archived or new records, re-loaded by the sync with a newer `loaded_at`).

Each round starts both builds from copies of the same warehouses, one right after the other, so the
two share the machine's load of the moment; on a shared machine one build's wall time varies by
several seconds. The median of the rounds' ratios is the figure to compare with the target.

For each build: wall time, CPU time (steadier than wall time on a shared machine), peak memory (max
RSS of the dbt process) and the slowest nodes from dbt's JSON events. The builds run `dbt build`
as the pipeline does (dagster-dbt's environment, pipelines/dbt_assets.py's arguments).
"""

import argparse
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

from raw_layer import CHANGE_SHARE, DAY_ONE, change_a_day, generate_raw, write_quotas  # noqa: E402

from pipelines.warehouse import connect  # noqa: E402

DBT_PROJECT = ROOT / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/crm-kpi-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir afterwards")
    parser.add_argument("--rounds", type=int, default=3, metavar="N")
    args = parser.parse_args()

    data_dir = args.dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    quotas = write_quotas(data_dir)
    started = time.perf_counter()
    with connect(data_dir / "warehouse.duckdb") as con:
        generate_raw(con, args.deals, args.activities, version=0, loaded_at=DAY_ONE)
    print(
        f"raw layer: {args.deals:,} deals, {args.activities:,} activities generated in "
        f"{time.perf_counter() - started:.0f} s ({size_gib(data_dir):.1f} GiB)"
    )

    # Round 1's full build makes the warehouse the day's changes land in; later rounds build
    # again from copies of the raw layer and of that changed warehouse.
    warehouse = data_dir / "warehouse.duckdb"
    raw_copy, changed_copy = data_dir / "raw.duckdb", data_dir / "changed.duckdb"
    shutil.copy(warehouse, raw_copy)
    rounds = []
    for number in range(1, args.rounds + 1):
        shutil.copy(raw_copy, warehouse)
        full = dbt_build(data_dir, quotas, f"round {number}: full")
        if number == 1:
            with connect(warehouse) as con:
                changed = change_a_day(con, args.deals, args.activities)
            print(f"changed {changed:,} raw records ({CHANGE_SHARE:.0%} of deals and activities)")
            shutil.copy(warehouse, changed_copy)
        else:
            shutil.copy(changed_copy, warehouse)
        incremental = dbt_build(data_dir, quotas, f"round {number}: incremental")
        rounds.append((incremental[0] / full[0], incremental[1] / full[1]))
        print(
            f"round {number}: incremental / full = {incremental[0]:.1f} s / {full[0]:.1f} s "
            f"= {rounds[-1][0]:.1%} of the wall time, {incremental[1]:.1f} s / {full[1]:.1f} s "
            f"= {rounds[-1][1]:.1%} of the CPU time"
        )

    wall, cpu = (statistics.median(r[i] for r in rounds) for i in (0, 1))
    print(
        f"\nincremental / full, median of {len(rounds)} rounds: {wall:.1%} of the wall time, "
        f"{cpu:.1%} of the CPU time (target < 20%)"
    )
    if not args.keep:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def dbt_build(data_dir: Path, quotas: Path, label: str) -> tuple[float, float]:
    """Run `dbt build` as the pipeline does; print and return its wall and CPU seconds."""
    env = os.environ | {
        # As dagster-dbt runs dbt: no anonymous usage events, the log as JSON events on stdout.
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_LOG_FORMAT": "json",
        "CRM_KPI_DATA_DIR": str(data_dir),
        "CRM_KPI_TIMEZONE": "America/New_York",
        # As in production: "now". A fixed instant per build would make dbt re-parse every model.
        "CRM_KPI_AS_OF": "",
        "CRM_KPI_QUOTAS": str(quotas),
    }
    target = data_dir / "target"  # shared, so the second build parses only what changed
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
    events = data_dir / "logs" / f"{label.replace(' ', '_').replace(':', '')}.jsonl"
    events.parent.mkdir(exist_ok=True)
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
    by_kind: dict[str, float] = {}
    for unique_id, seconds in nodes.items():
        kind = unique_id.split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0) + seconds
    print("  by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(by_kind.items())))
    for unique_id, seconds in sorted(nodes.items(), key=lambda n: -n[1])[:8]:
        print(f"  {seconds:7.1f} s  {unique_id}")
    return elapsed, cpu


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
