"""KPIs computed straight from a Salesforce org's own rows (User, UserRole, RecordType,
OpportunityStage, CurrencyType, Opportunity, OpportunityHistory, Task, Event), independently of
the warehouse, of dbt and of the HubSpot-shaped store the demo org dresses.

The rules are issue 14's "KPI semantics for Salesforce" (docs/salesforce.md), written out again
in plain Python on purpose: owners are Standard users, CloseDate and ActivityDate are calendar
days used as they are, instants are dated in the reporting zone, amounts are Amount divided by
the currency's ConversionRate, weighted = amount x the deal's own Probability / 100, invitees'
copies of events (IsChild) and queue-owned work count for no rep, and a deal enters a stage at
its first history row with it.

`rows` is {sObject: [row, ...]} as the org serves them through queryAll (deleted rows too).
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SOBJECTS = (
    "User",
    "UserRole",
    "RecordType",
    "OpportunityStage",
    "CurrencyType",
    "Opportunity",
    "OpportunityHistory",
    "Task",
    "Event",
)
DEFAULT_PIPELINE_LABEL = "Opportunities"  # opportunities without a record type
MAX_DEAL_AMOUNT = 100_000_000  # CRM_KPI_MAX_DEAL_AMOUNT's default: above it, quarantined
QUEUE_PREFIX = "00G"
CALL_SUBTYPES = {"Call"}
EMAIL_SUBTYPES = {"Email", "ListEmail"}


def instant(value: str | None) -> datetime | None:
    """A Salesforce datetime (`2026-11-18T15:30:00.000+0000`)."""
    return datetime.fromisoformat(value) if value else None


def calendar_day(value: str | None) -> date | None:
    """A Salesforce date (`2026-11-18`), used as it is."""
    return date.fromisoformat(value) if value else None


def local_day(value: str | None, timezone: str) -> date | None:
    at = instant(value)
    return at.astimezone(ZoneInfo(timezone)).date() if at is not None else None


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class Org:
    """The rows of one moment, with the lookups every KPI needs."""

    def __init__(self, rows: dict[str, list[dict]], timezone: str) -> None:
        self.rows, self.timezone = rows, timezone
        self.users = {u["Id"]: u for u in rows["User"]}
        self.reps = {i for i, u in self.users.items() if u["UserType"] == "Standard"}
        self.roles = {r["Id"]: r for r in rows["UserRole"]}
        self.record_types = {
            r["Id"]: r for r in rows["RecordType"] if r["SobjectType"] == "Opportunity"
        }
        self.stages = {s["ApiName"]: s for s in rows["OpportunityStage"]}
        self.rates = {c["IsoCode"]: c["ConversionRate"] for c in rows.get("CurrencyType", [])}
        self.deals = [
            o for o in rows["Opportunity"] if not o["IsDeleted"] and not self._bad_deal(o)
        ]
        self.tasks = [t for t in rows["Task"] if not t["IsDeleted"] and self._known_owner(t)]
        self.events = [
            e
            for e in rows["Event"]
            if not e["IsDeleted"] and not e["IsChild"] and self._known_owner(e)
        ]

    # ---------- rules

    def rep(self, row: dict) -> str | None:
        """The row's rep: a Standard user; a queue's or another user's work is no rep's."""
        owner = row.get("OwnerId")
        return owner if owner in self.reps else None

    def team_name(self, user_id: str) -> str | None:
        role = self.roles.get(self.users[user_id].get("UserRoleId"))
        return role["Name"] if role else None

    def amount(self, deal: dict) -> float | None:
        if deal.get("Amount") is None:
            return None
        code = deal.get("CurrencyIsoCode")
        return deal["Amount"] if code is None else round(deal["Amount"] / self.rates[code], 2)

    def pipeline_label(self, deal: dict) -> str:
        record_type = self.record_types.get(deal.get("RecordTypeId"))
        return record_type["Name"] if record_type else DEFAULT_PIPELINE_LABEL

    def stage(self, name: str | None) -> dict | None:
        return self.stages.get(name)

    def is_won(self, deal: dict) -> bool:
        stage = self.stage(deal["StageName"])
        return bool(stage and stage["IsClosed"] and stage["IsWon"])

    def is_lost(self, deal: dict) -> bool:
        stage = self.stage(deal["StageName"])
        return bool(stage and stage["IsClosed"] and not stage["IsWon"])

    def is_open(self, deal: dict) -> bool:
        stage = self.stage(deal["StageName"])
        return bool(stage and not stage["IsClosed"])

    def created_day(self, row: dict) -> date:
        return local_day(row["CreatedDate"], self.timezone)

    def task_day(self, task: dict) -> date:
        """ActivityDate as it is; without one, the CreatedDate day in the reporting zone."""
        return calendar_day(task.get("ActivityDate")) or self.created_day(task)

    def event_day(self, event: dict) -> date:
        if event.get("IsAllDayEvent"):
            return calendar_day(event["ActivityDate"])
        return local_day(event["StartDateTime"], self.timezone)

    @staticmethod
    def task_kind(task: dict) -> str:
        subtype = task.get("TaskSubtype")
        if subtype in CALL_SUBTYPES:
            return "calls"
        return "emails" if subtype in EMAIL_SUBTYPES else "tasks"

    def _known_owner(self, row: dict) -> bool:
        # An OwnerId the org does not list at all is quarantined (unknown_owner).
        owner = row.get("OwnerId")
        return owner is None or owner.startswith(QUEUE_PREFIX) or owner in self.users

    def _bad_deal(self, deal: dict) -> bool:
        """The quarantine rules for deals: such a deal counts in no KPI."""
        code = deal.get("CurrencyIsoCode")
        if deal.get("Amount") is not None and code is not None and not self.rates.get(code):
            return True
        amount = self.amount(deal)
        if amount is not None and not 0 <= amount <= MAX_DEAL_AMOUNT:
            return True
        closed = calendar_day(deal.get("CloseDate"))
        if closed is not None and closed < self.created_day(deal):
            return True
        return not self._known_owner(deal)


def rep_weekly(rows: dict, as_of: datetime, timezone: str) -> dict:
    """{(owner_id, week_start): {column: value}}, only the weeks with an event."""
    org = Org(rows, timezone)
    weeks: dict = defaultdict(lambda: defaultdict(float))
    for task in org.tasks:
        rep = org.rep(task)
        if rep is None:
            continue
        week = weeks[rep, monday(org.task_day(task))]
        kind = org.task_kind(task)
        week[kind] += 1
        if kind == "tasks" and task["IsClosed"]:
            week["tasks_completed"] += 1
    for event in org.events:
        rep = org.rep(event)
        if rep is None:
            continue
        week = weeks[rep, monday(org.event_day(event))]
        week["meetings"] += 1
        if instant(event["EndDateTime"]) <= as_of:
            week["meetings_held"] += 1
    for deal in org.deals:
        rep = org.rep(deal)
        if rep is None:
            continue
        amount = org.amount(deal) or 0.0
        created = weeks[rep, monday(org.created_day(deal))]
        created["deals_created"] += 1
        created["pipeline_created_amount"] += amount
        closed_on = calendar_day(deal.get("CloseDate"))
        if closed_on is None or not (org.is_won(deal) or org.is_lost(deal)):
            continue
        closed = weeks[rep, monday(closed_on)]  # CloseDate as it is, never shifted
        outcome = "won" if org.is_won(deal) else "lost"
        closed[f"deals_{outcome}"] += 1
        closed[f"{outcome}_amount"] += amount
    return {key: dict(values) for key, values in weeks.items()}


def open_pipeline(rows: dict, timezone: str = "UTC") -> dict:
    """{(pipeline_label, stage_label): {open_deals, open_amount, weighted_amount}}, with or
    without a rep; weighted by each deal's own Probability / 100."""
    org = Org(rows, timezone)
    stages: dict = defaultdict(lambda: defaultdict(float))
    for deal in org.deals:
        if not org.is_open(deal):
            continue
        amount = org.amount(deal) or 0.0
        row = stages[org.pipeline_label(deal), org.stage(deal["StageName"])["MasterLabel"]]
        row["open_deals"] += 1
        row["open_amount"] += amount
        row["weighted_amount"] += amount * (deal["Probability"] or 0) / 100
    return {key: dict(values) for key, values in stages.items()}


