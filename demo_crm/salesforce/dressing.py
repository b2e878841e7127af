"""The HubSpot-shaped store records dressed as the same org's Salesforce rows.

One seed must give the same KPIs read through either API, so every count, amount, date and
owner here follows from a HubSpot property; what Salesforce has and HubSpot lacks (invitee
copies of events, queue-owned tasks, repeated history rows after an edit) is added only where
the KPIs cannot see it. Choices per record (which tasks have no due date, which meetings had
invitees) come from a hash of seed and id, so they never change when a record is re-dressed.

Rows are plain dicts of field → value: datetimes as `2026-11-18T15:30:00.000+0000`, dates as
`2026-11-18`, numbers, booleans and None, so SOQL compares them directly.
"""

from ..clock import MS_DAY, MS_HOUR, iso, parse_instant, to_ms
from ..store import DemoCrm
from .ids import salesforce_id
from .reference import CORPORATE_CURRENCY, Stage, org_stages, reference_rows
from .values import calendar_date, modstamp, number, share, stamp

ARCHIVE_AFTER_DAYS = 120  # closed activities older than this may be archived (query hides them)
HISTORY_ECHO_SHARE = 0.25  # deals with a repeated first-stage history row (an edit, no move)
INVITEE_SHARE = 0.15  # meetings with another rep invited (an IsChild copy)
NO_DUE_DATE_SHARE = 0.1  # tasks without an ActivityDate (dated by CreatedDate instead)
QUEUE_TASK_SHARE = 0.05  # accounts with a queue's task about them (belongs to no rep)
_ECHO_SLOT = 15  # history row numbers are deal id * 16 + stage sort order (1..12), or this
_CHILD_EVENT_BASE = 10**12  # invitee copies' id numbers, above every engagement's
_TASK_STATUS = {
    "COMPLETED": "Completed",
    "NOT_STARTED": "Not Started",
    "IN_PROGRESS": "In Progress",
    "WAITING": "Waiting on someone else",
    "DEFERRED": "Deferred",
}
_TASK_TYPE = {"CALL": "Call", "EMAIL": "Email", "TODO": "Other"}
_PRIORITY = {"HIGH": "High", "LOW": "Low"}  # anything else is Normal
# Events have no outcome: a meeting that did not take place keeps its time and says so in its
# subject, as calendar sync writes "Canceled: ..." (so held = ended and no such prefix).
NOT_HELD_PREFIXES = {
    "CANCELED": "Canceled: ",
    "NO_SHOW": "No-show: ",
    "RESCHEDULED": "Rescheduled: ",
}


