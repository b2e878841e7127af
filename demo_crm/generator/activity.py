"""Engagements: each active rep's calls, emails, meetings and tasks per working day."""

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from ..catalog import CALL_DISPOSITIONS, EMAIL_SUBJECTS, MEETING_TYPES, TASK_SUBJECTS
from ..clock import MS_DAY, MS_HOUR, MS_MINUTE, Dice, iso, working_days
from .org import Rep

# Mean count per rep and working day at activity_scale=1.0.
DAILY_RATES = {"calls": 7.0, "emails": 5.0, "meetings": 1.5, "tasks": 2.0}
LOOKAHEAD_DAYS = 14  # scheduled meetings and open tasks reach this far past now
# Share of each kind not about any deal (prospecting, internal to-dos).
NO_DEAL_SHARE = {"calls": 0.25, "emails": 0.15, "meetings": 0.05, "tasks": 0.10}
FAR_FUTURE = 1 << 62

# (weight, disposition, call status, min duration s, max duration s)
_CALL_OUTCOMES = (
    (35, "connected", "COMPLETED", 60, 2400),
    (25, "voicemail", "COMPLETED", 15, 60),
    (5, "live_message", "COMPLETED", 30, 120),
    (23, "no_answer", "NO_ANSWER", 0, 0),
    (7, "busy", "BUSY", 0, 0),
    (3, "wrong_number", "COMPLETED", 5, 30),
    (2, None, "FAILED", 0, 0),
)


@dataclass
class DraftEngagement:
    kind: str
    created: int
    updated: int
    properties: dict[str, str | None]
    # Associated draft indexes by type; companies and contacts are already ids.
    deal: int | None = None
    companies: list[str] = field(default_factory=list)
    contacts: list[str] = field(default_factory=list)


@dataclass
class Linker:
    """Finds what an engagement is about: a deal the rep owns at the time, else a prospect."""

    rng: Dice
    deal_company: list[str]  # company id per draft deal
    company_ids: list[str]  # sorted by creation
    company_created: list[int]
    contacts_by_company: dict[str, list[str]]

    def link(self, draft: DraftEngagement, open_deals: list[tuple], ts: int) -> None:
        rng = self.rng
        if open_deals and rng.random() >= NO_DEAL_SHARE[draft.kind]:
            for _ in range(3):
                start, end, deal_index = rng.choice(open_deals)
                if start <= ts <= end:
                    draft.deal = deal_index
                    self._company(draft, self.deal_company[deal_index])
                    return
        if draft.kind == "tasks" and rng.random() < 0.5:
            return  # an internal to-do, about nothing in the CRM
        known = bisect.bisect_right(self.company_created, ts)
        self._company(draft, self.company_ids[rng.randint(0, max(known, 1) - 1)])

    def _company(self, draft: DraftEngagement, company_id: str) -> None:
        draft.companies.append(company_id)
        contacts = self.contacts_by_company.get(company_id)
        if contacts:
            draft.contacts.append(self.rng.choice(contacts))


def build_engagements(
    rng: Dice,
    reps: list[Rep],
    deal_spans: list[list[tuple[str, int, int | None]]],
    linker: Linker,
    window_start: int,
    now_ms: int,
    scale: float,
) -> list[DraftEngagement]:
    # Per rep: (start, end, deal index) of every deal they owned, by start.
    spans: dict[str, list[tuple]] = {rep.owner_id: [] for rep in reps}
    for index, owned in enumerate(deal_spans):
        for owner, start, end in owned:
            spans[owner].append((start, FAR_FUTURE if end is None else end, index))
    for owned in spans.values():
        owned.sort()

    drafts: list[DraftEngagement] = []
    for rep in reps:
        owned, next_deal, open_deals = spans[rep.owner_id], 0, []
        for day in working_days(window_start, now_ms + LOOKAHEAD_DAYS * MS_DAY):
            hours = rep.hours(day)
            if hours is None:
                continue
            while next_deal < len(owned) and owned[next_deal][0] <= hours[1]:
                open_deals.append(owned[next_deal])
                next_deal += 1
            open_deals = [d for d in open_deals if d[1] >= day]
            for kind, rate in DAILY_RATES.items():
                count = int(rate * scale * rng.uniform(0.5, 1.5) + rng.random())
                for _ in range(count):
                    ts = rng.randint(*hours)
                    # Calls and emails are logged once done; meetings and tasks are planned ahead.
                    if ts <= now_ms or kind in ("meetings", "tasks"):
                        drafts.append(_engagement(rng, kind, rep, ts, now_ms))
                        linker.link(drafts[-1], open_deals, ts)
    return drafts


