"""The Dagster code location: assembles assets, checks, jobs, schedules and sensors for the CRM
that CRM_KPI_CRM selects.

Runs the UI and the daemon launch execute with CRM_KPI_EXECUTOR's executor: in_process (every
step in the run's process, one after another) or celery (each step a task for the Celery
workers listening on CRM_KPI_CELERY_BROKER; docs/operations.md, "Steps beyond one process").
`crm-kpi run` always runs in its own process (`execute_in_process`), whatever the setting.
"""

import warnings
from functools import cache

from dagster import (
    AssetChecksDefinition,
    BetaWarning,
    Definitions,
    ExecutorDefinition,
    executor,
    in_process_executor,
    multiple_process_executor_requirements,
)

from .checks import quality_checks
from .crm_sources import CRM_SOURCES
from .dbt_assets import dbt_cli, kpi_models_for
from .ownership import with_owners
from .publish import published_kpi_file
from .report_asset import kpi_report
from .run_lock import LOCK_RESOURCE, HoldingTheWarehouse, WarehouseLock, holds_the_warehouse
from .schedules import (
    crm_kpi_full_refresh,
    crm_kpi_run,
    crm_kpi_sync,
    hourly_kpi_run,
    nightly_full_run,
    raw_freshness,
)
from .settings import ConfigError, Settings, load_settings
from .sync_assets import crm_sync_asset


@cache
def build_definitions(crm: str) -> Definitions:
    """Everything Dagster runs for `crm` (hubspot or salesforce)."""
    source = CRM_SOURCES[crm]
    freshness_checks, freshness_sensor = raw_freshness(source)
    settings = load_settings()
    warehouse = settings.warehouse
    assets = [
        crm_sync_asset(source, warehouse),
        kpi_models_for(crm),
        published_kpi_file,
        kpi_report,
    ]
    # Every step that reads or writes the warehouse holds its lock for the whole run (see
    # run_lock.py); the freshness checks only read Dagster's event log.
    return Definitions(
        assets=[a.with_hooks({holds_the_warehouse}) for a in with_owners(assets)],
        asset_checks=[*_holding_the_lock(quality_checks), *freshness_checks],
        jobs=[crm_kpi_run, crm_kpi_full_refresh, crm_kpi_sync],
        schedules=[hourly_kpi_run, nightly_full_run],
        sensors=[freshness_sensor],
        resources={"dbt": dbt_cli, LOCK_RESOURCE: WarehouseLock()},
        executor=executor_for(settings),
    )


def executor_for(settings: Settings) -> ExecutorDefinition:
    """The executor of runs the UI and the daemon launch (CRM_KPI_EXECUTOR)."""
    if settings.executor == "in_process":
        return in_process_executor
    try:
        from dagster_celery.executor import CELERY_CONFIG, celery_executor
    except ImportError:
        raise ConfigError(
            "CRM_KPI_EXECUTOR=celery needs dagster-celery: pip install 'crm-kpi[service]'"
        ) from None

    @executor(
        name="celery",
        config_schema=CELERY_CONFIG,
        requirements=multiple_process_executor_requirements(),
    )
    def celery_holding_the_warehouse(init_context):
        # Each step initializes its resources in its worker: the run's own process holds the
        # warehouse for the whole run instead (run_lock.py).
        return HoldingTheWarehouse(celery_executor.executor_creation_fn(init_context))

    broker = settings.celery_broker
    return celery_holding_the_warehouse.configured({"broker": broker, "backend": broker})


def _holding_the_lock(checks: list[AssetChecksDefinition]) -> list[AssetChecksDefinition]:
    # with_hooks returns a plain AssetsDefinition; Dagster would convert it back at every load,
    # warning that the conversion passes a beta parameter (execution_type). Convert it once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        return [
            AssetChecksDefinition(**c.with_hooks({holds_the_warehouse}).get_attributes_dict())
            for c in checks
        ]


defs = build_definitions(load_settings().crm)
