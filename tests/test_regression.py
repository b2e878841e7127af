"""The regression guard: the shared published run publishes exactly the rows in tests/golden/.

`published_run` pins everything a publication depends on (the demo CRM's seed and clock, the
time zone, the quotas and CRM_KPI_AS_OF), so every published table, `kpi_pipeline_daily`'s two
days of history included, must come out the same, value for value and type for type. Only the
stamps of a run itself are left out (PER_RUN). A change that means to change the published KPIs
(a new column, a fixed formula, another demo generator) regenerates the files in a commit of its
own, saying why:

    CRM_KPI_WRITE_GOLDEN=1 .venv/bin/pytest tests/test_regression.py
"""

import os
from pathlib import Path

import duckdb
import pytest

GOLDEN_DIR = Path(__file__).with_name("golden")
COLUMNS_FILE = "_columns.csv"
# When, by which run and after how many checks: the run's, not the KPIs'.
PER_RUN = {
    "kpi_publication": {
        "published_at",
        "source_synced_at",
        "run_id",
        "checks_passed",
        "checks_warned",
        "checks_failed",
    }
}


def published_files(published: Path, out_dir: Path) -> dict[str, str]:
    """Every published table as CSV text (rows sorted), and the tables' columns and types."""
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(published), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")  # instants written the same on every machine
        columns = con.execute(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where not internal and schema_name = 'main' order by table_name, column_index"
        ).fetchall()
        kept: dict[str, list[str]] = {}
        for table, column, _type in columns:
            if column not in PER_RUN.get(table, set()):
                kept.setdefault(table, []).append(column)
        files = {COLUMNS_FILE: "table_name,column_name,data_type\n"}
        files[COLUMNS_FILE] += "".join(f"{t},{c},{d}\n" for t, c, d in columns)
        for table, names in kept.items():
            path = out_dir / f"{table}.csv"
            quoted = ", ".join(f'"{n}"' for n in names)
            con.sql(f'select {quoted} from "{table}" order by all').write_csv(str(path))
            files[path.name] = path.read_text()
        return files
    finally:
        con.close()


def test_the_published_kpis_equal_the_recorded_ones(published_run, tmp_path):
    data_dir = published_run.data_dir
    files = published_files(data_dir / "kpi.duckdb", tmp_path)
    if os.environ.get("CRM_KPI_WRITE_GOLDEN"):
        GOLDEN_DIR.mkdir(exist_ok=True)
        for old in GOLDEN_DIR.glob("*.csv"):
            old.unlink()
        for name, text in files.items():
            (GOLDEN_DIR / name).write_text(text)
        pytest.skip(f"wrote {len(files)} files to {GOLDEN_DIR}")
    recorded = {p.name: p.read_text() for p in GOLDEN_DIR.glob("*.csv")}
    assert sorted(files) == sorted(recorded)
    for name, text in recorded.items():
        if files[name] != text:
            got, want = files[name].splitlines(), text.splitlines()
            first = next(
                (i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            pytest.fail(
                f"{name} differs from tests/golden/{name} ({len(got)} rows against "
                f"{len(want)}), first at line {first + 1}:\n"
                f"  published: {got[first] if first < len(got) else '(none)'}\n"
                f"  recorded:  {want[first] if first < len(want) else '(none)'}"
            )
