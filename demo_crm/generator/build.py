"""The generator's entry point: a whole sales org's CRM, deterministic for the same arguments.

Companies and contacts (accounts.py), reps in teams (org.py), deals with their stage history
(deals.py, stages.py) and each rep's activity (activity.py) become the records of a `DemoCrm`,
linked both ways and with a few of every type archived.
"""

import gc
from datetime import UTC, datetime

from ..catalog import ENGAGEMENT_TYPES, MODIFIED_PROPERTY, OBJECT_TYPES
from ..clock import Dice, from_ms, iso, parse_instant, quarter_start_ms, to_ms
from ..store import DemoCrm, new_record
from .accounts import build_companies, build_contacts, id_sequence
from .activity import DraftEngagement, Linker, build_engagements
from .deals import DraftDeal, build_deals
from .org import build_org, build_pipelines
from .stages import add_history

ARCHIVED_SHARE = 0.015
# Deal ids cross a digit boundary, which exposes clients that sort ids as strings.
DEAL_ID_BASE = 9_999_995_001
ENGAGEMENT_ID_BASE = 41_000_000_001  # one id space for all engagements, as in HubSpot


def generate_demo_data(
    seed: int = 7,
    now: datetime | None = None,
    deals: int = 3000,
    activity_scale: float = 1.0,
) -> DemoCrm:
    """Build a sales org's CRM: identical output for the same arguments.

    Deals are created from the start of the quarter two before `now`'s up to `now`;
    `activity_scale` multiplies the engagements per rep and working day.
    """
    # The build allocates millions of small objects; collector passes in between only cost time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        crm = _generate(seed, to_ms(now or datetime.now(UTC)), deals, activity_scale)
    finally:
        # Records hold no reference cycles, so reference counting frees them; freezing keeps the
        # collector from walking them all (a pause of seconds at a million records) later.
        gc.freeze()
        if collecting:
            gc.enable()
    return crm


def _generate(seed: int, now_ms: int, deal_count: int, activity_scale: float) -> DemoCrm:
    rng = Dice(seed)
    window_start = quarter_start_ms(now_ms, 2)
    owners, reps = build_org(window_start, now_ms)
    companies = build_companies(rng, max(3, deal_count // 3), window_start, now_ms)
    contacts = build_contacts(rng, companies, now_ms)
    by_company: dict[str, list[str]] = {}
    for contact in contacts:
        by_company.setdefault(contact["associations"]["companies"][0], []).append(contact["id"])

    company_created = [parse_instant(c["createdAt"]) for c in companies]
    names = [c["properties"]["name"] for c in companies]
    drafts = build_deals(rng, deal_count, reps, company_created, names, window_start, now_ms)
    # A stream of its own: stage history came later, and the rest of the data stays as it was.
    history_rng = Dice(f"{seed}:stages")
    for draft in drafts:
        add_history(history_rng, draft.properties, draft.created, draft.end, draft.updated)
    deals = _deal_records(rng, drafts, companies, by_company)
    _own_accounts(rng, companies, contacts, deals, [r.owner_id for r in reps if not r.active_until])

    deal_company = [r["associations"]["companies"][0] for r in deals]
    linker = Linker(rng, deal_company, [c["id"] for c in companies], company_created, by_company)
    activities = build_engagements(
        rng, reps, [d.spans for d in drafts], linker, window_start, now_ms, activity_scale
    )
    engagements = _engagement_records(rng, activities, deals)

    objects = {"deals": deals, **engagements, "contacts": contacts, "companies": companies}
    for object_type in OBJECT_TYPES:
        _archive_some(rng, object_type, objects[object_type], now_ms)
    _link_back(objects)
    return DemoCrm(seed, from_ms(now_ms), owners, build_pipelines(window_start), objects)


def _deal_records(
    rng: Dice, drafts: list[DraftDeal], companies: list[dict], by_company: dict[str, list[str]]
) -> list[dict]:
    records = []
    for draft, deal_id in zip(drafts, id_sequence(rng, DEAL_ID_BASE), strict=False):
        company_id = companies[draft.company_index]["id"]
        draft.properties["hs_object_id"] = deal_id
        record = new_record(deal_id, draft.properties, iso(draft.created), iso(draft.updated))
        record["associations"]["companies"] = [company_id]
        if by_company.get(company_id):
            record["associations"]["contacts"] = [rng.choice(by_company[company_id])]
        records.append(record)
    return records


def _own_accounts(
    rng: Dice, companies: list[dict], contacts: list[dict], deals: list[dict], reps: list[str]
) -> None:
    """A company belongs to whoever first sold to it (else mostly someone); contacts follow."""
    owner_by_company = {}
    for deal in deals:
        owner_by_company.setdefault(
            deal["associations"]["companies"][0], deal["properties"]["hubspot_owner_id"]
        )
    for company in companies:
        owner = owner_by_company.get(company["id"])
        if owner is None and rng.random() < 0.7:
            owner = rng.choice(reps)
        company["properties"]["hubspot_owner_id"] = owner_by_company[company["id"]] = owner
    for contact in contacts:
        owner = owner_by_company[contact["associations"]["companies"][0]]
        contact["properties"]["hubspot_owner_id"] = owner


def _engagement_records(
    rng: Dice, activities: list[DraftEngagement], deals: list[dict]
) -> dict[str, list[dict]]:
    activities.sort(key=lambda e: e.created)
    engagements: dict[str, list[dict]] = {kind: [] for kind in ENGAGEMENT_TYPES}
    for draft, eng_id in zip(activities, id_sequence(rng, ENGAGEMENT_ID_BASE), strict=False):
        props = draft.properties
        created = iso(draft.created)
        # Most are never edited: one string for both saves ~70 bytes a record at scale.
        updated = created if draft.updated == draft.created else iso(draft.updated)
        props["hs_createdate"], props["hs_lastmodifieddate"] = created, updated
        props["hs_object_id"] = eng_id
        record = new_record(eng_id, props, created, updated)
        links = record["associations"]
        if draft.deal is not None:
            links["deals"] = [deals[draft.deal]["id"]]
        if draft.contacts:
            links["contacts"] = draft.contacts
        if draft.companies:
            links["companies"] = draft.companies
        engagements[draft.kind].append(record)
    return engagements


def _archive_some(rng: Dice, object_type: str, records: list[dict], now_ms: int) -> None:
    modified = MODIFIED_PROPERTY[object_type]
    for record in records:
        if rng.random() < ARCHIVED_SHARE:
            at = iso(rng.randint(parse_instant(record["updatedAt"]), now_ms))
            record["properties"][modified] = record["updatedAt"] = record["archivedAt"] = at
            record["archived"] = True


def _link_back(objects: dict[str, list[dict]]) -> None:
    """HubSpot associations go both ways: a call linked to a deal is listed on the deal too."""
    forward = {
        object_type: [(r["id"], tuple(r["associations"].items())) for r in records]
        for object_type, records in objects.items()
    }
    index = {t: {r["id"]: r["associations"] for r in recs} for t, recs in objects.items()}
    # Sources are walked in id order, so every back-link list comes out sorted.
    for object_type, records in forward.items():
        for record_id, links in records:
            for other_type, ids in links:
                for other_id in ids:
                    index[other_type][other_id].setdefault(object_type, []).append(record_id)
