"""`crm-kpi export` and `crm-kpi status`, run as a user runs them, against a published run."""

import subprocess
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from .test_cli import clean_env, crm_kpi


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_export_writes_every_published_table(published_run, tmp_path, file_format):
    data_dir = published_run.data_dir
    out = tmp_path / "out"
    env = {**clean_env(tmp_path), "CRM_KPI_DATA_DIR": str(data_dir)}
    done = crm_kpi("export", "--format", file_format, "--out", str(out), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    tables = dict(
        con.execute(
            "select table_name, estimated_size from duckdb_tables() where schema_name = 'main'"
        ).fetchall()
    )
    for table in tables:
        path = out / f"{table}.{file_format}"
        assert path.exists(), table
        (expected,) = con.execute(f'select count(*) from "{table}"').fetchone()
        reader = "read_parquet" if file_format == "parquet" else "read_csv"
        (exported,) = con.execute(f"select count(*) from {reader}('{path}')").fetchone()
        assert exported == expected, table
        if file_format == "parquet":  # the same rows and types, not only as many
            (differing,) = con.execute(
                f'select count(*) from (select * from "{table}" '
                f"except all select * from read_parquet('{path}'))"
            ).fetchone()
            assert differing == 0, table
    con.close()
    assert sorted(p.stem for p in out.iterdir()) == sorted(tables)


def test_the_run_refreshes_parquet_exports_beside_the_published_file(published_run):
    data_dir = published_run.data_dir
    exports = data_dir / "exports"
    published = data_dir / "kpi.duckdb"
    con = duckdb.connect(str(published), read_only=True)
    (rows,) = con.execute("select count(*) from kpi_rep_weekly").fetchone()
    con.close()
    assert pq.read_metadata(exports / "kpi_rep_weekly.parquet").num_rows == rows
    assert (exports / "kpi_rep_weekly.parquet").stat().st_mtime >= published.stat().st_mtime


def test_export_without_a_publication_is_one_line(tmp_path):
    env = clean_env(tmp_path)
    done = crm_kpi("export", env=env, cwd=tmp_path)
    assert done.returncode == 2 and "crm-kpi run" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_status_reports_publication_watermarks_and_checks(published_run, tmp_path):
    data_dir = published_run.data_dir
    env = {**clean_env(tmp_path), "CRM_KPI_DATA_DIR": str(data_dir)}
    done = crm_kpi("status", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"published: {data_dir / 'kpi.duckdb'}" in out
    assert "from the warehouse" in out
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    states = con.execute("select object_name, watermark from raw._sync_state").fetchall()
    con.close()
    for name, watermark in states:
        assert name in out and watermark.isoformat() in out
    assert "last run:" in out and "exit 0" in out
    assert "0 failed" in out


def test_status_answers_while_a_run_holds_the_warehouse(published_run, tmp_path):
    data_dir = published_run.data_dir
    # A writer in another process, as a pipeline run is: DuckDB then refuses every other open.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('holding', flush=True); time.sleep(120)",
            str(data_dir / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        env = {**clean_env(tmp_path), "CRM_KPI_DATA_DIR": str(data_dir)}
        # crm_kpi's own timeout fails the test should status wait for the writer.
        done = crm_kpi("status", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "a run is writing the warehouse now" in done.stdout
        assert "deals" in done.stdout and "watermark" in done.stdout
        assert "Traceback" not in done.stderr
    finally:
        holder.kill()
        holder.wait()


def test_status_answers_when_the_postgres_warehouse_does_not(tmp_path):
    env = clean_env(tmp_path) | {
        "CRM_KPI_WAREHOUSE": "postgres",
        "CRM_KPI_POSTGRES_URL": "postgresql://crm_kpi:not-the-password@127.0.0.1:1/kpis",
    }
    done = crm_kpi("status", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the warehouse did not answer: cannot connect to Postgres" in done.stdout
    assert "not-the-password" not in done.stdout + done.stderr
