"""The Dagster code location: assembles assets, checks, jobs, schedules and sensors for the CRM
that CRM_KPI_CRM selects."""

from functools import cache

from dagster import Definitions, in_process_executor

from .checks import quality_checks
from .crm_sources import CRM_SOURCES
from .dbt_assets import dbt_cli, kpi_models_for
from .ownership import with_owners
from .publish import published_kpi_file
from .report_asset import kpi_report
from .schedules import (
    crm_kpi_full_refresh,
    crm_kpi_run,
    crm_kpi_sync,
    hourly_kpi_run,
    nightly_full_run,
    raw_freshness,
)
from .settings import load_settings
from .sync_assets import crm_sync_asset


@cache
def build_definitions(crm: str) -> Definitions:
    """Everything Dagster runs for `crm` (hubspot or salesforce)."""
    source = CRM_SOURCES[crm]
    freshness_checks, freshness_sensor = raw_freshness(source)
    return Definitions(
        assets=with_owners(
            [crm_sync_asset(source), kpi_models_for(crm), published_kpi_file, kpi_report]
        ),
        asset_checks=[*quality_checks, *freshness_checks],
        jobs=[crm_kpi_run, crm_kpi_full_refresh, crm_kpi_sync],
        schedules=[hourly_kpi_run, nightly_full_run],
        sensors=[freshness_sensor],
        resources={"dbt": dbt_cli},
        # DuckDB takes one writer process at a time: run steps one after another in one process.
        executor=in_process_executor,
    )


defs = build_definitions(load_settings().crm)
