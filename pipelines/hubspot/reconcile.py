"""How many live records the CRM says it has, for reconciling the warehouse against it.

Kept apart from the sync: it is one search request per object after the sync, and the sync's own
fetching never depends on it.
"""

from collections.abc import Callable
from datetime import datetime

import duckdb

from ..warehouse import RAW_SCHEMA
from .client import HubSpotClient
from .objects import CrmObject

CRM_COUNTS_TABLE = f"{RAW_SCHEMA}._crm_counts"

# The create-date property search filters on: engagements name it hs_createdate.
_CREATED_PROPERTY = {"contacts": "createdate", "companies": "createdate", "deals": "createdate"}


def created_property(obj: CrmObject) -> str:
    return _CREATED_PROPERTY.get(obj.name, "hs_createdate")


def count_live_records(client: HubSpotClient, obj: CrmObject, created_before: datetime) -> int:
    """Live records created before `created_before`, as search's `total` reports them.

    Counting only records created before the sync started keeps records created while we sync
    and count out of the comparison, on both sides.
    """
    created_ms = str(int(created_before.timestamp() * 1000))
    filters = [{"propertyName": created_property(obj), "operator": "LT", "value": created_ms}]
    page = client.request(
        "POST",
        f"{obj.path}/search",
        json={"filterGroups": [{"filters": filters}], "properties": ["hs_object_id"], "limit": 1},
    )
    return int(page["total"])


def ensure_crm_counts_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        create table if not exists {CRM_COUNTS_TABLE} (
            object_name varchar primary key,
            -- live records created before created_before, as the CRM's search counts them
            crm_live_records bigint not null,
            created_before timestamptz not null,
            counted_at timestamptz not null
        )
        """
    )


def record_crm_counts(
    make_client: Callable[[], HubSpotClient],
    con: duckdb.DuckDBPyConnection,
    objects: list[CrmObject],
    synced_at: datetime,
) -> dict[str, int]:
    """Store, per searchable object, the CRM's count of live records created before `synced_at`.

    Returns:
        The counts, per object name.
    """
    ensure_crm_counts_table(con)
    counts = {}
    with make_client() as client:
        for obj in (o for o in objects if o.searchable):
            counts[obj.name] = count_live_records(client, obj, synced_at)
            con.execute(
                f"insert or replace into {CRM_COUNTS_TABLE} values ($name, $n, $before, now())",
                {"name": obj.name, "n": counts[obj.name], "before": synced_at},
            )
    return counts