def _engagement(rng: Dice, kind: str, rep: Rep, ts: int, now_ms: int) -> DraftEngagement:
    created, updated, props = MAKERS[kind](rng, ts, now_ms)
    props["hubspot_owner_id"] = rep.owner_id
    if kind == "emails" and props["hs_email_direction"] != "EMAIL" and rng.random() < 0.04:
        props["hubspot_owner_id"] = None  # auto-logged from a shared inbox, nobody's
    return DraftEngagement(kind, created, updated, props)


def _later_edit(rng: Dice, created: int, now_ms: int) -> int:
    if rng.random() < 0.08:
        return min(now_ms, created + rng.randint(MS_HOUR, 5 * MS_DAY))
    return created


def _call(rng: Dice, ts: int, now_ms: int) -> tuple[int, int, dict]:
    _w, disposition, status, low, high = rng.choices(
        _CALL_OUTCOMES, weights=[o[0] for o in _CALL_OUTCOMES]
    )[0]
    duration = rng.randint(low * 1000, high * 1000)
    created = min(now_ms, ts + duration + rng.randint(0, 10 * MS_MINUTE))
    return (
        created,
        _later_edit(rng, created, now_ms),
        {
            "hs_timestamp": iso(ts),
            "hs_call_direction": "OUTBOUND" if rng.random() < 0.85 else "INBOUND",
            "hs_call_status": status,
            "hs_call_disposition": CALL_DISPOSITIONS[disposition] if disposition else None,
            "hs_call_duration": str(duration),
            "hs_call_title": "Call",
        },
    )


def _email(rng: Dice, ts: int, now_ms: int) -> tuple[int, int, dict]:
    roll = rng.random()
    direction = "EMAIL" if roll < 0.7 else "INCOMING_EMAIL" if roll < 0.97 else "FORWARDED_EMAIL"
    status = None
    if direction == "EMAIL":
        status = "SENT" if rng.random() < 0.97 else rng.choice(("BOUNCED", "FAILED"))
    created = min(now_ms, ts + rng.randint(0, 2 * MS_MINUTE))
    return (
        created,
        _later_edit(rng, created, now_ms),
        {
            "hs_timestamp": iso(ts),
            "hs_email_direction": direction,
            "hs_email_status": status,
            "hs_email_subject": rng.choice(EMAIL_SUBJECTS),
        },
    )


def _meeting(rng: Dice, ts: int, now_ms: int) -> tuple[int, int, dict]:
    start = ts - ts % (15 * MS_MINUTE)
    end = start + rng.choice((30, 45, 60)) * MS_MINUTE
    created = min(now_ms, start - rng.randint(MS_HOUR, 10 * MS_DAY))
    if start > now_ms:
        outcome, updated = "SCHEDULED", created
    else:
        outcome = rng.choices(
            ("COMPLETED", "NO_SHOW", "CANCELED", "RESCHEDULED"), weights=(75, 10, 8, 7)
        )[0]
        updated = max(created, min(now_ms, end + rng.randint(0, MS_DAY)))
    kind = rng.choice(MEETING_TYPES)
    return (
        created,
        updated,
        {
            "hs_timestamp": iso(start),
            "hs_meeting_title": kind,
            "hs_activity_type": kind,
            "hs_meeting_start_time": iso(start),
            "hs_meeting_end_time": iso(end),
            "hs_meeting_outcome": outcome,
        },
    )


def _task(rng: Dice, ts: int, now_ms: int) -> tuple[int, int, dict]:
    created = min(now_ms, ts - rng.randint(0, 5 * MS_DAY))
    if ts <= now_ms:
        statuses, weights = (
            ("COMPLETED", "NOT_STARTED", "IN_PROGRESS", "WAITING", "DEFERRED"),
            (78, 10, 6, 4, 2),
        )
    else:
        statuses, weights = ("NOT_STARTED", "IN_PROGRESS", "WAITING"), (80, 15, 5)
    status = rng.choices(statuses, weights=weights)[0]
    completed = None
    updated = _later_edit(rng, created, now_ms)
    if status == "COMPLETED":
        completed = max(created, min(now_ms, ts + rng.randint(-MS_DAY, MS_DAY)))
        updated = max(updated, completed)
    return (
        created,
        updated,
        {
            "hs_timestamp": iso(ts),
            "hs_task_subject": rng.choice(TASK_SUBJECTS),
            "hs_task_status": status,
            "hs_task_type": rng.choice(("CALL", "EMAIL", "TODO")),
            "hs_task_priority": rng.choices(("NONE", "LOW", "MEDIUM", "HIGH"), (40, 20, 25, 15))[0],
            "hs_task_completion_date": iso(completed) if completed is not None else None,
        },
    )


MAKERS: dict[str, Callable[[Dice, int, int], tuple[int, int, dict]]] = {
    "calls": _call,
    "emails": _email,
    "meetings": _meeting,
    "tasks": _task,
}
