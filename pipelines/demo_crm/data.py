"""The demo CRM's records as plain data, and the deterministic generator that builds them.

Records look like the API's objects with every property filled in:
`{id, properties, createdAt, updatedAt, archived, archivedAt, associations: {type: [ids]}}`.
Tests compute expected KPIs straight from these. Deals also carry their stage history
(`hs_date_entered_<stage>` / `hs_date_exited_<stage>`, see stages.py).

The CRM changes through `update`, `create`, `archive`, `unarchive`, `touch` and
`simulate_day` (a day of selling, see selling.py); `now` is its simulated clock.
"""

import bisect
import gc
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .accounts import build_companies, build_contacts, id_sequence, new_record
from .activity import DraftEngagement, Linker, build_engagements
from .catalog import (
    CREATED_PROPERTY,
    ENGAGEMENT_TYPES,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    STAGE_HISTORY_PROPERTIES,
)
from .clock import Dice, from_ms, iso, parse_instant, quarter_start_ms, to_ms
from .deals import DraftDeal, build_deals
from .org import build_org, build_pipelines
from .stages import add_history

ARCHIVED_SHARE = 0.015
# Deal ids cross a digit boundary, which exposes clients that sort ids as strings.
DEAL_ID_BASE = 9_999_995_001
ENGAGEMENT_ID_BASE = 41_000_000_001  # one id space for all engagements, as in HubSpot
WRITE_LOG_MAX = 200_000


