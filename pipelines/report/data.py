"""What the manager report shows, read from the published kpi.duckdb and nothing else.

Every figure comes from a published table as it stands, so a number in the report can always be
found again in the file a BI tool reads (the browser tests check exactly that).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from .trust import TrustStamp, read_trust_stamp

WEEKS_SHOWN = 12
QUARTERS_SHOWN = 4
PIPELINE_DAYS_SHOWN = 28


class ReportError(Exception):
    """Something the user can fix (no published file, an unknown team): one line, exit 2."""


@dataclass
class TeamSection:
    team_id: str
    team_name: str
    quarter: dict | None  # kpi_team_quarterly row for the current quarter
    reps: pd.DataFrame  # one row per active rep: coaching signals + this quarter's numbers
    weeks: pd.DataFrame  # kpi_team_weekly, last WEEKS_SHOWN weeks
    quarters: pd.DataFrame  # kpi_team_quarterly, last QUARTERS_SHOWN quarters


@dataclass
class ReportData:
    stamp: TrustStamp
    timezone: str
    today: date  # as_of's date in the reporting time zone
    quarter: str  # e.g. 2026-Q4, the quarter holding `today`
    teams: list[TeamSection] = field(default_factory=list)
    funnel: pd.DataFrame | None = None  # kpi_stage_conversion, current quarter
    pipeline_days: pd.DataFrame | None = None  # open pipeline per pipeline per snapshot date
    pipeline_change: pd.DataFrame | None = None  # latest snapshot vs seven days before


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def load_report_data(published_path: Path, timezone: str, team: str | None = None) -> ReportData:
    """Read everything the report shows; `team` (name or id) narrows it to one team."""
    if not published_path.is_file():
        raise ReportError(
            f"no published KPIs at {published_path}: run `crm-kpi run` (or `crm-kpi demo`) first"
        )
    con = duckdb.connect(str(published_path), read_only=True)
    try:
        return _load(con, timezone, team)
    finally:
        con.close()


def _load(con: duckdb.DuckDBPyConnection, timezone: str, team: str | None) -> ReportData:
    stamp = read_trust_stamp(con)
    as_of = stamp.as_of or datetime.now(ZoneInfo("UTC"))
    today = as_of.astimezone(ZoneInfo(timezone)).date()
    data = ReportData(stamp, timezone, today, quarter_of(today))

    teams = con.execute("select team_id, team_name from dim_teams order by team_name").fetchall()
    if team is not None:
        chosen = [(i, n) for i, n in teams if team in (i, n)]
        if not chosen:
            names = ", ".join(n for _, n in teams) or "none"
            raise ReportError(f"no team named {team!r} in the published KPIs (teams: {names})")
        teams = chosen
    data.teams = [_team_section(con, team_id, name, data) for team_id, name in teams]

    data.funnel = con.execute(
        """
        select pipeline_id, pipeline_label, stage_id, stage_label, stage_display_order, quarter,
               deals_entered, deals_moved_on, conversion_rate, median_days_in_stage
        from kpi_stage_conversion
        where quarter = $quarter
        order by pipeline_label, stage_display_order
        """,
        {"quarter": data.quarter},
    ).df()
    data.pipeline_days = con.execute(
        """
        select snapshot_date, pipeline_id, any_value(pipeline_label) as pipeline_label,
               sum(open_amount) as open_amount, sum(open_deals) as open_deals
        from kpi_pipeline_daily
        where snapshot_date > $today - $days
        group by snapshot_date, pipeline_id
        order by pipeline_label, snapshot_date
        """,
        {"today": data.today, "days": PIPELINE_DAYS_SHOWN},
    ).df()
    data.pipeline_change = _week_over_week(data.pipeline_days)
    return data


def _team_section(con, team_id: str, team_name: str, data: ReportData) -> TeamSection:
    params = {"team": team_id, "quarter": data.quarter}
    quarter = con.execute(
        "select * from kpi_team_quarterly where team_id = $team and quarter = $quarter", params
    ).df()
    # Reps listed by name: the report says where to help, it does not rank people.
    reps = con.execute(
        """
        select
            s.owner_id, s.owner_name, s.activities_last_7d, s.team_median_activities_last_7d,
            s.open_deals, s.open_amount, s.overdue_deals, s.stalled_deals,
            s.pipeline_created_last_30d, s.win_rate_last_90d,
            q.quarter, q.deals_created, q.pipeline_created_amount, q.won_amount, q.quota_amount,
            q.attainment, q.pipeline_coverage, q.win_rate
        from kpi_coaching_signals as s
        left join kpi_rep_quarterly as q
            on q.owner_id = s.owner_id and q.quarter = $quarter
        where s.team_id = $team
        order by s.owner_name, s.owner_id
        """,
        params,
    ).df()
    weeks = con.execute(
        """
        select * from kpi_team_weekly
        where team_id = $team and week_start <= $today
        order by week_start desc
        limit $weeks
        """,
        {"team": team_id, "today": data.today, "weeks": WEEKS_SHOWN},
    ).df()
    quarters = con.execute(
        """
        select * from kpi_team_quarterly
        where team_id = $team and quarter <= $quarter
        order by quarter desc
        limit $quarters
        """,
        {**params, "quarters": QUARTERS_SHOWN},
    ).df()
    return TeamSection(
        team_id,
        team_name,
        quarter.iloc[0].to_dict() if len(quarter) else None,
        reps,
        weeks.iloc[::-1].reset_index(drop=True),
        quarters.iloc[::-1].reset_index(drop=True),
    )


def _week_over_week(days: pd.DataFrame) -> pd.DataFrame:
    """Per pipeline: open pipeline at the latest snapshot and at the snapshot seven days earlier."""
    columns = ["pipeline_id", "pipeline_label", "latest_date", "latest", "prior_date", "prior"]
    if days.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for pipeline_id, snapshots in days.groupby("pipeline_id", sort=False):
        by_date = snapshots.set_index(snapshots.snapshot_date.map(_as_date))
        latest_date = max(by_date.index)
        prior_date = latest_date - timedelta(days=7)
        prior = by_date.open_amount.get(prior_date)
        rows.append(
            {
                "pipeline_id": pipeline_id,
                "pipeline_label": snapshots.pipeline_label.iloc[0],
                "latest_date": latest_date,
                "latest": by_date.open_amount[latest_date],
                "prior_date": prior_date if prior is not None else None,
                "prior": prior,
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _as_date(value) -> date:
    return value.date() if hasattr(value, "date") else value
