"""A day of selling: what a sales org changes in its CRM in one day, for incremental syncs to find.

About `change_share` of each type's live records change: most deal changes are stage moves
(closing some as won or lost) and amount edits on open deals, plus new deals; engagements are
mostly new calls, emails, meetings and tasks by active reps about their open deals; a few records
of every type are archived. Changes happen in the reps' working hours where the day has any,
else anywhere in it, and never after `at`.
"""

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .catalog import (
    ENGAGEMENT_TYPES,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LIFECYCLE_STAGES,
    OBJECT_TYPES,
    TEAMS,
)
from .clock import MS_DAY, MS_HOUR, MS_MINUTE, Dice, from_ms, iso, parse_instant, to_ms
from .generator.accounts import company_name
from .generator.activity import MAKERS, NO_DEAL_SHARE
from .generator.deals import EUR_TO_USD, make_deal
from .generator.org import Rep
from .generator.stages import add_history, next_stage, set_stage
from .store import DemoCrm

# Of a type's changes: (created, updated, archived) weights.
CHANGE_MIX = {
    "deals": (20, 75, 5),
    "contacts": (20, 75, 5),
    "companies": (15, 80, 5),
} | {kind: (80, 15, 5) for kind in ENGAGEMENT_TYPES}
STAGE_MOVE_SHARE = 0.6  # of deal updates; the rest edit the amount
CLOSE_SHARE = 0.3  # of stage moves that close the deal; moves from the last open stage always do
RECENT_SHARE = 0.25  # engagement edits touch the newest quarter of records (by id)
Edit = Callable[[Dice, dict, int], dict]  # (rng, current properties, when) → changes
_START_HOUR = {team_id: hour for team_id, _name, hour, _members in TEAMS}


@dataclass
class Day:
    crm: DemoCrm
    rng: Dice
    start: int  # changes happen in (start, end]
    end: int
    reps: list[str]
    windows: dict[str, list[tuple[int, int]]]  # working hours per rep inside the day
    changes: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def when(self, owner_id: str | None) -> int:
        """A moment in the day, in the owner's working hours if they work in it."""
        windows = self.windows.get(owner_id or "")
        if windows:
            lo, hi = self.rng.choice(windows)
            return self.rng.randint(lo, hi)
        return self.rng.randint(self.start + 1, self.end)

    def update(self, object_type: str, record: dict, edit: Edit) -> None:
        """Change what `edit` says at a moment of the owner's day."""
        at = self.when(record["properties"].get("hubspot_owner_id"))
        self.crm.update(
            object_type, record["id"], edit(self.rng, record["properties"], at), from_ms(at)
        )
        self.changes[object_type]["updated"].append(record["id"])

    def create(self, object_type: str, props: dict, links: dict, at: int) -> dict:
        step = self.rng.randint(1, 3)  # real ids increase with gaps
        record = self.crm.create(object_type, props, links, from_ms(at), id_step=step)
        self.changes[object_type]["created"].append(record["id"])
        return record

    def archive(self, object_type: str, records: list[dict], count: int) -> None:
        for record in self.rng.sample(records, min(count, len(records))):
            at = self.when(record["properties"].get("hubspot_owner_id"))
            self.crm.archive(object_type, record["id"], from_ms(at))
            self.changes[object_type]["archived"].append(record["id"])


