"""How long the managers' report takes to write from a published kpi.duckdb, and its size.

    .venv/bin/python bench/report_bench.py data/kpi.duckdb [--rounds 5] [--timezone UTC]

Prints each round and the median; asserts nothing (timings belong here, not in tests).
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines.report.render import write_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("published", type=Path, help="a published kpi.duckdb")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timezone", default="UTC")
    args = parser.parse_args()
    seconds = []
    with tempfile.TemporaryDirectory() as out:
        for round_number in range(1, args.rounds + 1):
            report = write_report(args.published, Path(out) / "report.html", args.timezone)
            seconds.append(report.seconds)
            print(f"round {round_number}: {report.seconds:.2f} s, {report.size_bytes:,} bytes")
    print(f"median: {statistics.median(seconds):.2f} s over {args.rounds} rounds")


if __name__ == "__main__":
    main()
