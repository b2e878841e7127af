"""dbt's own data tests can fail: each kind the build runs, on a copy of the small warehouse broken
its way; and a build's folder is kept under the data directory, only the newest ones."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from dagster import AssetKey, materialize

from pipelines.dbt_assets import DBT_PROJECT_DIR, KEPT_DBT_RUN_FOLDERS, dbt_cli, kpi_models_for
from pipelines.settings import load_settings

from .conftest import PUBLISHED_TIMEZONE


def dbt_test(data_dir: Path, select: str) -> subprocess.CompletedProcess:
    """`dbt test` of the models in `select`, on the warehouse in data_dir."""
    paths = ["--profiles-dir", str(DBT_PROJECT_DIR), "--project-dir", str(DBT_PROJECT_DIR)]
    paths += ["--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs")]
    return subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "test", "--select", select, *paths],
        env=os.environ | load_settings().dbt_environment(),
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
    )


def replace_view(con, relation: str, break_it: str) -> None:
    """Point the view `relation` at a copy of its rows, broken by the SQL `break_it` on {copy}."""
    schema, name = relation.split(".")
    copy = f"{schema}.broken_{name}"
    con.execute(f"create table {copy} as select * from {relation}")
    con.execute(break_it.format(copy=copy))
    con.execute(f"create or replace view {relation} as select * from {copy}")


def test_each_kind_of_dbt_data_test_fails_on_a_table_broken_its_way(
    small_warehouse, tmp_path, monkeypatch
):
    shutil.copy(small_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("CRM_KPI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRM_KPI_TIMEZONE", PUBLISHED_TIMEZONE)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
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
        # The contract's models are views: each pointed at a copy broken its way.
        replace_view(
            con,
            "crm.crm_pipeline_stages",
            "update {copy} set default_probability = 1.5, stage_id = null "
            "where rowid = (select max(rowid) from {copy}); "
            "insert into {copy} select * from {copy} where stage_id is not null limit 1",
        )
        replace_view(con, "crm.crm_owners", "insert into {copy} select * from {copy} limit 1")
        replace_view(con, "crm.crm_teams", "update {copy} set team_id = null")
        replace_view(
            con,
            "crm.crm_activities",
            "update {copy} set activity_type = 'fax' where rowid = (select min(rowid) from {copy})",
        )
        replace_view(
            con,
            "crm.crm_deals",
            "update {copy} set owner_id = '999999' where rowid = (select min(rowid) from {copy})",
        )
        # An older version of a deal left beside the one the last build restaged.
        con.execute(
            "insert into staging.stg_hubspot__deals select * replace "
            "(staged_at - interval 1 day as staged_at) from staging.stg_hubspot__deals "
            "where staged_at = (select max(staged_at) from staging.stg_hubspot__deals) limit 1"
        )

    result = dbt_test(
        tmp_path,
        "kpi_rep_weekly crm_pipeline_stages crm_owners crm_teams crm_activities crm_deals "
        "stg_hubspot__deals",
    )

    assert result.returncode == 1
    failed = set(re.findall(r" FAIL \d+ (\w+)", result.stdout))
    for test in [
        "relationships_kpi_rep_weekly_owner_id__owner_id__ref_dim_reps_",
        "assert_kpi_rep_weekly_is_dense",
        "unique_combination_of_columns_crm_pipeline_stages_pipeline_id__stage_id",
        "not_null_columns_crm_pipeline_stages_",
        "accepted_range_crm_pipeline_stages_default_probability__1__0",
        "unique_crm_owners_owner_id",
        "not_null_crm_teams_team_id",
        "accepted_values_crm_activities_activity_type__call__email__meeting__task",
        "unique_among_restaged_stg_hubspot__deals_deal_id",
    ]:
        assert any(name.startswith(test) for name in failed), (test, failed)
    # An owner the CRM does not list only warns: the deal is quarantined, not the run.
    warned = set(re.findall(r" WARN \d+ (\w+)", result.stdout))
    assert any(n.startswith("relationships_crm_deals_owner_id") for n in warned), warned


def test_a_dbt_build_keeps_only_the_newest_run_folders(small_warehouse, tmp_path, monkeypatch):
    # Every build writes a folder (compiled SQL, dbt.log) under the data directory: older ones
    # must not pile up.
    shutil.copy(small_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    monkeypatch.setenv("CRM_KPI_DATA_DIR", str(tmp_path))
    runs_dir = load_settings().dbt_runs_dir
    planted = [runs_dir / f"planted-{n}" for n in range(KEPT_DBT_RUN_FOLDERS + 1)]
    for age, folder in enumerate(reversed(planted)):
        folder.mkdir(parents=True)
        (folder / "dbt.log").write_text("an old build\n")
        os.utime(folder, (1_600_000_000 - age, 1_600_000_000 - age))

    result = materialize(
        [kpi_models_for("hubspot")],
        selection=[AssetKey(["marts", "dim_teams"])],
        resources={"dbt": dbt_cli},
    )

    assert result.success
    folders = {f.name for f in runs_dir.iterdir()}
    assert len(folders) == KEPT_DBT_RUN_FOLDERS
    assert result.run_id in folders and (runs_dir / result.run_id / "dbt.log").exists()
    assert not planted[0].exists()  # the oldest go first
    assert not list((DBT_PROJECT_DIR / "target").glob(f"*{result.run_id[:7]}*"))


def test_a_dbt_command_starts_one_process_and_opens_no_adapter_here(tmp_path, monkeypatch):
    # dagster-dbt would first run `dbt --version` and open a dbt adapter in this process: 3.5 s
    # of each build that nothing here uses (pipelines.dbt_assets.DbtCli).
    started = []
    popen = subprocess.Popen

    def counted(args, **kwargs):
        started.append(args)
        return popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counted)
    invocation = dbt_cli.cli(["debug", "--config-dir"], target_path=tmp_path)
    invocation.wait()
    monkeypatch.undo()
    assert [args[1:] for args in started] == [["debug", "--config-dir"]]
    assert invocation.adapter is None
    # The version it assumes is the one of the dbt it runs.
    version = subprocess.run([dbt_cli.dbt_executable, "--version"], capture_output=True, text=True)
    assert f"installed: {dbt_cli._cli_version}" in version.stdout
