"""The Dagster code location: assembles assets, checks, the run job and its schedule."""

from dagster import (
    AssetSelection,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    in_process_executor,
)

from .checks import quality_checks
from .dbt_assets import dbt_cli, kpi_models
from .publish import published_kpi_file
from .sync_assets import hubspot_sync

# sync -> dbt build -> checks -> publish, as one run.
crm_kpi_run = define_asset_job(
    "crm_kpi_run",
    selection=AssetSelection.all(),
    description=(
        "Sync HubSpot into the warehouse, build the KPI marts, check them, publish kpi.duckdb."
    ),
)

defs = Definitions(
    assets=[hubspot_sync, kpi_models, published_kpi_file],
    asset_checks=quality_checks,
    jobs=[crm_kpi_run],
    schedules=[
        ScheduleDefinition(job=crm_kpi_run, cron_schedule="0 * * * *", name="hourly_kpi_run")
    ],
    resources={"dbt": dbt_cli},
    # DuckDB takes one writer process at a time: run steps one after another in one process.
    executor=in_process_executor,
)
