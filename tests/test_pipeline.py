"""End to end: demo CRM over HTTP -> Dagster sync -> dbt marts -> GX checks -> kpi.duckdb."""

import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, materialize

from pipelines.dbt_assets import DBT_PROJECT_DIR, KEPT_DBT_RUN_FOLDERS, dbt_cli, kpi_models
from pipelines.hubspot.objects import CRM_OBJECTS
from pipelines.runner import ExitCode, run_pipeline
from pipelines.settings import load_settings

from .conftest import point_at
from .kpi_oracle import home_amount, open_pipeline, parse_time, rep_weekly, week_start


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
        and parse_time(d["updatedAt"]) < a_day_ago
        and parse_time(d["properties"]["closedate"]) > sunday + timedelta(days=2)
    )
    crm.update("deals", deal["id"], {"createdate": at_sunday_night}, at=a_day_ago)
    point_at(monkeypatch, fresh_crm, tmp_path, timezone="UTC")
    assert run_pipeline(load_settings()).exit_code == ExitCode.PUBLISHED
    point_at(monkeypatch, fresh_crm, tmp_path, timezone="Asia/Kolkata")  # UTC+05:30
    outcome = run_pipeline(load_settings())
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    assert outcome.modes["calls"] == outcome.modes["deals"] == "incremental"
    expected = rep_weekly(crm.objects, crm.owners, crm.pipelines, "Asia/Kolkata")
    assert expected != rep_weekly(crm.objects, crm.owners, crm.pipelines, "UTC")
    assert_rep_weekly_published(tmp_path, expected)

    # A warehouse staged before rows carried their zone (as after upgrading) is staged again too.
    staged_days = {kind: ["occurred_on"] for kind in ("calls", "emails", "meetings", "tasks")}
    staged_days["deals"] = ["created_on", "closed_on"]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        for kind, days in staged_days.items():
            table = f"staging.stg_hubspot__{kind}"
            con.execute(f"alter table {table} drop column reporting_timezone")
            con.execute(f"update {table} set " + ", ".join(f"{day} = null" for day in days))
    outcome = run_pipeline(load_settings())
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    assert_rep_weekly_published(tmp_path, expected)


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


def won_in_week(data_dir, owner_id, week):
    con = duckdb.connect(str(data_dir / "kpi.duckdb"), read_only=True)
    try:
        return con.execute(
            "select deals_won, won_amount from kpi_rep_weekly "
            "where owner_id = $owner and week_start = $week",
            {"owner": owner_id, "week": week},
        ).fetchone()
    finally:
        con.close()


def test_incremental_runs_drop_archived_deals_and_quarantine_a_negative_amount(
    fresh_crm, tmp_path, monkeypatch
):
    point_at(monkeypatch, fresh_crm, tmp_path)
    assert run_pipeline(load_settings()).exit_code == ExitCode.PUBLISHED

    # A won deal archived in the CRM leaves the KPIs at the next (incremental) run.
    owners = {o["id"] for o in fresh_crm.crm.owners}
    won = next(
        d
        for d in fresh_crm.crm.live("deals")
        if d["properties"]["dealstage"] == "closedwon"
        and d["properties"]["hubspot_owner_id"] in owners
        and home_amount(d["properties"])
    )
    owner, amount = won["properties"]["hubspot_owner_id"], home_amount(won["properties"])
    week = week_start(parse_time(won["properties"]["closedate"]), "UTC")
    deals_won, won_amount = won_in_week(tmp_path, owner, week)
    fresh_crm.crm.archive("deals", won["id"])
    outcome = run_pipeline(load_settings())
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    assert outcome.modes["deals"] == "incremental"
    after = won_in_week(tmp_path, owner, week)
    assert after[0] == deals_won - 1
    assert float(after[1]) == pytest.approx(float(won_amount) - amount)

    # dbt's uniqueness test of an incremental staging table checks the rows the last build
    # restaged (the archived deal) against the whole table: an older version of that deal left
    # beside it fails the test.
    assert dbt_test(tmp_path, "stg_hubspot__deals").returncode == 0
    stale = "select * replace (staged_at - interval 1 day as staged_at) from {} where deal_id = $id"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(
            "insert into staging.stg_hubspot__deals " + stale.format("staging.stg_hubspot__deals"),
            {"id": won["id"]},
        )
    failed = dbt_test(tmp_path, "stg_hubspot__deals")
    assert failed.returncode == 1
    assert "FAIL 1 unique_among_restaged_stg_hubspot__deals_deal_id" in failed.stdout
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute(
            "delete from staging.stg_hubspot__deals where deal_id = $id and staged_at < "
            "(select max(staged_at) from staging.stg_hubspot__deals)",
            {"id": won["id"]},
        )

    # A negative amount on an open deal is a record-level problem: the deal is quarantined and
    # left out of the open pipeline, and the run still publishes.
    open_deal = next(
        d for d in fresh_crm.crm.live("deals") if d["properties"]["hs_is_closed"] == "false"
    )
    stage = (open_deal["properties"]["pipeline"], open_deal["properties"]["dealstage"])
    fresh_crm.crm.update(
        "deals", open_deal["id"], {"amount": "-999999999", "amount_in_home_currency": None}
    )
    outcome = run_pipeline(load_settings())

    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    assert outcome.quarantined_records == 1
    expected = open_pipeline(
        {"deals": [d for d in fresh_crm.crm.objects["deals"] if d["id"] != open_deal["id"]]},
        fresh_crm.crm.pipelines,
    )
    con = duckdb.connect(str(tmp_path / "kpi.duckdb"), read_only=True)
    try:
        listed = con.execute("select object_type, record_id, issue from kpi_data_issues").fetchall()
        open_deals = con.execute(
            "select open_deals from kpi_open_pipeline where pipeline_id = $p and stage_id = $s",
            {"p": stage[0], "s": stage[1]},
        ).fetchall()
    finally:
        con.close()
    assert listed == [("deals", open_deal["id"], "negative_amount")]
    published_open_deals = float(open_deals[0][0]) if open_deals else 0.0
    assert published_open_deals == expected.get(stage, {}).get("open_deals", 0.0)


