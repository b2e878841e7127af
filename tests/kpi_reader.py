"""A BI tool in its own process: opens kpi.duckdb read-only in a loop, holding it open a moment,
and prints one JSON line per read (what it saw, or the error) until the stop file exists.

    python tests/kpi_reader.py <path to kpi.duckdb> <stop file>
"""

import json
import sys
import time
from pathlib import Path

import duckdb


def read_once(path: Path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = sorted(
            n for (n,) in con.execute("select table_name from duckdb_tables()").fetchall()
        )
        counts = {n: con.execute(f'select count(*) from "{n}"').fetchall()[0][0] for n in names}
        run_ids = [
            r
            for (r,) in con.execute(
                "select run_id from kpi_publication order by published_at"
            ).fetchall()
        ]
        time.sleep(0.1)  # hold the file open while a run may be publishing
    finally:
        con.close()
    return {
        "tables": names,
        "publications": run_ids,
        "complete": counts["kpi_publication"] == len(run_ids) >= 1,
    }


def main(path: Path, stop: Path) -> None:
    while not stop.exists():
        if not path.exists():
            time.sleep(0.05)
            continue
        try:
            seen = read_once(path)
        except Exception as error:  # any error is what the test looks for
            seen = {"error": repr(error)}
        print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
