"""`crm-kpi`: run the pipeline, or try it on the embedded demo CRM.

Exit codes: 0 published; 1 run failed (nothing published); 2 bad configuration or credentials;
3 a blocking quality check failed (the previous KPIs are kept).
"""

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .exit_codes import ExitCode
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
    run = commands.add_parser(
        "run", help="sync the CRM, build and check the KPIs, publish kpi.duckdb"
    )
    sync = commands.add_parser("sync", help="sync the CRM into the warehouse's raw layer only")
    for command in (run, sync):
        command.add_argument(
            "--full-refresh",
            action="store_true",
            help="fetch every record again instead of only what changed since the last sync",
        )
    commands.add_parser("demo", help="start the demo CRM on a free port and run against it")
    from .demo_crm.server import add_demo_crm_arguments

    add_demo_crm_arguments(commands.add_parser("demo-crm", help="serve the demo CRM alone"))
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        if args.command == "demo-crm":
            from .demo_crm.server import serve_from_args

            serve_from_args(args)
            return 0
        if args.command == "demo":
            return _demo(settings)
        settings.access_token()  # fail at once, before the slow imports, when it is missing
        outcome = _run(settings, args.full_refresh, sync_only=args.command == "sync")
        return _report(outcome, settings, published=args.command == "run")
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
        # Each demo CRM is generated afresh, so the demo always syncs everything.
        return _report(_run(load_settings(), full_refresh=True), settings)


def _run(settings: Settings, full_refresh: bool = False, sync_only: bool = False):
    # Dagster and dbt take seconds to import: only once the settings are known to be good.
    from .runner import run_pipeline

    steps = "sync" if sync_only else "sync -> dbt build -> checks -> publish"
    print(f"running {steps} (log: {settings.run_log_path})")
    started = time.monotonic()
    outcome = run_pipeline(settings, full_refresh=full_refresh, sync_only=sync_only)
    print(f"finished in {time.monotonic() - started:.0f}s")
    return outcome


def _report(outcome, settings: Settings, published: bool = True) -> int:
    if outcome.exit_code != ExitCode.PUBLISHED:
        print(f"crm-kpi: {outcome.reason}", file=sys.stderr)
        return outcome.exit_code
    print(f"synced into {settings.warehouse_path}:")
    for name, stored in outcome.records.items():
        mode, fetched = outcome.modes[name], outcome.fetched[name]
        print(f"  {name:<16}{mode:<12} {fetched:>9,} fetched {stored:>10,} stored")
    if not published:
        return ExitCode.PUBLISHED
    print(f"published {settings.published_path}")
    for table, rows in outcome.published_rows.items():
        print(f"  {table}: {rows} rows")
    _print_summary(settings)
    return ExitCode.PUBLISHED


def _print_summary(settings: Settings) -> None:
    """Last week per team, read back from the published file as a BI tool would."""
    import duckdb

    today = datetime.now(ZoneInfo(settings.timezone)).date()
    last_week = today - timedelta(days=today.weekday() + 7)
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        rows = con.execute(
            """
            select
                coalesce(team_name, '(no team)'),
                sum(calls + emails + meetings + tasks)::int,
                sum(deals_created)::int,
                sum(pipeline_created_amount),
                sum(deals_won)::int,
                sum(won_amount)
            from kpi_rep_weekly
            where week_start = $week
            group by all
            order by 1
            """,
            {"week": last_week},
        ).fetchall()
        open_deals, open_amount = con.execute(
            "select sum(open_deals)::int, sum(open_amount) from kpi_open_pipeline"
        ).fetchone()
    finally:
        con.close()
    print(f"\nlast week (from {last_week}):")
    header = ("team", "activities", "new deals", "pipeline", "won", "bookings")
    print("  {:<24}{:>11}{:>10}{:>12}{:>5}{:>12}".format(*header))
    for team, activities, created, pipeline, won, bookings in rows:
        print(
            f"  {team:<24}{activities:>11}{created:>10}{pipeline:>12,.0f}{won:>5}{bookings:>12,.0f}"
        )
    print(f"open pipeline now: {open_deals or 0} deals, {open_amount or 0:,.0f}")


if __name__ == "__main__":
    sys.exit(main())
