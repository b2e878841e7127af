"""`crm-kpi`: run the pipeline, or try it on the embedded demo CRM.

Exit codes: 0 published; 1 run failed (nothing published); 2 bad configuration or credentials;
3 a blocking quality check failed (the previous KPIs are kept).
"""

import argparse
import os
import sys

from .runner import ExitCode, RunOutcome, run_pipeline
from .settings import ConfigError, Settings, load_settings

ENVIRONMENT_HELP = """environment (a .env file in the working directory is honoured):
  HUBSPOT_ACCESS_TOKEN  private-app token (required for run)
  HUBSPOT_BASE_URL      default https://api.hubapi.com
  CRM_KPI_DATA_DIR      default ./data: warehouse.duckdb (working) and kpi.duckdb (published)
  CRM_KPI_QUOTAS        optional CSV owner_email,quarter,quota_amount
  CRM_KPI_TIMEZONE      reporting time zone (IANA name), default UTC
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="crm-kpi",
        description=__doc__.splitlines()[0],
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="sync the CRM, build and check the KPIs, publish kpi.duckdb")
    commands.add_parser("demo", help="start the demo CRM on a free port and run against it")
    demo_crm = commands.add_parser("demo-crm", help="serve the demo CRM alone")
    demo_crm.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        if args.command == "demo-crm":
            from .demo_crm import serve

            serve(port=args.port)
            return 0
        if args.command == "demo":
            return _demo(settings)
        return _report(run_pipeline(settings), settings)
    except ConfigError as exc:
        print(f"crm-kpi: {exc}", file=sys.stderr)
        return ExitCode.BAD_CONFIGURATION
    except KeyboardInterrupt:
        return 130


def _demo(settings: Settings) -> int:
    from .demo_crm import DemoCrmServer

    with DemoCrmServer() as crm:
        os.environ["HUBSPOT_BASE_URL"] = crm.url
        os.environ["HUBSPOT_ACCESS_TOKEN"] = crm.token
        print(f"demo CRM serving at {crm.url}")
        return _report(run_pipeline(load_settings()), settings)


def _report(outcome: RunOutcome, settings: Settings) -> int:
    if outcome.exit_code != ExitCode.PUBLISHED:
        print(f"crm-kpi: {outcome.reason}", file=sys.stderr)
        return outcome.exit_code
    synced = ", ".join(f"{n} {name}" for name, n in outcome.records.items())
    print(f"synced: {synced}")
    print(f"published {settings.published_path}")
    for table, rows in outcome.published_rows.items():
        print(f"  {table}: {rows} rows")
    _print_summary(settings)
    return ExitCode.PUBLISHED


def _print_summary(settings: Settings) -> None:
    """The last full week per team, read back from the published file as a BI tool would."""
    import duckdb

    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        rows = con.sql(
            """
            with last_week as (
                select max(week_start) - 7 as week_start from kpi_rep_weekly
            )
            select
                coalesce(team_name, '(no team)'),
                sum(calls + emails + meetings + tasks)::int,
                sum(deals_created)::int,
                round(sum(pipeline_created_amount)),
                sum(deals_won)::int,
                round(sum(won_amount))
            from kpi_rep_weekly
            where week_start = (select week_start from last_week)
            group by all
            order by 1
            """
        ).fetchall()
        week = con.sql("select max(week_start) - 7 from kpi_rep_weekly").fetchone()[0]
        open_deals, open_amount = con.sql(
            "select sum(open_deals)::int, round(sum(open_amount)) from kpi_open_pipeline"
        ).fetchone()
    finally:
        con.close()
    print(f"\nweek of {week}:")
    header = ("team", "activities", "new deals", "pipeline", "won", "bookings")
    print("  {:<24}{:>11}{:>10}{:>12}{:>5}{:>12}".format(*header))
    for team, activities, created, pipeline, won, bookings in rows:
        print(
            f"  {team:<24}{activities:>11}{created:>10}{pipeline:>12,.0f}{won:>5}{bookings:>12,.0f}"
        )
    print(f"open pipeline now: {open_deals} deals, {open_amount:,.0f}")


if __name__ == "__main__":
    sys.exit(main())
