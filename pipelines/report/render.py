"""Write the manager report: one self-contained HTML file (inline CSS and SVG, no scripts).

Every number printed from a published table carries `data-table`, `data-key` and `data-column`
attributes, so a test (or a curious analyst) can find the exact row it came from.
"""

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from . import charts
from .data import ReportData, load_report_data


@dataclass(frozen=True)
class ReportResult:
    path: Path
    size_bytes: int
    teams: int
    seconds: float


def write_report(
    published_path: Path, out_path: Path, timezone: str, team: str | None = None
) -> ReportResult:
    """Render the report from `published_path` and write it atomically to `out_path`."""
    started = time.monotonic()
    data = load_report_data(published_path, timezone, team)
    html = render_html(data)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside, then renamed: a manager who has the report open never sees half a file.
    staging = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        staging.write_text(html, encoding="utf-8")
        os.replace(staging, out_path)
    finally:
        staging.unlink(missing_ok=True)
    return ReportResult(out_path, len(html.encode()), len(data.teams), time.monotonic() - started)


def render_html(data: ReportData) -> str:
    env = Environment(
        loader=PackageLoader("pipelines.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(money=money, pct=pct, ratio=ratio, count=count, when=when, change=change)
    env.globals.update(cell=cell)
    return env.get_template("report.html.j2").render(
        data=data, charts=_charts(data), rows=lambda frame: frame.to_dict("records")
    )


def _charts(data: ReportData) -> dict[str, Markup]:
    """SVG per chart, keyed by a name the template uses; Markup because matplotlib wrote it."""
    svgs: dict[str, str] = {}
    for team in data.teams:
        t = team.team_id
        if len(team.reps):
            svgs[f"activity-{t}"] = charts.activity_vs_median(f"activity-{t}", team.reps)
            svgs[f"bookings-{t}"] = charts.bookings_vs_quota(
                f"bookings-{t}", team.reps, data.quarter
            )
        if len(team.weeks):
            svgs[f"weekly-{t}"] = charts.weekly_activity(f"weekly-{t}", team.weeks)
            svgs[f"created-{t}"] = charts.pipeline_created(f"created-{t}", team.weeks)
        if len(team.quarters):
            svgs[f"winrate-{t}"] = charts.win_rate_trend(f"winrate-{t}", team.quarters)
    for pipeline_id, stages in data.funnel.groupby("pipeline_id", sort=False):
        name = f"funnel-{pipeline_id}"
        svgs[name] = charts.stage_funnel(name, stages, data.quarter)
    if len(data.pipeline_days):
        svgs["open-pipeline"] = charts.open_pipeline_trend(
            "open-pipeline", data.pipeline_days, data.timezone
        )
    return {name: Markup(svg) for name, svg in svgs.items()}


def _missing(value) -> bool:
    return value is None or bool(pd.isna(value))


def money(value) -> str:
    return "—" if _missing(value) else f"{float(value):,.0f}"


def pct(value) -> str:
    return "—" if _missing(value) else f"{float(value) * 100:.0f}%"


def ratio(value) -> str:
    return "—" if _missing(value) else f"{float(value):.1f}×"


def count(value) -> str:
    if _missing(value):
        return "—"
    value = float(value)
    # A median of an even number of reps can fall between two counts: show the half.
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"


def when(value, timezone: str | None = None) -> str:
    if _missing(value):
        return "unknown"
    if isinstance(value, datetime):
        if timezone and value.tzinfo is not None:
            value = value.astimezone(ZoneInfo(timezone))
        return value.strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def change(latest, prior) -> str:
    """Signed difference, and as a share of the earlier value when that is not zero."""
    if _missing(latest) or _missing(prior):
        return "—"
    delta = float(latest) - float(prior)
    share = f" ({delta / float(prior):+.0%})" if float(prior) else ""
    return f"{delta:+,.0f}{share}"


FORMATS = {"money": money, "pct": pct, "ratio": ratio, "count": count}


def cell(value, kind: str, table: str, column: str, **key) -> Markup:
    """A number as shown, tagged with the published row and column it came from."""
    key = {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in key.items()}
    html = '<span class="num" data-table="{}" data-column="{}" data-key="{}">{}</span>'
    return Markup(html).format(
        table, column, json.dumps(key, default=str), escape(FORMATS[kind](value))
    )
