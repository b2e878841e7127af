"""The raw layer as Dagster assets: one asset per CRM object, synced in one step.

One step, not one per object, because DuckDB takes one writer at a time: the step owns the
warehouse connection while threads fetch the objects in parallel within one request budget.
The assets are those of the CRM that CRM_KPI_CRM selects. The step also loads the quotas file
into the warehouse, where dbt reads it (a server warehouse cannot read the pipeline's files).
"""

from datetime import UTC, datetime

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    multi_asset,
)

from .checks import prepare_validation
from .crm_sources import CrmSource
from .progress import sync_progress
from .settings import load_settings
from .warehouse import (
    QUOTAS_TABLE,
    claim_for_crm,
    connect_warehouse,
    load_quotas,
    record_crm_counts,
)

RAW_GROUP = "raw"
SYNC_STEP = "crm_sync"


class SyncConfig(Config):
    full_refresh: bool = False
    """Fetch every record again instead of what changed since the last sync (also finds records
    deleted outright, which leave no trace in an incremental sync)."""


def raw_asset_key(object_name: str) -> AssetKey:
    return AssetKey(["raw", object_name])


def crm_sync_asset(crm: CrmSource, warehouse: str = "duckdb"):
    """The raw assets of `crm`, synced in one step into a `warehouse` (its engine's name)."""

    @multi_asset(
        specs=[
            AssetSpec(
                raw_asset_key(name),
                description=f"{crm.label} {name.replace('_', ' ')}, live and deleted, as the API "
                "returned them (one row per record id).",
                group_name=RAW_GROUP,
                kinds={crm.name, warehouse},
                # An object the org lacks (CurrencyType in a single-currency org) is not synced.
                skippable=True,
            )
            for name in crm.objects
        ]
        + [
            AssetSpec(
                raw_asset_key(QUOTAS_TABLE),
                description="The quotas file (CRM_KPI_QUOTAS) as dbt reads it: owner_email, "
                "quarter, quota_amount, text as written; no rows without a file.",
                group_name=RAW_GROUP,
                kinds={"csv", warehouse},
            )
        ],
        can_subset=True,
        name=SYNC_STEP,
    )
    def crm_sync(context: AssetExecutionContext, config: SyncConfig):
        settings = load_settings()
        prepare_validation()  # the quality checks follow; the sync mostly waits on the CRM
        selected = [n for n in crm.objects if raw_asset_key(n) in context.selected_asset_keys]
        synced_at = datetime.now(UTC)
        with connect_warehouse(settings) as wh, sync_progress(context.log) as progress:
            claim_for_crm(wh, crm.name)
            # Always: dbt reads the table whichever raw assets a run selects.
            quotas = load_quotas(wh, settings.quotas)
            results, crm_counts = crm.sync(
                settings, wh, selected, synced_at, config.full_refresh, progress
            )
            # What the CRM itself counts, for the crm_reconciliation check.
            record_crm_counts(wh, crm_counts, synced_at)
        if raw_asset_key(QUOTAS_TABLE) in context.selected_asset_keys:
            yield MaterializeResult(
                asset_key=raw_asset_key(QUOTAS_TABLE), metadata={"quotas": quotas}
            )
        for result in results:
            yield MaterializeResult(
                asset_key=raw_asset_key(result.object_name),
                metadata={
                    "mode": result.mode,
                    "fetched": result.fetched,
                    "pages": result.pages,
                    "records": result.records,
                    "archived_records": result.archived_records,
                    **(
                        {"crm_live_records": crm_counts[result.object_name]}
                        if result.object_name in crm_counts
                        else {}
                    ),
                },
            )

    return crm_sync
