"""The KPI catalog end to end: demo CRM -> pipeline -> kpi.duckdb, against the CRM's own records.

Expected values come from tests/kpi_oracle.py (plain Python over the demo's records), never from
the warehouse. The tests read the shared published run (two runs a week apart, conftest.py).
"""

import json
import os
import runpy
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml

from .conftest import PUBLISHED_TIMEZONE
from .kpi_oracle import (
    SUMMED_QUARTERLY,
    coaching_signals,
    pipeline_snapshot,
    rep_quarterly,
    rep_weekly,
    stage_conversion,
    team_quarterly,
)

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
MARTS_YML = DBT_DIR / "models" / "marts" / "_marts__models.yml"
TIMEZONE = PUBLISHED_TIMEZONE


def published(data_dir: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def as_number(value):
    return None if value is None else float(value)


def assert_rows_match(actual: dict, expected: dict, columns) -> None:
    for column in columns:
        wanted = expected.get(column)
        got = as_number(actual[column])
        if wanted is None:
            assert got is None, column
        else:
            assert got == pytest.approx(wanted, abs=0.011), column


def test_quarterly_attainment_and_coaching_signals_equal_the_crm(published_run):
    crm, data_dir, plan = published_run.crm, published_run.data_dir, published_run.quotas
    expected = rep_quarterly(crm.objects, crm.owners, crm.pipelines, plan.amounts, TIMEZONE)
    rows = {(r["owner_id"], r["quarter"]): r for r in published(data_dir, "from kpi_rep_quarterly")}
    assert_quarters_match(rows, expected)
    met = rows[plan.met, plan.last_quarter]
    ordinary, upper_case, zero, none = (
        rows[owner, plan.this_quarter]
        for owner in (plan.ordinary, plan.upper_case, plan.zero, plan.without)
    )
    assert met["attainment"] == pytest.approx(1.0) and met["won_amount"] > 0
    assert met["pipeline_coverage"] is None  # nothing remains to cover
    assert ordinary["attainment"] is not None and ordinary["pipeline_coverage"] is not None
    assert float(upper_case["quota_amount"]) == 180000.5  # email matched ignoring case
    assert zero["attainment"] is None and zero["pipeline_coverage"] is None
    assert none["quota_amount"] is None and none["attainment"] is None

    teams = {
        (r["team_id"], r["quarter"]): r for r in published(data_dir, "from kpi_team_quarterly")
    }
    assert_quarters_match(teams, team_quarterly(expected, crm.owners))

    signals = {r["owner_id"]: r for r in published(data_dir, "from kpi_coaching_signals")}
    expected_signals = coaching_signals(crm.objects, crm.owners, crm.pipelines, crm.now, TIMEZONE)
    assert signals.keys() == expected_signals.keys()
    for owner_id, want in expected_signals.items():
        row = signals[owner_id]
        assert row["team_id"] == want["team_id"]
        assert row["as_of"] == crm.now
        assert_rows_match(row, want, [c for c in want if c != "team_id"])
    rep = published_run.forgotten_deal_owner
    assert signals[rep]["stalled_deals"] >= 1 and signals[rep]["overdue_deals"] >= 1
    assert_stage_conversion_equals_the_crm(data_dir, crm)


def assert_quarters_match(rows: dict, expected: dict) -> None:
    assert expected.keys() <= rows.keys()
    columns = [*SUMMED_QUARTERLY, "attainment", "pipeline_coverage", "win_rate"]
    for key, row in rows.items():
        if key in expected:
            assert_rows_match(row, expected[key], columns)
        else:  # a quarter without deal events or quota: the dense fill, zeros and no quota
            assert row["quota_amount"] is None and not row["won_amount"] and not row["open_deals"]


def test_daily_snapshots_keep_past_days_across_a_full_refresh(published_run):
    # The first run's day stays as it was, though the second run is a full refresh (raw layer
    # and staging rebuilt from scratch); the second run's day is the CRM as it is now.
    crm, data_dir = published_run.crm, published_run.data_dir
    day_one = pipeline_snapshot({"deals": published_run.day_one_deals}, crm.pipelines)
    assert_snapshots(data_dir, {published_run.day_one: day_one, crm.now: None}, crm)
    assert_weekly_equals_the_crm(data_dir, crm)


def assert_snapshots(data_dir: Path, days: dict[datetime, dict | None], crm) -> None:
    """kpi_pipeline_daily holds exactly these days; None means: the CRM as it is now."""
    rows = published(data_dir, "from kpi_pipeline_daily")
    local_day = {at.astimezone(ZoneInfo(TIMEZONE)).date(): at for at in days}
    assert {r["snapshot_date"] for r in rows} == local_day.keys()
    for snapshot_date, at in local_day.items():
        expected = days[at] or pipeline_snapshot(crm.objects, crm.pipelines)
        got = {
            (r["pipeline_id"], r["stage_id"]): r
            for r in rows
            if r["snapshot_date"] == snapshot_date
        }
        assert got.keys() == expected.keys(), snapshot_date
        for key, want in expected.items():
            assert got[key]["as_of"] == at
            assert_rows_match(got[key], want, want.keys())


def assert_stage_conversion_equals_the_crm(data_dir: Path, crm, timezone: str = TIMEZONE) -> None:
    expected = stage_conversion(crm.objects, crm.pipelines, timezone)
    rows = published(data_dir, "from kpi_stage_conversion")
    got = {(r["pipeline_id"], r["stage_id"], r["quarter"]): r for r in rows}
    assert got.keys() == expected.keys() and expected
    for key, want in expected.items():
        assert_rows_match(got[key], want, want.keys())


def assert_weekly_equals_the_crm(data_dir: Path, crm, timezone: str = TIMEZONE) -> None:
    """The incremental staging tables kept up: weekly KPIs equal the CRM's records (non-zero)."""
    expected = rep_weekly(crm.objects, crm.owners, crm.pipelines, timezone)
    expected = {k: {c: v for c, v in row.items() if v} for k, row in expected.items()}
    expected = {k: v for k, v in expected.items() if v}
    columns = [
        *("calls", "emails", "meetings", "tasks", "deals_created", "pipeline_created_amount"),
        *("deals_won", "deals_lost", "won_amount"),
    ]
    got = {}
    for r in published(data_dir, "from kpi_rep_weekly"):
        values = {c: float(r[c]) for c in columns if r[c]}
        if values:
            got[r["owner_id"], r["week_start"]] = values
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want), key


