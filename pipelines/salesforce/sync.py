"""Which queries bring each Salesforce object's records into the raw layer, and its live counts.

One `queryAll` per object (deleted rows and archived activities included), filtered by
`SystemModstamp >=` the object's watermark and followed through `nextRecordsUrl` until `done`:
never `>` (rows share a second), never a locator kept across runs (a restart re-runs the query
from the committed watermark; the merge by id makes the repeats harmless).
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..crm_http import CrmError
from ..raw_sync import (
    ObjectSync,
    Page,
    RecordShape,
    SyncProgress,
    SyncTask,
    run_tasks,
    watermarks,
)
from ..warehouse import Warehouse, ensure_raw_schema
from .client import SalesforceClient
from .objects import SalesforceObject

log = logging.getLogger(__name__)

SHAPE = RecordShape(
    list_key="records", id="$.Id", changed=("$.SystemModstamp",), archived="$.IsDeleted"
)
# Salesforce purges its recycle bin after 15 days: an object not synced for longer may have lost
# deletions an incremental sync can no longer see, so it is read whole.
RECYCLE_BIN_DAYS = 15
# The objects whose live records the reconciliation compares with the CRM's own count.
COUNTED = ("opportunities", "opportunity_history", "tasks", "events", "accounts")


def soql_instant(at: datetime) -> str:
    """A SOQL datetime literal (UTC, unquoted), rounded down to the second: `>=` then re-reads
    at most a second more, never less."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select(obj: SalesforceObject, fields: list[str], since: datetime | None) -> str:
    conditions = [c for c in (obj.where, since and f"SystemModstamp >= {soql_instant(since)}") if c]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT {', '.join(fields)} FROM {obj.sobject}{where}"


def sync_salesforce(
    make_client: Callable[[], SalesforceClient],
    wh: Warehouse,
    objects: list[SalesforceObject],
    synced_at: datetime,
    lookback: timedelta,
    full_refresh: bool = False,
    extra_fields: dict[str, list[str]] | None = None,
    progress: SyncProgress | None = None,
    workers: int = 4,
) -> list[ObjectSync]:
    """Bring `raw.<object>` up to date with the org for each of `objects`.

    Args:
        synced_at: when this sync started; the next one re-reads changes from `lookback` before.
        extra_fields: custom fields to select too, per raw table name (`{"opportunities":
            ["Region__c"]}`); like every field, left out where the org lacks it.
    """
    ensure_raw_schema(wh)
    extra = extra_fields or {}
    marks = watermarks(wh)
    with make_client() as client:
        _log_allocation(client)
        described = {obj.name: client.describe(obj.sobject) for obj in objects}
    tasks = []
    for obj in objects:
        available = described[obj.name]
        if available is None:
            if obj.optional:
                continue  # CurrencyType in a single-currency org
            raise CrmError(
                f"Salesforce has no {obj.sobject} the integration user can read "
                "(docs/salesforce.md lists the permissions it needs)"
            )
        wanted = dict.fromkeys((*obj.fields, *extra.get(obj.name, ())))
        fields = [f for f in wanted if f in available]
        since = marks.get(obj.name)
        if (
            full_refresh
            or obj.reference
            or since is None
            or synced_at - since > timedelta(days=RECYCLE_BIN_DAYS) - lookback
        ):
            since = None
        soql = select(obj, fields, since)

        def stream(client: SalesforceClient, soql: str = soql):
            for page, text in client.query(soql):
                yield Page(len(page.get("records", [])), text)

        tasks.append(SyncTask(obj.name, [stream], SHAPE, since, watermark=synced_at - lookback))
    with wh.bounded_memory():
        run_tasks(tasks, make_client, wh, synced_at, progress or SyncProgress(), workers)
    return [t.result for t in tasks]


def _log_allocation(client: SalesforceClient) -> None:
    """Say what the org's daily allocation holds before the sync spends from it."""
    limits = client.limits()
    daily = (limits or {}).get("DailyApiRequests") or {}
    if "Max" in daily and "Remaining" in daily:
        log.info("Salesforce daily API requests: %s of %s left", daily["Remaining"], daily["Max"])
    else:
        # Without View Setup and Configuration: every answer's Sforce-Limit-Info still tells.
        log.info("Salesforce /limits is not readable; the allocation is followed per answer")


def count_live_records(
    make_client: Callable[[], SalesforceClient],
    objects: list[SalesforceObject],
    synced_at: datetime,
) -> dict[str, int]:
    """Per counted object, the org's live (not deleted) records created before `synced_at`:
    one `SELECT COUNT()` each, through queryAll so that archived activities count as in raw."""
    counts = {}
    with make_client() as client:
        for obj in (o for o in objects if o.name in COUNTED):
            soql = (
                f"SELECT COUNT() FROM {obj.sobject} "
                f"WHERE IsDeleted = false AND CreatedDate < {soql_instant(synced_at)}"
            )
            counts[obj.name] = client.count(soql)
    return counts
