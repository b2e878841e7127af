"""The Dagster code location: assembles assets, checks, jobs, schedules and sensors."""

from dagster import Definitions, in_process_executor

from .checks import quality_checks
from .dbt_assets import dbt_cli, kpi_models
from .ownership import with_owners
from .publish import published_kpi_file
from .report_asset import kpi_report
from .schedules import (
    crm_kpi_full_refresh,
    crm_kpi_run,
    crm_kpi_sync,
    hourly_kpi_run,
    nightly_full_run,
    raw_freshness_checks,
    raw_freshness_sensor,
)
from .sync_assets import hubspot_sync

defs = Definitions(
    assets=with_owners([hubspot_sync, kpi_models, published_kpi_file, kpi_report]),
    asset_checks=[*quality_checks, *raw_freshness_checks],
    jobs=[crm_kpi_run, crm_kpi_full_refresh, crm_kpi_sync],
    schedules=[hourly_kpi_run, nightly_full_run],
    sensors=[raw_freshness_sensor],
    resources={"dbt": dbt_cli},
    # DuckDB takes one writer process at a time: run steps one after another in one process.
    executor=in_process_executor,
)