class Dresser:
    """Turns store records into Salesforce rows; reference rows (users, stages) it builds once."""

    def __init__(self, crm: DemoCrm, multi_currency: bool) -> None:
        self.seed = crm.seed
        self.multi_currency = multi_currency
        # Fixed at start, so a row never changes just because the clock moved on.
        self.archive_before_ms = to_ms(crm.now) - ARCHIVE_AFTER_DAYS * MS_DAY
        self.probability_overrides: dict[str, float] = {}
        self.restored_at: dict[str, str] = {}  # deal id → when it left the recycle bin
        self._deleted_deals: set[str] = set()  # as last dressed
        self.integration_user = salesforce_id("User", 1)
        self.shared_inbox = salesforce_id("Group", 1)
        self.user_of = {o["id"]: salesforce_id("User", int(o["id"])) for o in crm.owners}
        self.reps = [self.user_of[o["id"]] for o in crm.owners if not o["archived"]]
        self.stages, self.record_types = org_stages(crm), {}
        for number_, pipeline in enumerate(crm.pipelines, start=1):
            self.record_types[pipeline["id"]] = salesforce_id("RecordType", number_)
        self.reference = reference_rows(
            crm,
            self.user_of,
            self.shared_inbox,
            self.record_types,
            self.stages,
            multi_currency,
        )

    # ---------- deals

    def opportunity(self, deal: dict) -> list[dict]:
        props = deal["properties"]
        stage = self._stage(props)
        currency = props.get("deal_currency_code") or CORPORATE_CURRENCY
        amount = number(props.get("amount"))
        if not self.multi_currency and currency != CORPORATE_CURRENCY:
            amount = number(props.get("amount_in_home_currency"))
        company = deal["associations"].get("companies")
        row = {
            "Id": salesforce_id("Opportunity", int(deal["id"])),
            "Name": props.get("dealname"),
            "AccountId": salesforce_id("Account", int(company[0])) if company else None,
            "OwnerId": self._owner(props),
            "RecordTypeId": self.record_types.get(props.get("pipeline") or ""),
            "StageName": stage.label,
            "Type": "Existing Business"
            if props.get("dealtype") == "existingbusiness"
            else "New Business",
            "Amount": amount,
            "Probability": self.probability_overrides.get(deal["id"], stage.probability),
            "CloseDate": calendar_date(props.get("closedate")),
            "IsClosed": stage.is_closed,
            "IsWon": stage.is_won,
            "CreatedDate": stamp(deal["createdAt"]),
            "LastModifiedDate": modstamp(deal["updatedAt"]),
            "SystemModstamp": modstamp(deal["updatedAt"]),
            "IsDeleted": deal["archived"],
        }
        if self.multi_currency:
            row["CurrencyIsoCode"] = currency
        return [row]

    def opportunity_history(self, deal: dict) -> list[dict]:
        """A row per stage entered (HubSpot's hs_date_entered_*), plus maybe an edit's echo."""
        props = deal["properties"]
        opportunity = self.opportunity(deal)[0]
        current = self._stage(props)
        visits = []
        for stage in self.stages.values():
            if stage.pipeline_id == props.get("pipeline"):
                entered = props.get(f"hs_date_entered_{stage.id}")
                if entered:
                    visits.append((entered, stage.sort_order, stage))
        visits.sort(key=lambda v: (parse_instant(v[0]) or 0, v[1]))
        echo = self._echo(deal, visits)
        if echo is not None:
            visits.append(echo)
        rows = []
        for entered, slot, stage in visits:
            row = {
                "Id": salesforce_id("OpportunityHistory", int(deal["id"]) * 16 + slot),
                "OpportunityId": opportunity["Id"],
                "StageName": stage.label,
                "Amount": opportunity["Amount"],
                "Probability": (
                    opportunity["Probability"] if stage == current else stage.probability
                ),
                "CloseDate": opportunity["CloseDate"],
                "CreatedDate": stamp(entered),
                "SystemModstamp": self._history_modstamp(deal, entered),
                "IsDeleted": deal["archived"],
            }
            if self.multi_currency:
                row["CurrencyIsoCode"] = opportunity["CurrencyIsoCode"]
            rows.append(row)
        return rows

    def _echo(self, deal: dict, visits: list[tuple]) -> tuple | None:
        """A repeat of the first stage an amount or close-date edit wrote, while still in it.

        A fixed delay after entering, so the row, once there, never moves; only if the deal was
        still in that stage then (left it later, or last modified later).
        """
        if not visits or share(self.seed, "history-echo", deal["id"]) >= HISTORY_ECHO_SHARE:
            return None
        entered, _slot, stage = visits[0]
        delay = int(share(self.seed, "history-echo-delay", deal["id"]) * 72 * MS_HOUR) + MS_HOUR
        at = (parse_instant(entered) or 0) + delay
        left = deal["properties"].get(f"hs_date_exited_{stage.id}") or deal["updatedAt"]
        if at >= (parse_instant(left) or 0):
            return None
        return iso(at), _ECHO_SLOT, stage

    def _history_modstamp(self, deal: dict, entered: str) -> str | None:
        # History rows are written once; deleting or restoring the deal touches them again.
        if deal["archived"]:
            self._deleted_deals.add(deal["id"])
            return modstamp(deal["archivedAt"] or deal["updatedAt"])
        if deal["id"] in self._deleted_deals:
            self._deleted_deals.discard(deal["id"])
            self.restored_at[deal["id"]] = deal["updatedAt"]
        restored = self.restored_at.get(deal["id"])
        return modstamp(max(restored, entered) if restored else entered)

    def _stage(self, props: dict) -> Stage:
        stage = self.stages.get((props.get("pipeline") or "", props.get("dealstage") or ""))
        if stage is None:  # a stage the org does not define: keep the value, as Salesforce does
            closed = props.get("hs_is_closed") == "true"
            won = props.get("hs_is_closed_won") == "true"
            return Stage(props.get("dealstage") or "", 0.0, closed, won, 0, "")
        return stage

    def _owner(self, props: dict, unowned: str | None = None) -> str:
        owner = self.user_of.get(props.get("hubspot_owner_id") or "")
        return owner or unowned or self.integration_user

    # ---------- activities

    def task(self, record: dict, kind: str) -> list[dict]:
        """A call, email or task as a Task; its TaskSubtype says which."""
        props, record_id = record["properties"], record["id"]
        at = props.get("hs_timestamp") or record["createdAt"]
        closed, status = True, "Completed"
        subject, subtype, task_type, completed = None, "Task", None, None
        duration = None
        if kind == "calls":
            subject, subtype, task_type = props.get("hs_call_title") or "Call", "Call", "Call"
            completed = at
            milliseconds = number(props.get("hs_call_duration"))
            duration = int(milliseconds // 1000) if milliseconds is not None else None
        elif kind == "emails":
            subject, task_type, completed = props.get("hs_email_subject"), "Email", at
            bulk = props.get("hs_email_direction") == "EMAIL"
            bulk = bulk and share(self.seed, "list-email", record_id) < 0.08
            subtype = "ListEmail" if bulk else "Email"
        else:
            status = _TASK_STATUS.get(props.get("hs_task_status") or "", "Not Started")
            closed = status == "Completed"
            subject, completed = props.get("hs_task_subject"), props.get("hs_task_completion_date")
            task_type = _TASK_TYPE.get(props.get("hs_task_type") or "", "Other")
            roll = share(self.seed, "task-subtype", record_id)
            subtype = "Cadence" if roll < 0.1 else "Task"
            if 0.1 <= roll < 0.14 and task_type == "Other":
                subtype = None  # some integrations leave it empty
        due = calendar_date(at)
        # Salesforce stamps CreatedDate when a task is entered, never in the future: a planned
        # task's is its creation, and only tasks already done may go without a due date.
        created = at
        if (parse_instant(at) or 0) > (parse_instant(record["createdAt"]) or 0):
            created = record["createdAt"]
        elif kind == "tasks" and share(self.seed, "no-due-date", record_id) < NO_DUE_DATE_SHARE:
            due = None  # CreatedDate is the task's time, so the KPIs date it the same
        # A shared inbox's email belongs to its queue, not to a rep.
        owner = self._owner(props, self.shared_inbox if kind == "emails" else None)
        return [
            {
                "Id": salesforce_id("Task", int(record_id)),
                "OwnerId": owner,
                "WhatId": self._what(record),
                "Subject": subject,
                "Status": status,
                "Priority": _PRIORITY.get(props.get("hs_task_priority") or "", "Normal"),
                "IsClosed": closed,
                "TaskSubtype": subtype,
                "Type": task_type,
                "ActivityDate": due,
                "CompletedDateTime": stamp(completed),
                "CallDurationInSeconds": duration,
                # For a task without a due date, the activity's own time: its occurred_at.
                "CreatedDate": stamp(created),
                "LastModifiedDate": modstamp(record["updatedAt"]),
                "SystemModstamp": modstamp(record["updatedAt"]),
                "IsArchived": self._archived(record, at, closed, 0.3),
                "IsDeleted": record["archived"],
            }
        ]

    def queue_task(self, company: dict) -> list[dict]:
        """Some accounts get a task owned by a queue: no rep's, so no KPI counts it."""
        company_id = company["id"]
        if share(self.seed, "queue-task", company_id) >= QUEUE_TASK_SHARE:
            return []
        created = company["createdAt"]
        due = iso((parse_instant(created) or 0) + MS_DAY)
        done = share(self.seed, "queue-task-done", company_id) < 0.5
        return [
            {
                "Id": salesforce_id("Task", 9 * _CHILD_EVENT_BASE + int(company_id)),
                "OwnerId": self.shared_inbox,
                "WhatId": salesforce_id("Account", int(company_id)),
                "Subject": "Review inbound request",
                "Status": "Completed" if done else "Not Started",
                "Priority": "Normal",
                "IsClosed": done,
                "TaskSubtype": "Task",
                "Type": "Other",
                "ActivityDate": due[:10],
                "CompletedDateTime": stamp(due) if done else None,
                "CallDurationInSeconds": None,
                "CreatedDate": stamp(created),
                "LastModifiedDate": modstamp(company["updatedAt"]),
                "SystemModstamp": modstamp(company["updatedAt"]),
                "IsArchived": False,
                "IsDeleted": company["archived"],
            }
        ]

    def event(self, meeting: dict) -> list[dict]:
        """A meeting as an Event, plus an invitee's IsChild copy for some."""
        props, record_id = meeting["properties"], meeting["id"]
        start = stamp(props.get("hs_meeting_start_time") or props.get("hs_timestamp"))
        start = start or stamp(meeting["createdAt"])
        start_ms = parse_instant(start) or 0
        end_ms = parse_instant(props.get("hs_meeting_end_time") or "") or start_ms + MS_HOUR
        if props.get("hs_meeting_outcome") == "COMPLETED":
            # Salesforce says a meeting was held once it has ended: one logged as completed
            # before its planned end ended then.
            updated = parse_instant(meeting["updatedAt"]) or end_ms
            end_ms = max(start_ms, min(end_ms, updated))
        end = stamp(iso(end_ms))
        owner = self._owner(props)
        row = {
            "Id": salesforce_id("Event", int(record_id)),
            "OwnerId": owner,
            "WhatId": self._what(meeting),
            "Subject": NOT_HELD_PREFIXES.get(props.get("hs_meeting_outcome") or "", "")
            + (props.get("hs_meeting_title") or ""),
            "StartDateTime": start,
            "EndDateTime": end,
            "ActivityDateTime": start,
            "ActivityDate": start[:10] if start else None,
            "DurationInMinutes": (end_ms - start_ms) // 60_000,
            "IsAllDayEvent": False,
            "IsChild": False,
            "CreatedDate": stamp(meeting["createdAt"]),
            "LastModifiedDate": modstamp(meeting["updatedAt"]),
            "SystemModstamp": modstamp(meeting["updatedAt"]),
            "IsArchived": self._archived(meeting, end, True, 0.2),
            "IsDeleted": meeting["archived"],
        }
        rows = [row]
        invitees = [rep for rep in self.reps if rep != owner]
        invited = share(self.seed, "invitee", record_id) < INVITEE_SHARE
        if owner in self.reps and invitees and invited:
            pick = int(share(self.seed, "invitee-pick", record_id) * len(invitees))
            child_id = salesforce_id("Event", _CHILD_EVENT_BASE + int(record_id))
            rows.append(row | {"Id": child_id, "OwnerId": invitees[pick], "IsChild": True})
        return rows

    def account(self, company: dict) -> list[dict]:
        props = company["properties"]
        industry = props.get("industry")
        return [
            {
                "Id": salesforce_id("Account", int(company["id"])),
                "Name": props.get("name"),
                "OwnerId": self._owner(props),
                "Industry": industry.replace("_", " ").title() if industry else None,
                "Website": props.get("domain"),
                "CreatedDate": stamp(company["createdAt"]),
                "LastModifiedDate": modstamp(company["updatedAt"]),
                "SystemModstamp": modstamp(company["updatedAt"]),
                "IsDeleted": company["archived"],
            }
        ]

    def _what(self, record: dict) -> str | None:
        links = record["associations"]
        if links.get("deals"):
            return salesforce_id("Opportunity", int(links["deals"][0]))
        if links.get("companies"):
            return salesforce_id("Account", int(links["companies"][0]))
        return None

    def _archived(self, record: dict, at: str | None, closed: bool, chance: float) -> bool:
        """Salesforce archives old closed activities: query hides them, queryAll does not."""
        moment = parse_instant(at or "") or 0
        return (
            closed
            and moment < self.archive_before_ms
            and share(self.seed, "archived", record["id"]) < chance
        )
