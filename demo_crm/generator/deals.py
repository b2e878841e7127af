"""Deal generation: creation spread over reps' working hours, stage progress and outcomes."""

import bisect
from dataclasses import dataclass, field

from ..catalog import (
    DEFAULT_PIPELINE_STAGES,
    PRODUCTS,
    RENEWALS_PIPELINE_ID,
    RENEWALS_PIPELINE_STAGES,
)
from ..clock import MS_DAY, MS_HOUR, Dice, iso, working_days
from .org import Rep

EUR_TO_USD = 1.08
EXPANSION_TEAM = "5003"


@dataclass
class DraftDeal:
    """A deal before ids are assigned; `spans` says who owned it when (for activity linking)."""

    created: int
    updated: int
    end: int | None  # close time of closed deals
    company_index: int
    properties: dict[str, str | None]
    spans: list[tuple[str, int, int | None]] = field(default_factory=list)


def _pipeline(stage_defs: tuple[tuple[str, str, str], ...], pipeline_id: str) -> dict:
    return {
        "id": pipeline_id,
        "open": [s for s in stage_defs if s[2] not in ("1.0", "0.0")],
        "won": next(s for s in stage_defs if s[2] == "1.0"),
        "lost": next(s for s in stage_defs if s[2] == "0.0"),
    }


_DEFAULT = _pipeline(DEFAULT_PIPELINE_STAGES, "default")
_RENEWALS = _pipeline(RENEWALS_PIPELINE_STAGES, RENEWALS_PIPELINE_ID)


def _format_amount(rng: Dice, value: float) -> str:
    # HubSpot echoes amounts as typed: some with cents, most without.
    return f"{value:.2f}" if rng.random() < 0.35 else str(int(value))


def build_deals(
    rng: Dice,
    count: int,
    reps: list[Rep],
    company_created: list[int],
    company_names: list[str],
    window_start: int,
    now_ms: int,
) -> list[DraftDeal]:
    slots = [
        (rep, hours)
        for day in working_days(window_start, now_ms)
        for rep in reps
        if (hours := rep.hours(day, now_ms)) is not None
    ]
    created_times = sorted(
        ((rng.randint(*hours), rep) for rep, hours in (rng.choice(slots) for _ in range(count))),
        key=lambda pair: pair[0],
    )
    drafts = [
        make_deal(rng, created, rep, company_created, company_names, now_ms)
        for created, rep in created_times
    ]
    _hand_over_leavers_deals(rng, drafts, reps, now_ms)
    return drafts


def make_deal(
    rng: Dice,
    created: int,
    rep: Rep,
    company_created: list[int],
    company_names: list[str],
    now_ms: int,
) -> DraftDeal:
    renewal = rng.random() < (0.5 if rep.team_id == EXPANSION_TEAM else 0.05)
    pipeline = _RENEWALS if renewal else _DEFAULT
    known = bisect.bisect_right(company_created, created)
    company_index = rng.randint(0, max(known, 1) - 1)

    mean_cycle_days = 25 if renewal else 35
    cycle = int(rng.expovariate(1 / mean_cycle_days) * MS_DAY) + rng.randint(1, 48) * MS_HOUR
    planned_close = created + cycle
    end: int | None = None
    if planned_close <= now_ms and rng.random() >= 0.12:
        won = rng.random() < (0.75 if renewal else 0.38)
        stage = pipeline["won"] if won else pipeline["lost"]
        end = planned_close
        updated = min(now_ms, end + rng.randint(0, 2 * MS_DAY))
    else:
        # Still open; a planned close in the past makes it overdue.
        progress = min(1.0, (now_ms - created) / cycle)
        stages = pipeline["open"]
        stage = stages[min(len(stages) - 1, int(progress * len(stages) * rng.uniform(0.5, 1.2)))]
        updated = created + int((now_ms - created) * (1 - rng.random() ** 2))

    amount = rng.lognormvariate(8.7 if renewal else 9.3, 0.7)
    amount = max(300.0, round(amount, -2) if amount > 2000 else round(amount, -1))
    currency = "EUR" if rng.random() < 0.02 else "USD"
    amount_text: str | None = _format_amount(rng, amount)
    home: str | None = f"{amount * EUR_TO_USD:.2f}" if currency == "EUR" else amount_text
    if rng.random() < 0.03:
        amount_text = home = None
    owner = None if rng.random() < 0.02 else rep.owner_id

    company = company_names[company_index]
    year = iso(created)[:4]
    name = f"{company} - Renewal {year}" if renewal else f"{company} - {rng.choice(PRODUCTS)}"
    probability = stage[2]
    properties: dict[str, str | None] = {
        "dealname": name,
        "amount": amount_text,
        "amount_in_home_currency": home,
        "deal_currency_code": currency,
        "dealstage": stage[0],
        "pipeline": pipeline["id"],
        "dealtype": "existingbusiness" if renewal else "newbusiness",
        "createdate": iso(created),
        "closedate": iso(end if end is not None else planned_close),
        "hs_lastmodifieddate": iso(updated),
        "hubspot_owner_id": owner,
        "hs_is_closed": "true" if end is not None else "false",
        "hs_is_closed_won": "true" if probability == "1.0" else "false",
        "hs_is_closed_lost": "true" if end is not None and probability == "0.0" else "false",
        "hs_deal_stage_probability": probability,
    }
    spans = [(owner, created, end)] if owner else []
    return DraftDeal(created, updated, end, company_index, properties, spans)


def _hand_over_leavers_deals(
    rng: Dice, drafts: list[DraftDeal], reps: list[Rep], now_ms: int
) -> None:
    """Deals still open when their owner left go to a teammate; closed ones stay with the leaver."""
    for leaver in (r for r in reps if r.active_until is not None):
        left = leaver.active_until
        heirs = [
            r.owner_id
            for r in reps
            if r.team_id == leaver.team_id and r.active_until is None and r.active_from < left
        ]
        for draft in drafts:
            if draft.properties["hubspot_owner_id"] != leaver.owner_id:
                continue
            if draft.end is not None and draft.end <= left:
                continue
            heir = rng.choice(heirs)
            draft.properties["hubspot_owner_id"] = heir
            draft.spans = [(leaver.owner_id, draft.created, left), (heir, left, draft.end)]
            handed_over = min(now_ms, left + rng.randint(0, 2 * MS_DAY))
            if handed_over > draft.updated:
                draft.updated = handed_over
                draft.properties["hs_lastmodifieddate"] = iso(handed_over)