def simulate_day(crm: DemoCrm, at: datetime | None = None, change_share: float = 0.01) -> dict:
    """Apply a day of changes up to `at` (default: a day after now); `crm.now` moves there.

    Returns the changed ids, `{type: {"created": [ids], "updated": [ids], "archived": [ids]}}`
    for every object type. Deterministic for the same CRM state, seed and `at`.
    """
    if not 0 <= change_share <= 1:
        raise ValueError(f"change_share must be between 0 and 1, got {change_share}")
    with crm.lock:
        now_ms = to_ms(crm.now)
        end = to_ms(at) if at is not None else now_ms + MS_DAY
        if end <= now_ms:
            raise ValueError(f"simulate_day needs a time after now ({crm.now}), got {at}")
        start = max(now_ms, end - MS_DAY)
        reps = [o["id"] for o in crm.owners if not o["archived"]]
        day = Day(crm, Dice(f"{crm.seed}:{end}"), start, end, reps, _work_windows(crm, start, end))
        day.changes = {t: {"created": [], "updated": [], "archived": []} for t in OBJECT_TYPES}
        for object_type in ("companies", "contacts", "deals", *ENGAGEMENT_TYPES):
            live = crm.live(object_type)
            count = int(len(live) * change_share + day.rng.random())
            mix = CHANGE_MIX[object_type]
            kinds = day.rng.choices(("created", "updated", "archived"), weights=mix, k=count)
            wanted = {kind: kinds.count(kind) for kind in ("created", "updated", "archived")}
            _STEPS[object_type](day, live, wanted)
        crm.now = from_ms(end)
        return day.changes