@dataclass(eq=False)
class DemoCrm:
    """All demo records. Hold `lock` while reading if another thread may mutate.

    Change records through the methods here: they bump the type's version (search caches and
    indexes key on it) and note the wall-clock write time (search index lag). After editing a
    record in place, call `changed(type, [record])` for search to see it.
    """

    seed: int
    now: datetime
    owners: list[dict]
    pipelines: list[dict]
    objects: dict[str, list[dict]]  # per type, sorted by numeric id
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        self._index = {t: {r["id"]: r for r in recs} for t, recs in self.objects.items()}
        self._property_names: dict[str, set[str]] = {}
        self._versions = dict.fromkeys(self.objects, 0)
        # Archived records per type in id order, so `archived=true` listings seek instead of scan.
        self._archived = {t: [r for r in recs if r["archived"]] for t, recs in self.objects.items()}
        # (version, wall-clock time, record) per write, oldest first: search indexes catch up
        # from it, and search's index lag trails it. A record of None stands for unknown edits.
        self._log: dict[str, list[tuple[int, float, dict | None]]] = {t: [] for t in self.objects}
        self._log_floor = dict.fromkeys(self.objects, 0)  # versions before it were dropped
        self._written_at: dict[str, dict[str, float]] = {t: {} for t in self.objects}
        self._last_id: dict[str, int] = {}
        self.wall_clock = time.time  # when writes happen, for search index lag; tests replace it

    def property_names(self, object_type: str) -> set[str]:
        """Every property the type defines: search may filter on these, others are rejected."""
        names = self._property_names.get(object_type)
        if names is None:
            names = {n for r in self.objects[object_type] for n in r["properties"]}
            if object_type == "deals":
                names.update(STAGE_HISTORY_PROPERTIES)
            self._property_names[object_type] = names
        return names

    def get(self, object_type: str, record_id: str) -> dict | None:
        return self._index[object_type].get(record_id)

    def live(self, object_type: str) -> list[dict]:
        return [r for r in self.objects[object_type] if not r["archived"]]

    def archived_records(self, object_type: str) -> list[dict]:
        """Archived records of a type in id order (do not modify the list)."""
        return self._archived[object_type]

    def version(self, object_type: str) -> int:
        """Goes up on every write to the type; caches of search results key on it."""
        return self._versions[object_type]

    def changed(self, object_type: str, records: Iterable[dict] | None = None) -> None:
        """Note a write: search caches drop, and the records count as just written (index lag).

        Without `records`, search indexes of the type are rebuilt from scratch.
        """
        version = self._versions[object_type] = self._versions[object_type] + 1
        wall = self.wall_clock()
        log, written_at = self._log[object_type], self._written_at[object_type]
        names = self._property_names.get(object_type)
        if records is None:
            log.append((version, wall, None))
        for record in records or ():
            log.append((version, wall, record))
            written_at[record["id"]] = wall
            if names is not None:
                names.update(record["properties"])
        if len(log) > WRITE_LOG_MAX:
            # Indexes that far behind rebuild, and index lag needs only the last seconds.
            del log[: len(log) // 2]
            self._log_floor[object_type] = log[0][0]

    def changes_since(self, object_type: str, version: int) -> list[dict] | None:
        """Records written after `version` (oldest first, repeats kept); None if not known."""
        log = self._log[object_type]
        if version < self._log_floor[object_type]:
            return None
        records = [entry[2] for entry in log[bisect.bisect_right(log, version, key=_version) :]]
        return None if any(r is None for r in records) else records  # type: ignore[return-value]

    def written_at(self, object_type: str, record_id: str) -> float | None:
        """Wall-clock time (`wall_clock()`, i.e. time.time()) of the record's last write, if any."""
        return self._written_at[object_type].get(record_id)

    def recently_written(self, object_type: str, seconds: float) -> set[str]:
        """Ids written less than `seconds` of wall-clock time ago."""
        cutoff = self.wall_clock() - seconds
        ids = set()
        for _version, wall, record in reversed(self._log[object_type]):
            if wall <= cutoff:
                break
            if record is not None:
                ids.add(record["id"])
        return ids

    def update(
        self, object_type: str, record_id: str, properties: dict, at: datetime | None = None
    ) -> dict:
        """Change properties as a CRM user would; bumps the modified time like HubSpot does."""
        with self.lock:
            record = self._index[object_type][record_id]
            stamp = self._stamp(record, at)
            record["properties"].update(properties)
            record["properties"][MODIFIED_PROPERTY[object_type]] = stamp
            record["updatedAt"] = stamp
            self.changed(object_type, [record])
            return record

    def touch(self, object_type: str, ids: Iterable[str], at: datetime) -> None:
        """Give many records exactly the same modified time `at` (even if earlier than before).

        For tests of many records sharing one millisecond; nothing else changes.
        """
        stamp = iso(to_ms(at))
        modified = MODIFIED_PROPERTY[object_type]
        with self.lock:
            records = [self._index[object_type][i] for i in ids]
            for record in records:
                record["properties"][modified] = record["updatedAt"] = stamp
            self.changed(object_type, records)

    def archive(self, object_type: str, record_id: str, at: datetime | None = None) -> dict:
        """Delete a record the HubSpot way: it moves to `archived=true` listings."""
        with self.lock:
            record = self.update(object_type, record_id, {}, at)
            if not record["archived"]:
                bisect.insort(self._archived[object_type], record, key=_numeric_id)
            record["archived"], record["archivedAt"] = True, record["updatedAt"]
            return record

    def unarchive(self, object_type: str, record_id: str, at: datetime | None = None) -> dict:
        """Restore an archived record (HubSpot's restore): live again, with a new modified time."""
        with self.lock:
            record = self._index[object_type][record_id]
            if record["archived"]:
                archived = self._archived[object_type]
                del archived[bisect.bisect_left(archived, int(record_id), key=_numeric_id)]
                record["archived"], record["archivedAt"] = False, None
            return self.update(object_type, record_id, {}, at)

    def create(
        self,
        object_type: str,
        properties: dict,
        associations: dict[str, list[str]] | None = None,
        at: datetime | None = None,
        id_step: int = 1,
    ) -> dict:
        """Add a record with the next id (plus `id_step - 1`); associations are stored both ways."""
        with self.lock:
            new_id = self._next_id(object_type, id_step)
            stamp = iso(to_ms(at or datetime.now(UTC)))
            props = dict(properties)
            props[CREATED_PROPERTY[object_type]] = stamp
            props[MODIFIED_PROPERTY[object_type]] = stamp
            props["hs_object_id"] = new_id
            record = new_record(new_id, props, stamp, stamp)
            self.objects[object_type].append(record)  # the largest id, so still in id order
            self._index[object_type][new_id] = record
            for other_type, ids in (associations or {}).items():
                record["associations"][other_type] = sorted(ids, key=int)
                for other_id in ids:
                    links = self._index[other_type][other_id]["associations"]
                    links.setdefault(object_type, []).append(new_id)
            self.changed(object_type, [record])
            return record

    def simulate_day(self, at: datetime | None = None, change_share: float = 0.01) -> dict:
        """A day of selling up to `at` (default: a day after `now`); see `selling.simulate_day`."""
        from .selling import simulate_day

        return simulate_day(self, at, change_share)

    def _next_id(self, object_type: str, step: int) -> str:
        # Engagements share one id space, as in HubSpot.
        space = ENGAGEMENT_TYPES if object_type in ENGAGEMENT_TYPES else (object_type,)
        key = space[0]
        last = self._last_id.get(key)
        if last is None:
            last = max(
                (int(self.objects[t][-1]["id"]) for t in space if self.objects[t]), default=1000
            )
        self._last_id[key] = last + max(1, step)
        return str(last + max(1, step))

    def _stamp(self, record: dict, at: datetime | None) -> str:
        # Never move the modified time backwards, even if the caller's clock does.
        wanted = to_ms(at or datetime.now(UTC))
        previous = parse_instant(record["updatedAt"]) or 0
        return iso(max(wanted, previous + 1))


def _numeric_id(record: dict) -> int:
    return int(record["id"])


def _version(entry: tuple) -> int:
    return entry[0]


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
