"""The report's charts: matplotlib drawn to SVG text that the HTML carries inline.

SVG keeps the report one offline file that prints sharply; text stays text (fonttype none), so
the charts are small, searchable and use the page's font.
"""

import io
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

matplotlib.use("svg")  # no display, no GUI toolkit: the report is rendered on servers too

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter, PercentFormatter

# Print-friendly: colours that survive greyscale by lightness, thin grid, no chart junk.
INK, MUTED, ACCENT, SECOND, WARN = "#1f2933", "#8a96a3", "#1f5f99", "#7fb2e5", "#c2410c"
STYLE = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e7eb",
    "grid.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
}
WIDTH_IN = 6.4
CURRENT_WEEK_NOTE = "week starting (Monday); the last week is still in progress"

money_axis = FuncFormatter(lambda v, _: f"{v:,.0f}")


@contextmanager
def _figure(name: str, height_in: float) -> Iterator[tuple]:
    # Each chart gets its own id salt: several SVGs share one HTML document, and equal ids
    # (clip paths) across them would make one chart clip to another's box.
    with plt.rc_context({**STYLE, "svg.hashsalt": name}):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, height_in), layout="constrained")
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def to_svg(fig) -> str:
    buffer = io.StringIO()
    # No metadata block: a date in it would change the file on every render, for nothing.
    fig.savefig(buffer, format="svg", metadata=dict.fromkeys(("Creator", "Date", "Format", "Type")))
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and DOCTYPE: it sits inside HTML


def activity_vs_median(name: str, reps: pd.DataFrame) -> str:
    """Each rep's activities in the last 7 days beside the team median."""
    reps = reps.iloc[::-1]  # matplotlib draws bars bottom-up; keep the table's order top-down
    with _figure(name, 0.6 + 0.28 * max(len(reps), 1)) as (fig, ax):
        ax.barh(reps.owner_name, reps.activities_last_7d, color=ACCENT, height=0.6)
        if len(reps):
            median = float(reps.team_median_activities_last_7d.iloc[0])
            ax.axvline(median, color=WARN, linestyle="--", linewidth=1.2)
            ax.annotate(
                f"team median {median:g}",
                (median, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, 0),
                textcoords="offset points",
                color=WARN,
                va="top",
            )
        ax.set_xlabel("activities in the last 7 days (calls, emails, meetings, tasks)")
        ax.grid(axis="y", visible=False)
        return to_svg(fig)


def weekly_activity(name: str, weeks: pd.DataFrame) -> str:
    """The team's activities per week, stacked by kind."""
    with _figure(name, 2.4) as (fig, ax):
        labels = [f"{w:%d %b}" for w in pd.to_datetime(weeks.week_start)]
        bottom = pd.Series(0.0, index=weeks.index)
        colors = (ACCENT, SECOND, "#4b8f6b", "#b9d7a8")
        for kind, color in zip(("calls", "emails", "meetings", "tasks"), colors, strict=True):
            ax.bar(labels, weeks[kind], bottom=bottom, color=color, label=kind, width=0.7)
            bottom += weeks[kind].astype(float)
        ax.set_ylabel("activities per week")
        ax.set_xlabel(CURRENT_WEEK_NOTE)
        ax.legend(ncols=4, frameon=False, loc="upper left", bbox_to_anchor=(0, 1.18))
        ax.tick_params(axis="x", labelrotation=45)
        ax.grid(axis="x", visible=False)
        return to_svg(fig)


def pipeline_created(name: str, weeks: pd.DataFrame) -> str:
    """Amount of new deals created per week."""
    with _figure(name, 2.2) as (fig, ax):
        labels = [f"{w:%d %b}" for w in pd.to_datetime(weeks.week_start)]
        ax.bar(labels, weeks.pipeline_created_amount.astype(float), color=ACCENT, width=0.7)
        ax.yaxis.set_major_formatter(money_axis)
        ax.set_ylabel("pipeline created\n(company currency)")
        ax.set_xlabel(CURRENT_WEEK_NOTE)
        ax.tick_params(axis="x", labelrotation=45)
        ax.grid(axis="x", visible=False)
        return to_svg(fig)