def _work_windows(crm: DemoCrm, start: int, end: int) -> dict[str, list[tuple[int, int]]]:
    windows = {}
    for owner in crm.owners:
        if owner["archived"] or not owner.get("teams"):
            continue
        team = owner["teams"][0]["id"]
        rep = Rep(owner["id"], team, _START_HOUR.get(team, 14), 0, None)
        spans = []
        day = start - start % MS_DAY
        while day <= end:
            if (day // MS_DAY + 3) % 7 < 5 and (hours := rep.hours(day)) is not None:
                lo, hi = max(hours[0], start + 1), min(hours[1], end)
                if lo <= hi:
                    spans.append((lo, hi))
            day += MS_DAY
        windows[owner["id"]] = spans
    return windows


def _untouched(day: Day, object_type: str, records: list[dict]) -> list[dict]:
    done = set(day.changes[object_type]["updated"])
    return [r for r in records if r["id"] not in done] if done else records


def _companies(day: Day, live: list[dict], wanted: dict[str, int]) -> None:
    rng = day.rng
    for company in rng.sample(live, min(wanted["updated"], len(live))):
        day.update("companies", company, _edit_company)
    taken = {c["properties"]["name"] for c in day.crm.objects["companies"]}
    for _ in range(wanted["created"]):
        name = company_name(rng, 0)
        attempt = 0
        while name in taken:
            attempt += 1
            name = company_name(rng, attempt)
        taken.add(name)
        owner = rng.choice(day.reps) if rng.random() < 0.7 else None
        props = {
            "name": name,
            "domain": name.lower().replace(" ", "") + ".example",
            "industry": rng.choice(INDUSTRIES),
            "hubspot_owner_id": owner,
        }
        day.create("companies", props, {}, day.when(owner))
    day.archive("companies", _untouched(day, "companies", live), wanted["archived"])


def _contacts(day: Day, live: list[dict], wanted: dict[str, int]) -> None:
    rng, crm = day.rng, day.crm
    for contact in rng.sample(live, min(wanted["updated"], len(live))):
        day.update("contacts", contact, _edit_contact)
    companies = crm.live("companies")
    taken = {c["properties"]["email"] for c in crm.objects["contacts"]}
    for _ in range(wanted["created"] if companies else 0):
        company = rng.choice(companies)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = "".join(ch for ch in f"{first}.{last}".lower() if ch.isalnum() or ch == ".")
        domain = company["properties"]["domain"]
        email, attempt = f"{local}@{domain}", 1
        while email in taken:
            email, attempt = f"{local}{attempt}@{domain}", attempt + 1
        taken.add(email)
        owner = company["properties"].get("hubspot_owner_id")
        props = {
            "firstname": first,
            "lastname": last,
            "email": email,
            "lifecyclestage": rng.choice(("subscriber", "lead", "lead")),
            "hubspot_owner_id": owner,
        }
        day.create("contacts", props, {"companies": [company["id"]]}, day.when(owner))
    day.archive("contacts", _untouched(day, "contacts", live), wanted["archived"])


def _deals(day: Day, live: list[dict], wanted: dict[str, int]) -> None:
    rng = day.rng
    open_deals = [d for d in live if d["properties"]["hs_is_closed"] == "false"]
    for deal in rng.sample(open_deals, min(wanted["updated"], len(open_deals))):
        day.update("deals", deal, _stage_move if rng.random() < STAGE_MOVE_SHARE else _amount_edit)
    _new_deals(day, wanted["created"])
    day.archive("deals", _untouched(day, "deals", live), wanted["archived"])


def _stage_move(rng: Dice, props: dict, at: int) -> dict:
    moved = {k: props.get(k) for k in ("dealstage", "pipeline")}
    set_stage(moved, next_stage(rng, props, CLOSE_SHARE), iso(at))
    if moved["hs_is_closed"] == "false" and (parse_instant(props["closedate"]) or 0) < at:
        # Reps push an overdue close date out when the deal moves on.
        moved["closedate"] = iso(at + rng.randint(14, 45) * MS_DAY)
    return moved


def _amount_edit(rng: Dice, props: dict, _at: int) -> dict:
    # Deals without an amount get one; others are renegotiated up or down.
    base = float(props["amount"]) if props.get("amount") else rng.randint(20, 200) * 100
    amount = max(100, int(round(base * rng.uniform(0.8, 1.25), -1)))
    if props.get("deal_currency_code") == "EUR":
        return {"amount": str(amount), "amount_in_home_currency": f"{amount * EUR_TO_USD:.2f}"}
    return {"amount": str(amount), "amount_in_home_currency": str(amount)}


def _new_deals(day: Day, count: int) -> None:
    rng, crm = day.rng, day.crm
    companies = sorted(crm.live("companies"), key=lambda c: c["createdAt"])
    if not companies or not day.reps:
        return
    created_ms = [parse_instant(c["createdAt"]) for c in companies]
    names = [c["properties"]["name"] for c in companies]
    by_id = {o["id"]: o for o in crm.owners}
    for _ in range(count):
        owner = by_id[rng.choice(day.reps)]
        team = owner["teams"][0]["id"] if owner.get("teams") else ""
        rep = Rep(owner["id"], team, _START_HOUR.get(team, 14), 0, None)
        at = day.when(rep.owner_id)
        draft = make_deal(rng, at, rep, created_ms, names, at)
        add_history(rng, draft.properties, at, None, at)
        company = companies[draft.company_index]
        links = {"companies": [company["id"]]}
        contacts = _live_links(crm, company, "contacts")
        if contacts:
            links["contacts"] = [rng.choice(contacts)]
        day.create("deals", draft.properties, links, at)


def _live_links(crm: DemoCrm, record: dict, other: str) -> list[str]:
    return [i for i in record["associations"].get(other, ()) if not crm.get(other, i)["archived"]]


def _engagements(kind: str) -> Callable[[Day, list[dict], dict[str, int]], None]:
    def step(day: Day, live: list[dict], wanted: dict[str, int]) -> None:
        recent = live[-max(1, int(len(live) * RECENT_SHARE)) :] if live else []
        for record in day.rng.sample(recent, min(wanted["updated"], len(recent))):
            day.update(kind, record, _EDITS[kind])
        _new_engagements(day, kind, wanted["created"])
        day.archive(kind, _untouched(day, kind, live), wanted["archived"])

    return step


def _new_engagements(day: Day, kind: str, count: int) -> None:
    rng, crm = day.rng, day.crm
    if not day.reps or not count:
        return
    open_by_owner: dict[str, list[dict]] = {}
    for deal in crm.live("deals"):
        if deal["properties"]["hs_is_closed"] == "false":
            open_by_owner.setdefault(deal["properties"]["hubspot_owner_id"], []).append(deal)
    for deals in open_by_owner.values():
        deals.sort(key=lambda d: d["createdAt"])  # deals created today are out of id order
    companies = crm.live("companies")
    for _ in range(count):
        owner = rng.choice(day.reps)
        at = day.when(owner)
        if kind in ("meetings", "tasks") and rng.random() < 0.6:
            moment = at + rng.randint(MS_HOUR, 10 * MS_DAY)  # planned ahead
        else:
            moment = at - rng.randint(0, 30 * MS_MINUTE)  # logged once done
        _created, _updated, props = MAKERS[kind](rng, moment, at)
        props["hubspot_owner_id"] = owner
        links: dict[str, list[str]] = {}
        # Only deals that exist by then: some of the rep's deals are created later today.
        deals = open_by_owner.get(owner, [])
        existing = bisect.bisect_right(deals, iso(at), key=lambda d: d["createdAt"])
        if existing and rng.random() >= NO_DEAL_SHARE[kind]:
            deal = deals[rng.randint(0, existing - 1)]
            links["deals"] = [deal["id"]]
            company_ids = _live_links(crm, deal, "companies")
            company = crm.get("companies", company_ids[0]) if company_ids else None
        elif kind == "tasks" and rng.random() < 0.5:
            company = None  # an internal to-do
        else:
            company = rng.choice(companies) if companies else None
        if company is not None:
            links["companies"] = [company["id"]]
            contacts = _live_links(crm, company, "contacts")
            if contacts:
                links["contacts"] = [rng.choice(contacts)]
        day.create(kind, props, links, at)


def _edit_company(rng: Dice, _props: dict, _at: int) -> dict:
    return {"industry": rng.choice(INDUSTRIES)}


def _edit_contact(_rng: Dice, props: dict, _at: int) -> dict:
    # Contacts move up the funnel, up to customer.
    stage = props.get("lifecyclestage")
    index = LIFECYCLE_STAGES.index(stage) if stage in LIFECYCLE_STAGES else 0
    customer = LIFECYCLE_STAGES.index("customer")
    return {"lifecyclestage": LIFECYCLE_STAGES[index + 1] if index < customer else stage}


def _edit_call(rng: Dice, props: dict, _at: int) -> dict:
    # Reps retitle calls after the fact; the outcome stays as logged.
    return {"hs_call_title": rng.choice(("Call", "Follow-up call", "Discovery call"))}


def _edit_email(rng: Dice, props: dict, _at: int) -> dict:
    return {"hs_email_subject": "Re: " + (props.get("hs_email_subject") or "Following up")}


def _edit_meeting(rng: Dice, props: dict, at: int) -> dict:
    start = parse_instant(props.get("hs_meeting_start_time") or "") or at
    if start <= at:
        outcome = rng.choices(("COMPLETED", "NO_SHOW", "CANCELED"), weights=(80, 12, 8))[0]
        return {"hs_meeting_outcome": outcome}
    moved = start + rng.randint(1, 5) * MS_DAY  # rescheduled
    length = (parse_instant(props.get("hs_meeting_end_time") or "") or start + MS_HOUR) - start
    return {
        "hs_timestamp": iso(moved),
        "hs_meeting_start_time": iso(moved),
        "hs_meeting_end_time": iso(moved + length),
        "hs_meeting_outcome": "RESCHEDULED",
    }


def _edit_task(rng: Dice, props: dict, at: int) -> dict:
    if props.get("hs_task_status") != "COMPLETED":
        return {"hs_task_status": "COMPLETED", "hs_task_completion_date": iso(at)}
    return {"hs_task_priority": rng.choice(("LOW", "MEDIUM", "HIGH"))}


_EDITS = {
    "calls": _edit_call,
    "emails": _edit_email,
    "meetings": _edit_meeting,
    "tasks": _edit_task,
}
_STEPS = {"companies": _companies, "contacts": _contacts, "deals": _deals} | {
    kind: _engagements(kind) for kind in ENGAGEMENT_TYPES
}
