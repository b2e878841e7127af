"""Which requests bring each HubSpot object's records into the raw layer (raw_sync.py does the
loading): whole on the first run, then only what changed, through search.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

from ..raw_sync import (
    ObjectSync,
    RecordShape,
    Stream,
    SyncProgress,
    SyncTask,
    run_tasks,
    stored_records,
    watermarks,
)
from ..warehouse import Warehouse, ensure_raw_schema
from .client import HubSpotClient
from .fetch import all_records, changed_records
from .objects import DEAL_PIPELINES, DEALS, REFERENCE_OBJECTS, CrmObject, stage_history_properties

# HubSpot's search index trails writes by seconds; each run re-reads this much before the last
# run's start, so a change indexed late is still picked up. The merge drops the repeats.
SEARCH_LAG_MARGIN = timedelta(minutes=5)
# An archived record's archivedAt can be later than its updatedAt: the later wins.
SHAPE = RecordShape(
    list_key="results", id="$.id", changed=("$.updatedAt", "$.archivedAt"), archived="$.archived"
)


def streams(obj: CrmObject, properties: tuple[str, ...], since: datetime | None) -> list[Stream]:
    """An object's independent page streams: everything, or what changed since `since`."""
    if since is None:
        found = [lambda client: all_records(client, obj, properties, archived=False)]
    else:
        found = [lambda client: changed_records(client, obj, properties, since)]
    if obj.lists_archived:
        # Search never returns archived records: the archived listing carries the deletions.
        found.append(lambda client: all_records(client, obj, properties, archived=True))
    return found


def sync_crm(
    make_client: Callable[[], HubSpotClient],
    wh: Warehouse,
    objects: list[CrmObject],
    synced_at: datetime,
    full_refresh: bool = False,
    extra_properties: dict[str, list[str]] | None = None,
    progress: SyncProgress | None = None,
    workers: int = 4,
) -> list[ObjectSync]:
    """Bring `raw.<object>` up to date with the CRM for each of `objects`.

    Args:
        make_client: a new client per fetching thread (sessions are not shared across threads).
        synced_at: when this sync started; the next one re-reads changes from shortly before it.
        full_refresh: fetch everything even where a watermark allows an incremental sync.
        extra_properties: custom properties to fetch, per object name.
    """
    ensure_raw_schema(wh)
    progress = progress or SyncProgress()
    extra = extra_properties or {}
    marks = watermarks(wh)

    def task(obj: CrmObject) -> SyncTask:
        properties = obj.properties + tuple(extra.get(obj.name, ()))
        if obj == DEALS:  # stage history, named after the stage ids the pipelines just told us
            properties += stage_history_properties(stored_records(wh, DEAL_PIPELINES.name))
        properties = tuple(dict.fromkeys(properties))
        since = marks.get(obj.name) if obj.searchable and not full_refresh else None
        return SyncTask(
            obj.name,
            streams(obj, properties, since),
            SHAPE,
            since,
            watermark=synced_at - SEARCH_LAG_MARGIN,
        )

    # Reference lists first: deals need the pipelines' stage ids.
    first = [o for o in objects if o in REFERENCE_OBJECTS]
    rest = [o for o in objects if o not in REFERENCE_OBJECTS]
    results = []
    with wh.bounded_memory():
        for batch in (first, rest):
            tasks = [task(o) for o in batch]
            run_tasks(tasks, make_client, wh, synced_at, progress, workers)
            results += [t.result for t in tasks]
    return results
