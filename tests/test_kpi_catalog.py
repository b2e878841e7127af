"""The KPI catalog end to end: demo CRM -> pipeline -> kpi.duckdb, against the CRM's own records.

Expected values come from tests/kpi_oracle.py (plain Python over the demo's records), never from
the warehouse. Four pipeline runs in all: one for quotas and coaching signals, three for the
daily snapshot history.
"""

import copy
import csv
import json
import os
import runpy
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml

from pipelines.hubspot.objects import CRM_OBJECTS
from pipelines.runner import ExitCode, run_pipeline
from pipelines.settings import load_settings
from pipelines.warehouse import connect, ensure_raw_table

from .conftest import point_at
from .kpi_oracle import (
    SUMMED_QUARTERLY,
    coaching_signals,
    pipeline_snapshot,
    quarter,
    rep_quarterly,
    rep_weekly,
    stage_conversion,
    team_quarterly,
)

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
MARTS_YML = DBT_DIR / "models" / "marts" / "_marts__models.yml"
TIMEZONE = "America/New_York"


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


def run(monkeypatch, crm, data_dir, as_of: datetime, **kwargs):
    monkeypatch.setenv("CRM_KPI_AS_OF", as_of.isoformat())
    outcome = run_pipeline(load_settings(), **kwargs)
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    return outcome


@pytest.fixture
def quotas(fresh_crm, tmp_path) -> dict:
    """A quotas file covering the edge cases: its path, and its rows as (email, quarter) -> amount.

    This quarter: an ordinary quota, one written with an upper-case email, a quota of 0 and a rep
    without any. Last quarter: a quota equal to what the rep won (nothing remains to cover) and
    one for the rep who left. And a row for an email no owner has.
    """
    crm = fresh_crm.crm
    now, last = quarter(crm.now, TIMEZONE), quarter(crm.now - timedelta(days=92), TIMEZONE)
    won = rep_quarterly(crm.objects, crm.owners, crm.pipelines, {}, TIMEZONE)
    # The rep who won most last quarter met their quota exactly.
    active = sorted(
        (o for o in crm.owners if not o["archived"]),
        key=lambda o: -won.get((o["id"], last), {}).get("won_amount", 0),
    )
    leaver = next(o for o in crm.owners if o["archived"])
    rows = [
        (active[0]["email"], last, won[active[0]["id"], last]["won_amount"]),
        (active[1]["email"], now, 250000.0),
        (active[2]["email"].upper(), now, 180000.5),
        (active[3]["email"], now, 0.0),
        (leaver["email"], last, 90000.0),
        ("nobody@example.com", now, 50000.0),
    ]
    path = tmp_path / "quotas.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["owner_email", "quarter", "quota_amount"])
        writer.writerows(rows)
    amounts = {(email, period): amount for email, period, amount in rows}
    owners = [o["id"] for o in active[:5]]
    return {"path": path, "amounts": amounts, "owners": owners, "quarters": (now, last)}


def test_quarterly_attainment_and_coaching_signals_equal_the_crm(
    fresh_crm, quotas, tmp_path, monkeypatch
):
    crm = fresh_crm.crm
    # A deal nobody has worked on, past its close date: stalled and overdue for sure.
    rep = next(o["id"] for o in crm.owners if not o["archived"])
    opened = crm.now - timedelta(days=20)
    forgotten = {
        "dealname": "Forgotten deal",
        "amount": "777",
        "dealstage": "qualifiedtobuy",
        "pipeline": "default",
        "closedate": (crm.now - timedelta(days=3)).isoformat(),
        "hubspot_owner_id": rep,
        "hs_is_closed": "false",
        "hs_date_entered_qualifiedtobuy": opened.isoformat(),
    }
    crm.create("deals", forgotten, at=opened)
    point_at(monkeypatch, fresh_crm, tmp_path / "data", timezone=TIMEZONE)
    monkeypatch.setenv("CRM_KPI_QUOTAS", str(quotas["path"]))
    run(monkeypatch, fresh_crm, tmp_path / "data", crm.now)
    data_dir = tmp_path / "data"

    expected = rep_quarterly(crm.objects, crm.owners, crm.pipelines, quotas["amounts"], TIMEZONE)
    rows = {(r["owner_id"], r["quarter"]): r for r in published(data_dir, "from kpi_rep_quarterly")}
    assert_quarters_match(rows, expected)
    this_quarter, last_quarter = quotas["quarters"]
    met = rows[quotas["owners"][0], last_quarter]
    ordinary, upper_case, zero, none = (rows[o, this_quarter] for o in quotas["owners"][1:])
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
    expected_signals = coaching_signals(crm.objects, crm.owners, crm.pipelines, crm.now)
    assert signals.keys() == expected_signals.keys()
    for owner_id, want in expected_signals.items():
        row = signals[owner_id]
        assert row["team_id"] == want["team_id"]
        assert row["as_of"] == crm.now
        assert_rows_match(row, want, [c for c in want if c != "team_id"])
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