def test_kpis_md_is_generated_from_the_dbt_docs():
    generator = runpy.run_path(str(ROOT / "docs" / "generate_kpis_md.py"))
    assert (ROOT / "docs" / "kpis.md").read_text() == generator["render"](), (
        "docs/kpis.md is out of date: run .venv/bin/python docs/generate_kpis_md.py"
    )


def test_every_published_table_and_column_is_documented(published_run):
    data_dir = published_run.data_dir
    documented = {
        m["name"]: [c["name"] for c in m["columns"] if c.get("description")]
        for m in yaml.safe_load(MARTS_YML.read_text())["models"]
    }
    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    try:
        tables = con.execute(
            "select table_name, list(column_name order by column_index) from duckdb_columns() "
            "where not internal and schema_name = 'main' group by table_name"
        ).fetchall()
    finally:
        con.close()
    # kpi_publication is written by the publication itself, not by dbt: the README documents it.
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    stamp = dict(tables).pop("kpi_publication")
    assert all(f"`{column}`" in readme for column in stamp), stamp
    tables = [(name, columns) for name, columns in tables if name != "kpi_publication"]
    assert {name for name, _ in tables} == documented.keys()
    for name, columns in tables:
        assert columns == documented[name], name


def test_dbt_unit_tests_prove_every_formula(small_warehouse, tmp_path):
    """The unit tests in dbt_project, on a copy of the small warehouse: dbt needs the models'
    columns only, and its relations give them.

    `dbt docs generate` runs too: the docs site is where the definitions are read beside lineage.
    """
    shutil.copy(small_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    env = os.environ | {
        "CRM_KPI_DATA_DIR": str(tmp_path),
        "CRM_KPI_TIMEZONE": "UTC",
        "CRM_KPI_QUOTAS": "",
        "CRM_KPI_AS_OF": "",
    }
    dbt = [str(Path(sys.executable).with_name("dbt"))]
    paths = ["--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)]
    paths += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    for command in (["docs", "generate"], ["test", "--select", "test_type:unit"]):
        done = subprocess.run(
            dbt + command + paths, env=env, cwd=DBT_DIR, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "PASS=0" not in done.stdout
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    assert "model.crm_kpi.kpi_coaching_signals" in catalog["nodes"]
