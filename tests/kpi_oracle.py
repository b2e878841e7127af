"""KPIs computed straight from the demo CRM's own records, independently of the warehouse and dbt.

The end-to-end tests compare the published marts with these figures; the rules follow
docs/kpis.md, written out again in plain Python on purpose.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from statistics import median
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


def quarter(at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def primary_team(owner: dict) -> tuple[str, str] | None:
    """(team id, name): the team flagged primary, else the lowest id; None without a team."""
    teams = sorted(owner.get("teams") or [], key=lambda t: (not t.get("primary"), t["id"]))
    return (teams[0]["id"], teams[0]["name"]) if teams else None


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def rep_quarterly(
    objects: dict,
    owners: list[dict],
    pipelines: list[dict],
    quotas: dict[tuple[str, str], float],
    timezone: str,
) -> dict:
    """{(owner_id, quarter): {column: value}} for each rep-quarter with a deal event or a quota.

    `quotas` maps (email, quarter) to the amount, as in the CRM_KPI_QUOTAS file.
    """
    by_email: dict[str, dict] = {}
    for owner in sorted(owners, key=lambda o: (o["archived"], o["id"])):
        by_email.setdefault((owner.get("email") or "").lower(), owner)
    owner_ids = {o["id"] for o in owners}
    stages = stage_outcomes(pipelines)
    rows: dict = defaultdict(lambda: defaultdict(float))
    for deal in objects["deals"]:
        props = deal["properties"]
        owner = props.get("hubspot_owner_id")
        stage = stages.get((props.get("pipeline"), props.get("dealstage")))
        if deal["archived"] or owner not in owner_ids:
            continue
        amount = home_amount(props) or 0.0
        created = rows[owner, quarter(parse_time(props["createdate"]), timezone)]
        created["deals_created"] += 1
        created["pipeline_created_amount"] += amount
        closed_at = parse_time(props.get("closedate"))
        if stage is None or closed_at is None:
            continue
        row = rows[owner, quarter(closed_at, timezone)]
        if not stage["closed"]:
            row["open_deals"] += 1
            row["open_pipeline_amount"] += amount
            row["weighted_forecast_amount"] += amount * stage["probability"]
        elif stage["probability"] == 1.0:
            row["deals_won"] += 1
            row["won_amount"] += amount
        elif stage["probability"] == 0.0:
            row["deals_lost"] += 1
            row["lost_amount"] += amount
    for (email, period), amount in quotas.items():
        owner = by_email.get(email.lower())
        if owner is not None:
            rows[owner["id"], period]["quota_amount"] = amount
    return {key: _quarter_ratios(dict(values)) for key, values in rows.items()}


def team_quarterly(rep_rows: dict, owners: list[dict]) -> dict:
    """{(team_id, quarter): ...}: the reps' rows summed per primary team, ratios recomputed."""
    teams = {o["id"]: primary_team(o) for o in owners}
    rows: dict = defaultdict(lambda: defaultdict(float))
    for (owner_id, period), values in rep_rows.items():
        team = teams.get(owner_id)
        if team is None:
            continue
        row = rows[team[0], period]
        for column, value in values.items():
            if column in SUMMED_QUARTERLY and value is not None:
                row[column] += value
    return {key: _quarter_ratios(dict(values)) for key, values in rows.items()}


SUMMED_QUARTERLY = (
    "quota_amount",
    "won_amount",
    "lost_amount",
    "deals_won",
    "deals_lost",
    "open_deals",
    "open_pipeline_amount",
    "weighted_forecast_amount",
    "deals_created",
    "pipeline_created_amount",
)


def _quarter_ratios(row: dict) -> dict:
    for column in SUMMED_QUARTERLY:
        row.setdefault(column, None if column == "quota_amount" else 0.0)
    quota, won = row["quota_amount"], row["won_amount"]
    row["attainment"] = _share(won, quota) if quota is not None else None
    remaining = quota - won if quota is not None else 0
    row["pipeline_coverage"] = row["open_pipeline_amount"] / remaining if remaining > 0 else None
    row["win_rate"] = _share(row["deals_won"], row["deals_won"] + row["deals_lost"])
    return row


