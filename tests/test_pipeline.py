"""End to end: demo CRM over HTTP -> Dagster sync -> dbt marts -> GX checks -> kpi.duckdb."""

import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.dbt_assets import DBT_PROJECT_DIR
from pipelines.hubspot.objects import CRM_OBJECTS
from pipelines.runner import ExitCode, run_pipeline
from pipelines.settings import load_settings

from .conftest import TOKEN, point_at
from .kpi_oracle import open_pipeline, parse_time, rep_weekly
from .test_cli import crm_kpi


def test_a_run_materializes_every_asset_and_check_and_publishes(published_run):
    outcome, data_dir = published_run.outcome, published_run.data_dir
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    result = outcome.dagster_result
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    from pipelines.definitions import defs

    every_asset = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert materialized == every_asset
    evaluations = result.get_asset_check_evaluations()
    check_keys = defs.resolve_asset_graph().asset_check_keys
    assert {(e.asset_key, e.check_name) for e in evaluations} == {
        (k.asset_key, k.name) for k in check_keys
    }
    # Only the quota for an email no owner has (conftest.write_quotas) may warn, never block.
    not_passed = [e for e in evaluations if not e.passed]
    assert not_passed, "the quotas file's unknown email must be reported"
    for e in not_passed:
        assert e.severity.value == "WARN", (e.asset_key, e.check_name)
        assert "quota" in e.asset_key.path[-1] and "owner_id" in e.check_name, e.check_name
    assert (data_dir / "kpi.duckdb").exists()


def test_raw_layer_holds_every_record_the_crm_has(published_run, demo_crm):
    outcome, data_dir = published_run.outcome, published_run.data_dir
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    for obj in CRM_OBJECTS:
        if obj.name in ("owners", "deal_pipelines"):
            expected = {o["id"] for o in getattr(demo_crm.crm, obj.name.removeprefix("deal_"))}
        else:
            expected = {r["id"] for r in demo_crm.crm.objects[obj.name]}
        stored = {i for (i,) in con.execute(f"select id from raw.{obj.name}").fetchall()}
        assert stored == expected, obj.name
        assert outcome.records[obj.name] == len(expected)
    archived = con.execute("select count(*) from raw.deals where archived").fetchone()[0]
    assert archived == sum(d["archived"] for d in demo_crm.crm.objects["deals"]) > 0
    con.close()


def test_published_rep_weekly_equals_kpis_computed_from_the_crm(published_run, demo_crm):
    data_dir = published_run.data_dir
    crm = demo_crm.crm
    expected = rep_weekly(crm.objects, crm.owners, crm.pipelines, "Europe/Berlin")
    assert_rep_weekly_published(data_dir, expected)
    rows = published_table(data_dir, "kpi_rep_weekly")
    won = rows[(rows.deals_won + rows.deals_lost) > 0]
    assert (won.win_rate == won.deals_won / (won.deals_won + won.deals_lost)).all()
    assert rows[(rows.deals_won + rows.deals_lost) == 0].win_rate.isna().all()


@pytest.mark.pipeline
def test_a_run_in_another_time_zone_dates_every_record_again(fresh_crm, tmp_path, monkeypatch):
    # Staging dates each activity and deal in the reporting time zone once, when it stages the
    # record; a run in another zone must date all of them again, not only the records the sync
    # changed. A call made and a deal created on a Sunday at 22:00 UTC are on Monday in Kolkata:
    # in the next week there. Both were edited a day ago, so the second run's sync does not fetch
    # them again.
    crm = fresh_crm.crm
    owners, a_day_ago = {o["id"] for o in crm.owners}, crm.now - timedelta(days=1)
    sunday = (crm.now - timedelta(days=crm.now.weekday() + 8)).replace(hour=22, minute=0)
    at_sunday_night = sunday.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    call = next(
        c
        for c in crm.live("calls")
        if c["properties"].get("hubspot_owner_id") in owners
        and parse_time(c["updatedAt"]) < a_day_ago
    )
    crm.update("calls", call["id"], {"hs_timestamp": at_sunday_night}, at=a_day_ago)
    deal = next(
        d
        for d in crm.live("deals")
        if d["properties"].get("hubspot_owner_id") in owners
        and parse_time(d["properties"]["closedate"]) > sunday + timedelta(days=2)
        and parse_time(d["updatedAt"]) < a_day_ago
    )
    crm.update("deals", deal["id"], {"createdate": at_sunday_night}, at=a_day_ago)

    # The first run, in UTC, is a user's `crm-kpi run`; its summary says what it did.
    point_at(monkeypatch, fresh_crm, tmp_path, timezone="UTC")
    done = crm_kpi("run", env={"PYTHONPATH": os.getcwd()}, cwd=tmp_path)
    assert_the_run_summary_says_what_it_did(done, tmp_path)

    # A warehouse staged before rows carried their zone (as after upgrading) is staged again
    # too: calls and emails lose the column, the other tables keep UTC.
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for kind in ("calls", "emails"):
            table = f"staging.stg_hubspot__{kind}"
            con.execute(f"alter table {table} drop column reporting_timezone")
            con.execute(f"update {table} set occurred_on = null")
    point_at(monkeypatch, fresh_crm, tmp_path, timezone="Asia/Kolkata")  # UTC+05:30
    outcome = run_pipeline(load_settings())
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    assert outcome.modes["calls"] == outcome.modes["deals"] == "incremental"
    expected = rep_weekly(crm.objects, crm.owners, crm.pipelines, "Asia/Kolkata")
    assert expected != rep_weekly(crm.objects, crm.owners, crm.pipelines, "UTC")
    assert_rep_weekly_published(tmp_path, expected)


