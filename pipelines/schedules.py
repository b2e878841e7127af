"""When runs happen, and the alarm when the CRM stops reaching the warehouse."""

import warnings
from datetime import timedelta

from dagster import (
    AssetSelection,
    RunConfig,
    ScheduleDefinition,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    define_asset_job,
)

from .crm_sources import CrmSource
from .settings import load_settings
from .sync_assets import RAW_GROUP, SYNC_STEP, SyncConfig, raw_asset_key

# sync -> dbt build -> checks -> publish, as one run.
crm_kpi_run = define_asset_job(
    "crm_kpi_run",
    selection=AssetSelection.all(),
    description="Sync the CRM into the warehouse, build the KPI marts, check them, publish.",
)
# The whole run with every record fetched again, preset for the UI's launchpad (the hourly
# job's launchpad offers the same switch as ops.crm_sync.config.full_refresh).
crm_kpi_full_refresh = define_asset_job(
    "crm_kpi_full_refresh",
    selection=AssetSelection.all(),
    config=RunConfig(ops={SYNC_STEP: SyncConfig(full_refresh=True)}),
    description="Fetch every record from the CRM again, then build, check and publish.",
)
# The raw layer alone, for engineers and benchmarks (`crm-kpi sync`).
crm_kpi_sync = define_asset_job(
    "crm_kpi_sync",
    selection=AssetSelection.groups(RAW_GROUP),
    description="Sync the CRM into the warehouse's raw layer only.",
)

hourly_kpi_run = ScheduleDefinition(
    name="hourly_kpi_run",
    job=crm_kpi_run,
    cron_schedule="0 * * * *",
    description=("Incremental: only records changed since the last sync, with their deletions."),
)
# Incremental syncs see deleted records, but not records deleted outright (HubSpot's GDPR
# deletions and archive purged after 90 days, Salesforce's recycle bin emptied after 15 days):
# once a night, fetch everything again.
nightly_full_run = ScheduleDefinition(
    name="nightly_full_run",
    job=crm_kpi_run,
    cron_schedule="30 2 * * *",
    run_config=RunConfig(ops={SYNC_STEP: SyncConfig(full_refresh=True)}),
    description="Full refresh of the raw layer, then the KPIs: sweeps out deleted records.",
)


# A raw table not refreshed for CRM_KPI_MAX_SYNC_AGE_HOURS means the hourly runs are failing or
# stopped. The setting is read when the definitions load, so the daemon and the UI see a change
# once the code location is reloaded.
# Dagster 1.12 supersedes freshness checks with FreshnessPolicy, which is still a preview that
# must be switched on per instance; the checks work everywhere and show in the UI as checks.
def raw_freshness(crm: CrmSource) -> tuple[list, object]:
    """Freshness checks on `crm`'s raw assets, and the sensor that alarms on them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is superseded.*")
        checks = build_last_update_freshness_checks(
            assets=[raw_asset_key(name) for name in crm.objects],
            lower_bound_delta=timedelta(hours=load_settings().max_sync_age_hours),
        )
        sensor = build_sensor_for_freshness_checks(
            freshness_checks=checks, name="raw_freshness_sensor"
        )
    return list(checks), sensor