def rep_quarterly(rows: dict, timezone: str) -> dict:
    """{(owner_id, quarter): {column: value}}: created by the CreatedDate day in the zone, won,
    lost and open by the quarter of CloseDate as it is."""
    org = Org(rows, timezone)
    quarters: dict = defaultdict(lambda: defaultdict(float))
    for deal in org.deals:
        rep = org.rep(deal)
        if rep is None:
            continue
        amount = org.amount(deal) or 0.0
        created = quarters[rep, quarter_of(org.created_day(deal))]
        created["deals_created"] += 1
        created["pipeline_created_amount"] += amount
        closed_on = calendar_day(deal.get("CloseDate"))
        if closed_on is None:
            continue
        row = quarters[rep, quarter_of(closed_on)]
        if org.is_open(deal):
            row["open_deals"] += 1
            row["open_pipeline_amount"] += amount
            row["weighted_forecast_amount"] += amount * (deal["Probability"] or 0) / 100
        elif org.is_won(deal):
            row["deals_won"] += 1
            row["won_amount"] += amount
        elif org.is_lost(deal):
            row["deals_lost"] += 1
            row["lost_amount"] += amount
    return {key: dict(values) for key, values in quarters.items()}


def stage_conversion(rows: dict, timezone: str) -> dict:
    """{(pipeline_label, stage_label, quarter): {deals_entered, deals_moved_on}} for open stages.

    A deal entered a stage at its first history row with it (an echo after an edit or a return
    is no new entry); it moved on when a later row has an open stage of higher SortOrder or a
    won stage, or the deal is won now.
    """
    org = Org(rows, timezone)
    history: dict = defaultdict(list)
    for row in rows["OpportunityHistory"]:
        if not row["IsDeleted"] and row.get("StageName"):
            history[row["OpportunityId"]].append(row)
    groups: dict = defaultdict(lambda: {"deals_entered": 0, "deals_moved_on": 0})
    for deal in org.deals:
        ordered = sorted(history[deal["Id"]], key=lambda r: (instant(r["CreatedDate"]), r["Id"]))
        first_rows: dict[str, int] = {}
        for position, row in enumerate(ordered):
            first_rows.setdefault(row["StageName"], position)
        for name, position in first_rows.items():
            stage = org.stage(name)
            if stage is None or stage["IsClosed"]:
                continue
            later = [org.stage(r["StageName"]) for r in ordered[position + 1 :]]
            moved_on = org.is_won(deal) or any(
                s is not None
                and ((s["IsClosed"] and s["IsWon"]) or s["SortOrder"] > stage["SortOrder"])
                and not (s["IsClosed"] and not s["IsWon"])
                for s in later
            )
            entered = local_day(ordered[position]["CreatedDate"], timezone)
            group = groups[org.pipeline_label(deal), stage["MasterLabel"], quarter_of(entered)]
            group["deals_entered"] += 1
            group["deals_moved_on"] += moved_on
    return {key: dict(values) for key, values in groups.items()}


def meetings_held(rows: dict, as_of: datetime) -> dict[str, int]:
    """Per rep: non-child events (not deleted) that ended by `as_of`."""
    org = Org(rows, "UTC")
    held: dict[str, int] = defaultdict(int)
    for event in org.events:
        rep = org.rep(event)
        if rep is not None and instant(event["EndDateTime"]) <= as_of:
            held[rep] += 1
    return dict(held)
