"""Copy CRM objects into the raw layer: fetch page by page, then swap in one transaction.

Pages are staged in a load table as they arrive, so memory holds one page, and the raw table
and its sync state change together or not at all: a crash mid-fetch leaves the last sync intact.
"""

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from ..warehouse import RAW_SCHEMA, SYNC_STATE_TABLE, ensure_raw_schema, ensure_raw_table
from .client import HubSpotClient
from .objects import CrmObject

log = logging.getLogger(__name__)

LOAD_SCHEMA = "_loading"
PAGE_LIMIT = 100  # the most HubSpot's list endpoints return per page


@dataclass(frozen=True)
class SyncResult:
    object_name: str
    records: int
    archived_records: int
    pages: int


def fetch_pages(client: HubSpotClient, obj: CrmObject) -> Iterator[list[dict]]:
    """Every record of `obj`, live and archived (HubSpot lists archived ones only on request)."""
    if obj.name == "deal_pipelines":
        yield from client.paginate(obj.path)
        return
    params: dict[str, str | int] = {"limit": PAGE_LIMIT}
    if obj.properties:
        params["properties"] = ",".join(obj.properties)
    if obj.associations:
        params["associations"] = ",".join(obj.associations)
    for archived in ("false", "true"):
        yield from client.paginate(obj.path, {**params, "archived": archived})


def sync_object(
    client: HubSpotClient,
    con: duckdb.DuckDBPyConnection,
    obj: CrmObject,
    synced_at: datetime,
    on_page: Callable[[int], None] | None = None,
) -> SyncResult:
    """Replace `raw.<obj.name>` with everything the CRM holds now.

    Args:
        on_page: called with the record count of each page, for progress reporting.
    """
    ensure_raw_schema(con)
    ensure_raw_table(con, obj.name)
    con.execute(f"create schema if not exists {LOAD_SCHEMA}")
    load_table = f"{LOAD_SCHEMA}.{obj.name}"
    con.execute(
        f"create or replace table {load_table} "
        "(id varchar, updated_at varchar, archived boolean, record varchar)"
    )
    pages = 0
    for records in fetch_pages(client, obj):
        pages += 1
        if records:
            con.register("page", _page_table(records))
            con.execute(f"insert into {load_table} select * from page")
            con.unregister("page")
        if on_page:
            on_page(len(records))

    con.begin()
    try:
        con.execute(f"delete from {RAW_SCHEMA}.{obj.name}")
        # A record can show up twice when it changes while we page; its newest version wins.
        con.execute(
            f"""
            insert into {RAW_SCHEMA}.{obj.name}
            select id, updated_at::timestamptz, archived, record::json, $synced_at
            from {load_table}
            qualify row_number() over (
                partition by id order by updated_at::timestamptz desc nulls last, archived desc
            ) = 1
            """,
            {"synced_at": synced_at},
        )
        records, archived = con.execute(
            f"select count(*), count(*) filter (archived) from {RAW_SCHEMA}.{obj.name}"
        ).fetchone()
        con.execute(
            f"insert or replace into {SYNC_STATE_TABLE} values ($name, $synced_at, $n, $archived)",
            {"name": obj.name, "synced_at": synced_at, "n": records, "archived": archived},
        )
        con.execute(f"drop table {load_table}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    log.info("%s: %d records (%d archived) in %d pages", obj.name, records, archived, pages)
    return SyncResult(obj.name, records, archived, pages)


def _page_table(records: list[dict]) -> pa.Table:
    return pa.table(
        {
            "id": [str(r["id"]) for r in records],
            "updated_at": [r.get("updatedAt") for r in records],
            "archived": [bool(r.get("archived", False)) for r in records],
            "record": [json.dumps(r, separators=(",", ":")) for r in records],
        }
    )
