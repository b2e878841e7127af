"""The raw layer as Dagster assets: one asset per CRM object, synced in one step.

One step, not one per object, because DuckDB takes one writer at a time: the step owns the
warehouse connection while threads fetch the objects in parallel within one request budget.
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
from .hubspot.client import client_factory
from .hubspot.objects import CRM_OBJECTS
from .hubspot.reconcile import record_crm_counts
from .hubspot.sync import sync_crm
from .progress import sync_progress
from .settings import load_settings
from .warehouse import connect

RAW_GROUP = "raw"


class SyncConfig(Config):
    full_refresh: bool = False
    """Fetch every record again instead of what changed since the last sync (also finds records
    deleted outright, which leave no trace in HubSpot's archived listing)."""


def raw_asset_key(object_name: str) -> AssetKey:
    return AssetKey(["raw", object_name])


@multi_asset(
    specs=[
        AssetSpec(
            raw_asset_key(obj.name),
            description=f"HubSpot {obj.name.replace('_', ' ')}, live and archived, as the API "
            "returned them (one row per record id).",
            group_name=RAW_GROUP,
            kinds={"hubspot", "duckdb"},
            skippable=True,
        )
        for obj in CRM_OBJECTS
    ],
    can_subset=True,
    name="hubspot_sync",
)
def hubspot_sync(context: AssetExecutionContext, config: SyncConfig):
    settings = load_settings()
    prepare_validation()  # the quality checks follow; the sync mostly waits on the CRM
    selected = [o for o in CRM_OBJECTS if raw_asset_key(o.name) in context.selected_asset_keys]
    synced_at = datetime.now(UTC)
    make_client = client_factory(settings)
    with connect(settings.warehouse_path) as con, sync_progress(context.log) as progress:
        results = sync_crm(
            make_client,
            con,
            selected,
            synced_at=synced_at,
            full_refresh=config.full_refresh,
            extra_properties=settings.extra_properties,
            progress=progress,
        )
        # What the CRM itself counts, for the crm_reconciliation check.
        crm_counts = record_crm_counts(make_client, con, selected, synced_at)
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
