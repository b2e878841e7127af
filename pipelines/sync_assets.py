"""The raw layer as Dagster assets: one asset per CRM object, synced in one step.

One step, not one per object, because DuckDB takes one writer at a time: the step owns the
warehouse connection while the objects are fetched.
"""

from datetime import UTC, datetime

from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, multi_asset

from .hubspot.client import HubSpotClient
from .hubspot.objects import CRM_OBJECTS
from .hubspot.sync import sync_object
from .settings import load_settings
from .warehouse import connect

RAW_GROUP = "raw"


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
def hubspot_sync(context: AssetExecutionContext):
    settings = load_settings()
    synced_at = datetime.now(UTC)
    selected = [o for o in CRM_OBJECTS if raw_asset_key(o.name) in context.selected_asset_keys]
    with (
        HubSpotClient(settings.hubspot_base_url, settings.access_token()) as client,
        connect(settings.warehouse_path) as con,
    ):
        for obj in selected:
            result = sync_object(client, con, obj, synced_at)
            context.log.info(
                f"{obj.name}: {result.records} records ({result.archived_records} archived), "
                f"{result.pages} pages"
            )
            yield MaterializeResult(
                asset_key=raw_asset_key(obj.name),
                metadata={
                    "records": result.records,
                    "archived_records": result.archived_records,
                    "pages": result.pages,
                },
            )