def test_daily_snapshots_keep_past_days_across_runs_and_a_full_refresh(
    fresh_crm, tmp_path, monkeypatch
):
    crm = fresh_crm.crm
    data_dir = tmp_path / "data"
    point_at(monkeypatch, fresh_crm, data_dir, timezone=TIMEZONE)
    day_one = crm.now
    run(monkeypatch, fresh_crm, data_dir, day_one)
    expected_one = pipeline_snapshot(copy.deepcopy(crm.objects), crm.pipelines)

    # The next day: ~1% of records change; the run is incremental (sync and dbt staging).
    crm.simulate_day(day_one + timedelta(days=1))
    day_two = crm.now
    run(monkeypatch, fresh_crm, data_dir, day_two)
    assert_snapshots(data_dir, {day_one: expected_one, day_two: None}, crm)
    assert_weekly_equals_the_crm(data_dir, crm)
    assert_stage_conversion_equals_the_crm(data_dir, crm)

    # Later the same day, after one more change, a full refresh: the day's snapshot is replaced,
    # the day before stays as it was, though the raw layer and staging are rebuilt from scratch.
    later = day_two + timedelta(minutes=1)
    if later.astimezone(ZoneInfo(TIMEZONE)).date() != day_two.astimezone(ZoneInfo(TIMEZONE)).date():
        later = day_two - timedelta(minutes=1)  # keep to the same local day
    deal = next(d for d in crm.live("deals") if d["properties"]["hs_is_closed"] == "false")
    amount = float(deal["properties"].get("amount_in_home_currency") or 0) + 12345
    crm.update("deals", deal["id"], {"amount_in_home_currency": f"{amount:.2f}"}, at=later)
    run(monkeypatch, fresh_crm, data_dir, later, full_refresh=True)
    assert_snapshots(data_dir, {day_one: expected_one, later: None}, crm)
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


def assert_stage_conversion_equals_the_crm(data_dir: Path, crm) -> None:
    expected = stage_conversion(crm.objects, crm.pipelines, TIMEZONE)
    rows = published(data_dir, "from kpi_stage_conversion")
    got = {(r["pipeline_id"], r["stage_id"], r["quarter"]): r for r in rows}
    assert got.keys() == expected.keys() and expected
    for key, want in expected.items():
        assert_rows_match(got[key], want, want.keys())


def assert_weekly_equals_the_crm(data_dir: Path, crm) -> None:
    """The incremental staging tables kept up: weekly KPIs equal the CRM's records (non-zero)."""
    expected = rep_weekly(crm.objects, crm.owners, crm.pipelines, TIMEZONE)
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
    _, data_dir = published_run
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


def test_dbt_unit_tests_prove_every_formula(tmp_path):
    """The unit tests in dbt_project, on an empty warehouse: dbt needs the models' columns only.

    `dbt docs generate` runs too: the docs site is where the definitions are read beside lineage.
    """
    with connect(tmp_path / "warehouse.duckdb") as con:
        con.execute("create schema raw")
        for obj in CRM_OBJECTS:
            ensure_raw_table(con, obj.name)
    env = os.environ | {
        "CRM_KPI_DATA_DIR": str(tmp_path),
        "CRM_KPI_TIMEZONE": "UTC",
        "CRM_KPI_QUOTAS": "",
        "CRM_KPI_AS_OF": "",
    }
    dbt = [str(Path(sys.executable).with_name("dbt"))]
    paths = ["--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)]
    paths += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    for command in (
        ["run", "--empty"],
        ["docs", "generate"],
        ["test", "--select", "test_type:unit"],
    ):
        done = subprocess.run(
            dbt + command + paths, env=env, cwd=DBT_DIR, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "PASS=0" not in done.stdout
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    assert "model.crm_kpi.kpi_coaching_signals" in catalog["nodes"]
