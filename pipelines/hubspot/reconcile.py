"""How many live records the CRM says it has, for reconciling the warehouse against it.

Kept apart from the sync: it is one search request per object after the sync, and the sync's own
fetching never depends on it.
"""

from collections.abc import Callable
from datetime import datetime

from .client import HubSpotClient
from .objects import CrmObject

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


def count_crm_records(
    make_client: Callable[[], HubSpotClient], objects: list[CrmObject], synced_at: datetime
) -> dict[str, int]:
    """Per searchable object, HubSpot's count of live records created before `synced_at`."""
    with make_client() as client:
        return {
            obj.name: count_live_records(client, obj, synced_at)
            for obj in objects
            if obj.searchable
        }