def assert_the_run_summary_says_what_it_did(done: subprocess.CompletedProcess, data_dir: Path):
    assert done.returncode == 0, done.stderr
    assert f"published {data_dir / 'kpi.duckdb'}" in done.stdout
    assert "kpi_rep_weekly:" in done.stdout and "open pipeline now:" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    # the final summary: per object, marts, checks, duration, and where the report is
    assert re.search(r"deals +full +[\d,]+ fetched +[\d,]+ stored", done.stdout)
    marts = len(list((DBT_PROJECT_DIR / "models" / "marts").glob("*.sql")))
    assert re.search(rf"marts built: {marts}\b", done.stdout)
    assert re.search(r"checks: [1-9]\d* passed, \d+ warned, 0 failed", done.stdout)
    assert re.search(r"finished in \d+s", done.stdout)
    assert f"report: {data_dir / 'kpi_report.html'}" in done.stdout


def published_table(data_dir: Path, table: str):
    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    try:
        return con.sql(f"select * from {table}").df()
    finally:
        con.close()


def assert_rep_weekly_published(data_dir: Path, expected: dict) -> None:
    """kpi_rep_weekly in data_dir's kpi.duckdb holds the oracle's non-zero values, no others."""
    columns = [
        "calls",
        "emails",
        "meetings",
        "tasks",
        "deals_created",
        "pipeline_created_amount",
        "deals_won",
        "deals_lost",
        "won_amount",
    ]
    published = {
        (r.owner_id, r.week_start.date() if hasattr(r.week_start, "date") else r.week_start): {
            c: float(getattr(r, c)) for c in columns if getattr(r, c)
        }
        for r in published_table(data_dir, "kpi_rep_weekly").itertuples()
    }
    published = {k: v for k, v in published.items() if v}
    # A week can hold only zero-valued events (a deal without amount, say): compare non-zeros.
    expected = {k: {c: v for c, v in values.items() if v} for k, values in expected.items()}
    expected = {k: v for k, v in expected.items() if v}
    assert published.keys() == expected.keys()
    for key, values in expected.items():
        assert published[key] == pytest.approx(values), key


def test_published_open_pipeline_equals_open_deals_in_the_crm(published_run, demo_crm):
    data_dir = published_run.data_dir
    expected = open_pipeline(demo_crm.crm.objects, demo_crm.crm.pipelines)
    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    rows = con.sql("select * from kpi_open_pipeline").fetchdf()
    con.close()
    published = {
        (r.pipeline_id, r.stage_id): {
            "open_deals": float(r.open_deals),
            "open_amount": float(r.open_amount),
            "weighted_amount": float(r.weighted_amount),
        }
        for r in rows.itertuples()
    }
    assert published.keys() == expected.keys()
    for key, values in expected.items():
        assert published[key] == pytest.approx(values), key
    # the custom pipeline, with numeric stage ids, is there too
    assert any(stage.isdigit() for _, stage in published)


def test_published_file_holds_no_email_addresses_or_token(published_run, demo_crm):
    data_dir = published_run.data_dir
    from .conftest import TOKEN

    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    text_columns = con.execute(
        "select table_name, column_name from duckdb_columns() "
        "where not internal and schema_name = 'main' and data_type = 'VARCHAR'"
    ).fetchall()
    assert text_columns
    emails = {o["email"] for o in demo_crm.crm.owners if o.get("email")}
    for table, column in text_columns:
        values = {
            v for (v,) in con.execute(f'select distinct "{column}" from "{table}"').fetchall()
        }
        assert not any(v and "@" in v for v in values), (table, column)
        assert not values & emails
    con.close()
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