def test_each_kind_of_dbt_data_test_fails_on_a_table_broken_its_way(
    demo_crm, published_run, tmp_path, monkeypatch
):
    # A copy of the published run's warehouse, broken once per kind of test the build runs.
    data_dir = published_run.data_dir
    shutil.copy(data_dir / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    point_at(monkeypatch, demo_crm, tmp_path, timezone="Europe/Berlin")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        first_row = "rowid = (select min(rowid) from marts.kpi_rep_weekly)"
        con.execute(f"update marts.kpi_rep_weekly set calls = null where {first_row}")
        con.execute(
            "update marts.kpi_rep_weekly set owner_id = 'no-such-owner' where rowid = "
            "(select max(rowid) from marts.kpi_rep_weekly)"
        )
        # A rep's second week goes missing: the weeks are no longer dense.
        con.execute(
            """
            delete from marts.kpi_rep_weekly where (owner_id, week_start) = (
                select (owner_id, week_start) from marts.kpi_rep_weekly
                where owner_id != 'no-such-owner'
                qualify row_number() over (partition by owner_id order by week_start) = 2
                order by owner_id limit 1
            )
            """
        )
        # The pipeline stages are a view: point it at a copy with a duplicate and a bad row.
        con.execute("create table staging.stages as select * from staging.stg_hubspot__deal_stages")
        con.execute(
            "update staging.stages set probability = 1.5, stage_id = null "
            "where rowid = (select max(rowid) from staging.stages)"
        )
        con.execute(
            "create or replace view staging.stg_hubspot__deal_stages as select * from "
            "staging.stages union all (select * from staging.stages order by rowid limit 1)"
        )

    result = dbt_test(tmp_path, "kpi_rep_weekly stg_hubspot__deal_stages")

    assert result.returncode == 1
    failed = set(re.findall(r" FAIL \d+ (\w+)", result.stdout))
    for test in [
        "not_null_columns_kpi_rep_weekly_",
        "relationships_kpi_rep_weekly_owner_id__owner_id__ref_dim_reps_",
        "assert_kpi_rep_weekly_is_dense",
        "unique_combination_of_columns_stg_hubspot__deal_stages_pipeline_id__stage_id",
        "not_null_stg_hubspot__deal_stages_stage_id",
        "accepted_range_stg_hubspot__deal_stages_probability__1__0",
    ]:
        assert any(name.startswith(test) for name in failed), (test, failed)


def test_a_dbt_build_keeps_only_the_newest_run_folders(
    demo_crm, published_run, tmp_path, monkeypatch
):
    # dagster-dbt writes a folder per build into dbt's target: older ones must not pile up.
    data_dir = published_run.data_dir
    shutil.copy(data_dir / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    point_at(monkeypatch, demo_crm, tmp_path, timezone="Europe/Berlin")
    target = DBT_PROJECT_DIR / "target"
    planted = [target / f"kpi_models-planted-{n}" for n in range(KEPT_DBT_RUN_FOLDERS + 1)]
    try:
        for age, folder in enumerate(reversed(planted)):
            folder.mkdir(parents=True)
            (folder / "dbt.log").write_text("an old build\n")
            os.utime(folder, (1_600_000_000 - age, 1_600_000_000 - age))

        result = materialize(
            [kpi_models],
            selection=[AssetKey(["marts", "dim_teams"])],
            resources={"dbt": dbt_cli},
        )

        assert result.success
        folders = list(target.glob("kpi_models-*"))
        assert len(folders) == KEPT_DBT_RUN_FOLDERS
        assert any(f.name.startswith(f"kpi_models-{result.run_id[:7]}-") for f in folders)
        assert not planted[0].exists()  # the oldest go first
    finally:
        for folder in planted:
            shutil.rmtree(folder, ignore_errors=True)


def dbt_test(data_dir: Path, select: str) -> subprocess.CompletedProcess:
    """`dbt test` of the models in `select`, on the warehouse the pipeline built in data_dir."""
    paths = ["--profiles-dir", str(DBT_PROJECT_DIR), "--project-dir", str(DBT_PROJECT_DIR)]
    paths += ["--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs")]
    return subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "test", "--select", select, *paths],
        env=os.environ | load_settings().dbt_environment(),
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )
