"""Which requests bring an object's records: everything (list endpoints) or what changed (search).

Each function yields pages of records shaped as the list endpoints return them, so the loader
never needs to know where a record came from.
"""

from collections.abc import Iterator
from datetime import datetime

import orjson

from ..raw_sync import Page
from .client import HubSpotClient
from .objects import CrmObject

LIST_PAGE_SIZE = 100  # the list endpoints' maximum
SEARCH_PAGE_SIZE = 200  # search's maximum


def all_records(
    client: HubSpotClient, obj: CrmObject, properties: tuple[str, ...], archived: bool
) -> Iterator[Page]:
    """Every live (or every archived) record, with associations, through the list endpoint."""
    if archived and not obj.lists_archived:
        return
    params: dict[str, str | int] = {"archived": str(archived).lower()}
    if obj.searchable:  # owners and pipelines: short lists with their own page sizes
        params["limit"] = LIST_PAGE_SIZE
    if properties:
        params["properties"] = ",".join(properties)
    if obj.associations:
        params["associations"] = ",".join(obj.associations)
    for page, text in client.paginate(obj.path, params):
        yield Page(len(page.get("results", [])), text)


def changed_records(
    client: HubSpotClient, obj: CrmObject, properties: tuple[str, ...], since: datetime
) -> Iterator[Page]:
    """Live records modified at or after `since`, through search, paged by id (keyset).

    Search refuses to page past 10,000 results, and its offset cursor skips records when an
    earlier one leaves the result set while we page. Asking each time for ids above the last one
    seen avoids both: every query starts at offset 0, also when more than 10,000 records share one
    modification time. `since` is inclusive, so a record modified in the watermark's own
    millisecond is fetched again rather than lost; the merge de-duplicates by id.
    """
    since_ms = str(int(since.timestamp() * 1000))
    last_id: str | None = None
    after: str | None = None
    while True:
        filters = [{"propertyName": obj.cursor_property, "operator": "GTE", "value": since_ms}]
        if last_id is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": last_id})
        body = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": SEARCH_PAGE_SIZE,
        }
        if after is not None:
            body["after"] = after
        page = client.request("POST", f"{obj.path}/search", json=body)
        records = page.get("results", [])
        if records:
            attach_associations(client, obj, records)
            yield Page(len(records), orjson.dumps({"results": records}).decode())
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return
        if records:
            last_id, after = records[-1]["id"], None
        # else: a short, empty page that still has more; follow its cursor once.


def attach_associations(client: HubSpotClient, obj: CrmObject, records: list[dict]) -> None:
    """Search returns no associations: read them in one batch per associated type."""
    for to_type in obj.associations:
        answer = client.request(
            "POST",
            f"/crm/v4/associations/{obj.name}/{to_type}/batch/read",
            json={"inputs": [{"id": r["id"]} for r in records]},
        )
        linked = {
            str(row["from"]["id"]): [{"id": str(to["toObjectId"])} for to in row.get("to", [])]
            for row in answer.get("results", [])
        }
        for record in records:
            if linked.get(record["id"]):
                record.setdefault("associations", {})[to_type] = {"results": linked[record["id"]]}
