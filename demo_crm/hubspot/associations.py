"""Associations v4: what a search result cannot carry, read per batch of ids or per record.

`POST /crm/v4/associations/{from}/{to}/batch/read` answers `{status, results: [{from: {id},
to: [{toObjectId, associationTypes}]}], startedAt, completedAt}`; `toObjectId` is a JSON number.
Inputs that are unknown, archived or have no live associations are left out of `results`
(HubSpot may list them under `errors` with HTTP 207; the demo keeps it to a plain 200).
"""

import time

from ..catalog import SINGULAR
from ..clock import iso

BATCH_INPUTS_MAX = 1_000
LIST_LIMIT_MAX = 500
# HubSpot-defined association type ids (its "association type ID values" table). Only deal to
# contact (3) and deal to company (341) are confirmed by public code; the rest follow the table.
TYPE_IDS = {
    ("deal", "contact"): 3,
    ("contact", "deal"): 4,
    ("contact", "company"): 279,
    ("company", "contact"): 280,
    ("deal", "company"): 341,
    ("company", "deal"): 342,
    ("company", "call"): 181,
    ("call", "company"): 182,
    ("company", "email"): 185,
    ("email", "company"): 186,
    ("company", "meeting"): 187,
    ("meeting", "company"): 188,
    ("company", "task"): 191,
    ("task", "company"): 192,
    ("contact", "call"): 193,
    ("call", "contact"): 194,
    ("contact", "email"): 197,
    ("email", "contact"): 198,
    ("contact", "meeting"): 199,
    ("meeting", "contact"): 200,
    ("contact", "task"): 203,
    ("task", "contact"): 204,
    ("deal", "call"): 205,
    ("call", "deal"): 206,
    ("deal", "email"): 209,
    ("email", "deal"): 210,
    ("deal", "meeting"): 211,
    ("meeting", "deal"): 212,
    ("deal", "task"): 215,
    ("task", "deal"): 216,
}
PRIMARY_COMPANY = {"deal": 5, "contact": 1}  # the first company is the primary one


def linked(crm, from_type: str, record: dict, to_type: str) -> list[dict]:
    """`to` entries of one record: its live associations of `to_type`, in id order."""
    source, target = SINGULAR[from_type], SINGULAR[to_type]
    plain = {"category": "HUBSPOT_DEFINED", "typeId": TYPE_IDS[source, target], "label": None}
    entries = []
    for index, other_id in enumerate(record["associations"].get(to_type, ())):
        if crm.get(to_type, other_id)["archived"]:
            continue
        types = [plain]
        if index == 0 and target == "company" and source in PRIMARY_COMPANY:
            primary = {"category": "HUBSPOT_DEFINED", "typeId": PRIMARY_COMPANY[source]}
            types = [primary | {"label": "Primary"}, plain]
        entries.append({"toObjectId": int(other_id), "associationTypes": types})
    return entries


def batch_read(crm, from_type: str, to_type: str, ids: list[str]) -> dict:
    started = iso(int(time.time() * 1000))
    results = []
    for record_id in dict.fromkeys(ids):
        record = crm.get(from_type, record_id)
        if record is None or record["archived"]:
            continue
        entries = linked(crm, from_type, record, to_type)
        if entries:
            results.append({"from": {"id": record_id}, "to": entries})
    return {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
