"""The demo CRM's records as plain data, and the deterministic generator that builds them.

Records look like the API's objects with every property filled in:
`{id, properties, createdAt, updatedAt, archived, archivedAt, associations: {type: [ids]}}`.
Tests compute expected KPIs straight from these.
"""

import gc
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .accounts import build_companies, build_contacts, id_sequence, new_record
from .activity import DraftEngagement, Linker, build_engagements
from .catalog import CREATED_PROPERTY, ENGAGEMENT_TYPES, MODIFIED_PROPERTY, OBJECT_TYPES
from .clock import Dice, from_ms, iso, parse_instant, quarter_start_ms, to_ms
from .deals import DraftDeal, build_deals
from .org import build_org, build_pipelines

ARCHIVED_SHARE = 0.015
# Deal ids cross a digit boundary, which exposes clients that sort ids as strings.
DEAL_ID_BASE = 9_999_995_001
ENGAGEMENT_ID_BASE = 41_000_000_001  # one id space for all engagements, as in HubSpot


@dataclass(eq=False)
class DemoCrm:
    """All demo records. Hold `lock` while reading if another thread may mutate."""

    seed: int
    now: datetime
    owners: list[dict]
    pipelines: list[dict]
    objects: dict[str, list[dict]]  # per type, sorted by numeric id
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        self._index = {t: {r["id"]: r for r in recs} for t, recs in self.objects.items()}
        self._property_names: dict[str, set[str]] = {}

    def property_names(self, object_type: str) -> set[str]:
        """Every property the type defines: search may filter on these, others are rejected."""
        names = self._property_names.get(object_type)
        if names is None:
            names = {n for r in self.objects[object_type] for n in r["properties"]}
            self._property_names[object_type] = names
        return names

    def get(self, object_type: str, record_id: str) -> dict | None:
        return self._index[object_type].get(record_id)

    def live(self, object_type: str) -> list[dict]:
        return [r for r in self.objects[object_type] if not r["archived"]]

    def update(
        self, object_type: str, record_id: str, properties: dict, at: datetime | None = None
    ) -> dict:
        """Change properties as a CRM user would; bumps the modified time like HubSpot does."""
        with self.lock:
            record = self._index[object_type][record_id]
            stamp = self._stamp(record, at)
            self._property_names.pop(object_type, None)
            record["properties"].update(properties)
            record["properties"][MODIFIED_PROPERTY[object_type]] = stamp
            record["updatedAt"] = stamp
            return record

    def archive(self, object_type: str, record_id: str, at: datetime | None = None) -> dict:
        """Delete a record the HubSpot way: it moves to `archived=true` listings."""
        with self.lock:
            record = self.update(object_type, record_id, {}, at)
            record["archived"], record["archivedAt"] = True, record["updatedAt"]
            return record

    def create(
        self,
        object_type: str,
        properties: dict,
        associations: dict[str, list[str]] | None = None,
        at: datetime | None = None,
    ) -> dict:
        """Add a record with the next id; associations are stored both ways."""
        with self.lock:
            records = self.objects[object_type]
            new_id = str(max((int(r["id"]) for r in records), default=1000) + 1)
            stamp = iso(to_ms(at or datetime.now(UTC)))
            props = dict(properties)
            props[CREATED_PROPERTY[object_type]] = stamp
            props[MODIFIED_PROPERTY[object_type]] = stamp
            props["hs_object_id"] = new_id
            record = new_record(new_id, props, stamp, stamp)
            records.append(record)
            self._index[object_type][new_id] = record
            self._property_names.pop(object_type, None)
            for other_type, ids in (associations or {}).items():
                record["associations"][other_type] = sorted(ids, key=int)
                for other_id in ids:
                    links = self._index[other_type][other_id]["associations"]
                    links.setdefault(object_type, []).append(new_id)
            return record

    def _stamp(self, record: dict, at: datetime | None) -> str:
        # Never move the modified time backwards, even if the caller's clock does.
        wanted = to_ms(at or datetime.now(UTC))
        previous = parse_instant(record["updatedAt"]) or 0
        return iso(max(wanted, previous + 1))


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
    # The build allocates ~200k small objects; collector passes in between only cost time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(seed, to_ms(now or datetime.now(UTC)), deals, activity_scale)
    finally:
        if collecting:
            gc.enable()


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
        created, updated = iso(draft.created), iso(draft.updated)
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