def coaching_signals(
    objects: dict, owners: list[dict], pipelines: list[dict], as_of: datetime, timezone: str
) -> dict:
    """{owner_id: {column: value}} for every active owner, windows of days ending on `as_of`'s
    day in `timezone`, where every record is dated."""
    active = {o["id"]: primary_team(o) for o in owners if not o["archived"]}
    stages = stage_outcomes(pipelines)
    zone = ZoneInfo(timezone)
    today = as_of.astimezone(zone).date()

    def day(value: str | None) -> date | None:
        at = parse_time(value)
        return at.astimezone(zone).date() if at is not None else None

    def within(value: str | None, days: int) -> bool:
        on = day(value)
        return on is not None and today - timedelta(days=days) < on <= today

    rows = {
        owner_id: defaultdict(float, team_id=team[0] if team else None)
        for owner_id, team in active.items()
    }
    touched: set[str] = set()
    for kind in ENGAGEMENT_TYPES:
        for record in objects[kind]:
            stamp = record["properties"].get("hs_timestamp")
            if record["archived"]:
                continue
            if within(stamp, 14):
                touched.update(record["associations"].get("deals", []))
            owner = record["properties"].get("hubspot_owner_id")
            if owner in rows and within(stamp, 7):
                rows[owner]["activities_last_7d"] += 1
    for deal in objects["deals"]:
        props = deal["properties"]
        row = rows.get(props.get("hubspot_owner_id"))
        stage = stages.get((props.get("pipeline"), props.get("dealstage")))
        if deal["archived"] or row is None or stage is None:
            continue
        amount = home_amount(props) or 0.0
        if within(props.get("createdate"), 30):
            row["pipeline_created_last_30d"] += amount
        closed_on = day(props.get("closedate"))
        if not stage["closed"]:
            row["open_deals"] += 1
            row["open_amount"] += amount
            row["overdue_deals"] += closed_on is not None and closed_on < today
            row["stalled_deals"] += deal["id"] not in touched
        elif within(props.get("closedate"), 90) and stage["probability"] in (0.0, 1.0):
            row["deals_won_last_90d" if stage["probability"] else "deals_lost_last_90d"] += 1
    by_team: dict = defaultdict(list)
    for row in rows.values():
        if row["team_id"] is not None:
            by_team[row["team_id"]].append(row["activities_last_7d"])
    for row in rows.values():
        team = row["team_id"]
        row["team_median_activities_last_7d"] = median(by_team[team]) if team else None
        won, lost = row["deals_won_last_90d"], row["deals_lost_last_90d"]
        row["win_rate_last_90d"] = _share(won, won + lost)
    return {owner_id: dict(row) for owner_id, row in rows.items()}


def pipeline_snapshot(objects: dict, pipelines: list[dict]) -> dict:
    """Like open_pipeline, with every open stage of every live pipeline (zeros included)."""
    rows = open_pipeline(objects, pipelines)
    for p in pipelines:
        for s in p["stages"]:
            live = not (p.get("archived") or s.get("archived"))
            if live and s["metadata"]["isClosed"] != "true":
                rows.setdefault(
                    (p["id"], s["id"]), {"open_deals": 0, "open_amount": 0, "weighted_amount": 0}
                )
    return rows


def stage_conversion(objects: dict, pipelines: list[dict], timezone: str) -> dict:
    """{(pipeline_id, stage_id, quarter): {...}} from the deals' hs_date_entered/exited_<stage>."""
    stages = {
        s["id"]: {
            "pipeline": p["id"],
            "order": s["displayOrder"],
            "closed": s["metadata"]["isClosed"] == "true",
            "won": s["metadata"]["isClosed"] == "true" and float(s["metadata"]["probability"]) == 1,
        }
        for p in pipelines
        for s in p["stages"]
    }
    groups: dict = defaultdict(lambda: {"entered": 0, "moved_on": 0, "still": 0, "days": []})
    for deal in objects["deals"]:
        props = deal["properties"]
        if deal["archived"]:
            continue
        entries = [
            (stage_id, entered, parse_time(props.get(f"hs_date_exited_{stage_id}")))
            for stage_id in stages
            if (entered := parse_time(props.get(f"hs_date_entered_{stage_id}")))
        ]
        current = stages.get(props.get("dealstage"))
        for stage_id, entered, exited in entries:
            stage = stages[stage_id]
            if stage["closed"]:
                continue
            won_now = (
                current is not None and current["won"] and current["pipeline"] == stage["pipeline"]
            )
            later = [
                stages[other]
                for other, other_entered, _ in entries
                if other != stage_id
                and stages[other]["pipeline"] == stage["pipeline"]
                and other_entered >= entered
            ]
            moved_on = won_now or any(
                s["won"] or (not s["closed"] and s["order"] > stage["order"]) for s in later
            )
            group = groups[stage["pipeline"], stage_id, quarter(entered, timezone)]
            group["entered"] += 1
            group["moved_on"] += moved_on
            group["still"] += props.get("dealstage") == stage_id
            if exited is not None and exited >= entered:
                group["days"].append((exited - entered).total_seconds() / 86400)
    return {
        key: {
            "deals_entered": g["entered"],
            "deals_moved_on": g["moved_on"],
            "deals_still_in_stage": g["still"],
            "conversion_rate": g["moved_on"] / g["entered"],
            "median_days_in_stage": median(g["days"]) if g["days"] else None,
        }
        for key, g in groups.items()
    }
