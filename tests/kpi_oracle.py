"""KPIs computed straight from the demo CRM's own records, independently of the warehouse and dbt.

The end-to-end tests compare the published marts with these figures; the rules follow
docs/kpis.md, written out again in plain Python on purpose.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "tasks")


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def week_start(at: datetime, timezone: str) -> date:
    local = at.astimezone(ZoneInfo(timezone)).date()
    return local - timedelta(days=local.weekday())


def home_amount(properties: dict) -> float | None:
    value = properties.get("amount_in_home_currency") or properties.get("amount")
    return float(value) if value is not None else None


def stage_outcomes(pipelines: list[dict]) -> dict[tuple[str, str], dict]:
    return {
        (p["id"], s["id"]): {
            "label": s["label"],
            "pipeline_label": p["label"],
            "closed": s["metadata"]["isClosed"] == "true",
            "probability": float(s["metadata"]["probability"]),
        }
        for p in pipelines
        for s in p["stages"]
    }


def rep_weekly(objects: dict, owners: list[dict], pipelines: list[dict], timezone: str) -> dict:
    """{(owner_id, week_start): {column: value}} with only the non-zero columns' weeks."""
    owner_ids = {o["id"] for o in owners}
    stages = stage_outcomes(pipelines)
    rows: dict = defaultdict(lambda: defaultdict(float))
    for kind in ENGAGEMENT_TYPES:
        for record in objects[kind]:
            props = record["properties"]
            at = parse_time(props.get("hs_timestamp"))
            owner = props.get("hubspot_owner_id")
            if record["archived"] or owner not in owner_ids or at is None:
                continue
            rows[owner, week_start(at, timezone)][kind] += 1
    for deal in objects["deals"]:
        props = deal["properties"]
        owner = props.get("hubspot_owner_id")
        if deal["archived"] or owner not in owner_ids:
            continue
        amount = home_amount(props) or 0.0
        created = rows[owner, week_start(parse_time(props["createdate"]), timezone)]
        created["deals_created"] += 1
        created["pipeline_created_amount"] += amount
        stage = stages[props["pipeline"], props["dealstage"]]
        if stage["closed"] and props.get("closedate"):
            closed = rows[owner, week_start(parse_time(props["closedate"]), timezone)]
            if stage["probability"] == 1.0:
                closed["deals_won"] += 1
                closed["won_amount"] += amount
            elif stage["probability"] == 0.0:
                closed["deals_lost"] += 1
    return {key: dict(values) for key, values in rows.items()}


def open_pipeline(objects: dict, pipelines: list[dict]) -> dict:
    """{(pipeline_id, stage_id): {open_deals, open_amount, weighted_amount}}."""
    stages = stage_outcomes(pipelines)
    rows: dict = defaultdict(lambda: defaultdict(float))
    for deal in objects["deals"]:
        props = deal["properties"]
        key = (props["pipeline"], props["dealstage"])
        if deal["archived"] or stages[key]["closed"]:
            continue
        amount = home_amount(props) or 0.0
        rows[key]["open_deals"] += 1
        rows[key]["open_amount"] += amount
        rows[key]["weighted_amount"] += amount * stages[key]["probability"]
    return {key: dict(values) for key, values in rows.items()}
