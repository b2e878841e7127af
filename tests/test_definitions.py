"""The Dagster graph cannot drift silently: its assets, checks, job and schedule."""

from dagster import AssetKey, build_schedule_context

from pipelines.checks import quality_checks
from pipelines.definitions import defs
from pipelines.hubspot.objects import CRM_OBJECTS


def test_definitions_hold_the_whole_value_chain():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert {AssetKey(["raw", o.name]) for o in CRM_OBJECTS} <= keys
    assert {AssetKey(["marts", "kpi_rep_weekly"]), AssetKey(["marts", "kpi_open_pipeline"])} <= keys
    assert AssetKey(["published", "kpi_file"]) in keys
    # publishing waits for every mart and every quality model (the checks on them must pass)
    gated = {k for k in keys if k.path[0] in ("marts", "quality")}
    assert {k.path[0] for k in gated} == {"marts", "quality"}
    assert graph.get(AssetKey(["published", "kpi_file"])).parent_keys == gated
    # dbt sources are the sync's raw assets, not separate external assets
    assert graph.get(AssetKey(["staging", "stg_hubspot__deals"])).parent_keys == {
        AssetKey(["raw", "deals"])
    }


def test_quality_checks_are_blocking_asset_checks_on_their_assets():
    checks = {(k.asset_key, k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert (AssetKey(["quality", "qa_raw_records"]), "raw_records") in checks
    assert (AssetKey(["marts", "kpi_rep_weekly"]), "kpi_rep_weekly") in checks
    assert (AssetKey(["marts", "kpi_open_pipeline"]), "kpi_open_pipeline") in checks
    # the quality gate: quarantine share, reconciliation, row counts against the publication,
    # each on the quality model that computes what it validates
    assert (AssetKey(["quality", "qa_kpi_data_issues"]), "kpi_data_issues") in checks
    assert (AssetKey(["quality", "qa_crm_reconciliation"]), "crm_reconciliation") in checks
    won_amount = AssetKey(["quality", "qa_kpi_rep_weekly_won_amount"])
    assert (won_amount, "kpi_rep_weekly_won_amount") in checks
    assert (AssetKey(["marts", "kpi_rep_weekly"]), "kpi_row_counts") in checks
    for check in quality_checks:
        for spec in check.check_specs:
            assert spec.blocking


def test_the_run_job_its_schedules_and_the_freshness_alarm():
    job = defs.resolve_job_def("crm_kpi_run")
    hourly = defs.resolve_schedule_def("hourly_kpi_run")
    nightly = defs.resolve_schedule_def("nightly_full_run")
    assert hourly.job_name == nightly.job_name == job.name
    assert hourly.cron_schedule == "0 * * * *"
    config = nightly.evaluate_tick(build_schedule_context()).run_requests[0].run_config
    assert config["ops"]["crm_sync"]["config"] == {"full_refresh": True}
    sync_only = defs.resolve_job_def("crm_kpi_sync")
    assert {k.path[0] for k in sync_only.asset_layer.executable_asset_keys} == {"raw"}

    checks = {(k.asset_key, k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    for obj in CRM_OBJECTS:
        assert any(key == AssetKey(["raw", obj.name]) and "fresh" in name for key, name in checks)
    assert defs.resolve_sensor_def("raw_freshness_sensor")


def test_the_report_follows_publication_and_the_exposures_name_their_marts():
    import json

    from pipelines.dbt_assets import dbt_project_for

    graph = defs.resolve_asset_graph()
    report = graph.get(AssetKey(["report", "kpi_report"]))
    assert report.parent_keys == {AssetKey(["published", "kpi_file"])}
    assert report.group_name == "report" and report.owners and report.kinds
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners and node.description, key.to_user_string()
    full = defs.resolve_job_def("crm_kpi_full_refresh")
    assert full.run_config["ops"]["crm_sync"]["config"] == {"full_refresh": True}

    manifest = json.loads(dbt_project_for("hubspot").manifest_path.read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert exposures.keys() == {"kpi_report", "kpi_bi_file"}
    published_marts = {
        k.path[1]
        for k in graph.get(AssetKey(["published", "kpi_file"])).parent_keys
        if k.path[0] == "marts"
    }
    for exposure in exposures.values():
        depends_on = {node.split(".")[-1] for node in exposure["depends_on"]["nodes"]}
        assert depends_on and depends_on <= published_marts, exposure["name"]
    assert {n.split(".")[-1] for n in exposures["kpi_bi_file"]["depends_on"]["nodes"]} == (
        published_marts
    )


def test_salesforce_definitions_hold_its_raw_assets_and_the_same_marts():
    from pipelines.definitions import build_definitions
    from pipelines.salesforce.objects import SALESFORCE_OBJECTS

    graph = build_definitions("salesforce").resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert {AssetKey(["raw", o.name]) for o in SALESFORCE_OBJECTS} <= keys
    assert AssetKey(["raw", "deals"]) not in keys  # HubSpot's
    assert graph.get(AssetKey(["raw", "opportunities"])).kinds >= {"salesforce"}
    assert graph.get(AssetKey(["staging", "stg_salesforce__opportunities"])).parent_keys == {
        AssetKey(["raw", "opportunities"])
    }
    # One contract, the same marts and gate for every CRM.
    hubspot = defs.resolve_asset_graph().get_all_asset_keys()
    shared = {k for k in hubspot if k.path[0] in ("intermediate", "marts", "quality", "crm")}
    assert shared <= keys
    checks = {k.asset_key for k in graph.asset_check_keys}
    assert {AssetKey(["raw", o.name]) for o in SALESFORCE_OBJECTS} <= checks  # freshness