def bookings_vs_quota(name: str, reps: pd.DataFrame, quarter: str) -> str:
    """Won amount this quarter per rep, with the quota as a marker."""
    reps = reps.iloc[::-1]
    with _figure(name, 0.7 + 0.28 * max(len(reps), 1)) as (fig, ax):
        won = reps.won_amount.fillna(0).astype(float)
        rows = range(len(reps))  # positions, not names: a rep without a quota has no marker
        ax.barh(rows, won, color=ACCENT, height=0.6, label="won")
        quota = reps.quota_amount.astype(float)
        if quota.notna().any():
            ax.scatter(quota, rows, marker="|", s=220, color=WARN, label="quota", zorder=3)
        ax.set_yticks(rows, reps.owner_name)
        for y, (amount, attainment) in enumerate(zip(won, reps.attainment, strict=True)):
            if pd.notna(attainment):
                ax.annotate(
                    f"{attainment:.0%}",
                    (amount, y),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                )
        ax.xaxis.set_major_formatter(money_axis)
        ax.set_xlabel(f"bookings (won amount, company currency), {quarter}")
        # Above the plot: inside it, the legend would cover the quota markers at the right.
        ax.legend(frameon=False, ncols=2, loc="lower right", bbox_to_anchor=(1, 1))
        ax.grid(axis="y", visible=False)
        return to_svg(fig)


def win_rate_trend(name: str, quarters: pd.DataFrame) -> str:
    """Team win rate per quarter (deals won out of deals closed)."""
    with _figure(name, 2.0) as (fig, ax):
        rates = quarters.win_rate.astype(float)
        ax.plot(quarters.quarter, rates, marker="o", color=ACCENT)
        for x, rate in zip(quarters.quarter, rates, strict=True):
            if pd.notna(rate):
                ax.annotate(f"{rate:.0%}", (x, rate), xytext=(0, 6), textcoords="offset points")
        ax.set_ylim(0, 1.05)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel("win rate\n(won ÷ closed deals)")
        ax.set_xlabel("quarter (by close date)")
        return to_svg(fig)


def stage_funnel(name: str, stages: pd.DataFrame, quarter: str) -> str:
    """Deals entering each stage of one pipeline this quarter, first stage on top."""
    stages = stages.iloc[::-1]
    with _figure(name, 0.7 + 0.3 * max(len(stages), 1)) as (fig, ax):
        entered = stages.deals_entered.astype(float)
        ax.barh(stages.stage_label, entered, color=ACCENT, height=0.6)
        for y, (count, rate) in enumerate(zip(entered, stages.conversion_rate, strict=True)):
            label = f"{count:,.0f}" + (f"  ({rate:.0%} moved on)" if pd.notna(rate) else "")
            ax.annotate(label, (count, y), xytext=(3, 0), textcoords="offset points", va="center")
        ax.set_xlabel(f"deals that entered the stage, {quarter}")
        ax.set_xlim(0, max(entered.max(), 1) * 1.35)
        ax.grid(axis="y", visible=False)
        return to_svg(fig)


def open_pipeline_trend(name: str, days: pd.DataFrame, timezone: str) -> str:
    """Open pipeline amount per daily snapshot, one line per pipeline."""
    with _figure(name, 2.4) as (fig, ax):
        for label, snapshots in days.groupby("pipeline_label", sort=True):
            ax.plot(
                pd.to_datetime(snapshots.snapshot_date),
                snapshots.open_amount.astype(float),
                marker=".",
                label=label,
            )
        # Always the 28-day window the caption names: with a single snapshot (a new install)
        # matplotlib would otherwise spread one point over years of empty axis.
        last = pd.to_datetime(days.snapshot_date).max()
        ax.set_xlim(last - pd.Timedelta(days=27.5), last + pd.Timedelta(days=0.5))
        ax.set_ylim(bottom=0)  # money from zero, so a dip is not drawn as a collapse
        ax.yaxis.set_major_formatter(money_axis)
        ax.set_ylabel("open pipeline\n(company currency)")
        ax.set_xlabel(f"snapshot date ({timezone}, end of day)")
        ax.legend(frameon=False, fontsize=8)
        fig.autofmt_xdate()
        return to_svg(fig)
