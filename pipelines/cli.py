"""`crm-kpi`: sync a CRM into a checked DuckDB KPI warehouse, and see what it published.

Exit codes: 0 done (published); 1 run failed (nothing published); 2 bad configuration or
credentials, or nothing published yet to read; 3 a blocking quality check failed (the previous
KPIs are kept).
"""

import argparse
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .exit_codes import ExitCode
from .settings import ConfigError, Settings, load_settings, setting_default, setting_variable

DEMO_CRM = "demo-crm"
CRM_NAMES = ("hubspot", "salesforce")


def _reads(*fields: str) -> tuple[str, ...]:
    """The settings a command reads, by Settings field; a name Settings lacks fails at import."""
    unknown = [name for name in fields if name not in Settings.model_fields]
    if unknown:
        raise ValueError(f"Settings has no field {', '.join(unknown)}")
    return fields


# What each command reads, for its --help (`crm-kpi --help` lists every setting).
# Where each CRM is and the credentials to read it: the demo serves its own in their place.
CRM_ACCESS = _reads(
    "hubspot_access_token",
    "hubspot_base_url",
    "salesforce_login_url",
    "salesforce_client_id",
    "salesforce_client_secret",
    "salesforce_access_token",
    "salesforce_instance_url",
)
SYNC_READS = (
    _reads("crm")
    + CRM_ACCESS
    + _reads(
        "salesforce_api_version",
        "data_dir",
        "rate_limit",
        "search_rate_limit",
        "salesforce_lookback_minutes",
        "salesforce_api_reserve",
        "extra_properties",
        "max_sync_age_hours",  # the raw layer's freshness checks run with the sync
    )
)
RUN_READS = SYNC_READS + _reads(
    "quotas", "timezone", "as_of", "max_deal_amount", "max_quarantine_share", "max_row_count_drop"
)
DEMO_READS = tuple(name for name in RUN_READS if name not in CRM_ACCESS)
REPORT_READS = _reads("data_dir", "timezone")
PUBLISHED_READS = _reads("data_dir")


def _settings_help(fields: Sequence[str]) -> str | None:
    """The environment variables behind `fields`, in Settings' order, with meaning and default."""
    if not fields:
        return None
    # Wrapped to the terminal, as argparse wraps its own text.
    width = min(100, max(60, shutil.get_terminal_size().columns - 2))
    lines = ["environment (a .env file in the working directory is honoured):"]
    for name in Settings.model_fields:
        if name not in fields:
            continue
        default = setting_default(name)
        meaning = Settings.model_fields[name].description
        lines.append(
            textwrap.fill(
                f"{meaning}; default {default}" if default else meaning,
                width,
                initial_indent=f"  {setting_variable(name):<36} ",
                subsequent_indent=" " * 39,
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [DEMO_CRM]:
        # The demo CRM parses its own options: the product never imports it otherwise.
        from demo_crm.command import main as serve_demo_crm

        return serve_demo_crm(argv[1:], prog=f"crm-kpi {DEMO_CRM}")
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        return args.handler(settings, args)
    except ConfigError as exc:
        print(f"crm-kpi: {exc}", file=sys.stderr)
        return ExitCode.BAD_CONFIGURATION
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `crm-kpi status | head`: the reader left; not an error worth a traceback.
        sys.stdout = None  # Python would complain again when flushing stdout at exit
        return ExitCode.PUBLISHED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-kpi",
        description=__doc__,
        epilog=_settings_help(tuple(Settings.model_fields)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, details: str, reads: Sequence[str], handler):
        sub = commands.add_parser(
            name,
            help=summary,
            description=f"{summary}.\n\n{details}",
            epilog=_settings_help(reads),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    full_refresh = "fetch every record again instead of only what changed since the last sync"
    run = command(
        "run",
        "sync the CRM, build and check the KPIs, publish kpi.duckdb and the report",
        "Drives the Dagster asset graph: sync -> dbt build -> quality checks -> publish -> "
        "report and Parquet exports. Exit 0 published, 1 failed, 2 bad configuration, "
        "3 a blocking check failed (the previous kpi.duckdb stays).",
        RUN_READS,
        _cmd_run,
    )
    run.add_argument("--full-refresh", action="store_true", help=full_refresh)
    sync = command(
        "sync",
        "sync the CRM into the warehouse's raw layer only",
        "Fetches what changed since the last sync (or everything) into warehouse.duckdb.",
        SYNC_READS,
        _cmd_run,
    )
    sync.add_argument("--full-refresh", action="store_true", help=full_refresh)
    demo = command(
        "demo",
        "start the demo CRM on a free port, run against it and write the report",
        "Needs no credentials: the embedded demo CRM serves realistic data on localhost.",
        DEMO_READS,
        _cmd_demo,
    )
    demo.add_argument(
        "--crm",
        choices=sorted(CRM_NAMES),
        help="the demo CRM to serve and read (default CRM_KPI_CRM, else hubspot)",
    )
    # Listed here for --help only: main() hands its arguments to the demo CRM's own parser.
    commands.add_parser(
        DEMO_CRM,
        help="serve a demo CRM alone (--crm hubspot|salesforce); crm-kpi demo-crm --help "
        "for options",
    )
    report = command(
        "report",
        "write the managers' HTML report from the published kpi.duckdb",
        "One self-contained HTML file (charts inline, works offline, prints): per team and rep, "
        "activity against the team median, pipeline created, bookings against quota, win rate, "
        "coverage, the stage funnel, open pipeline week over week and where support is needed.",
        REPORT_READS,
        _cmd_report,
    )
    report.add_argument("--team", metavar="NAME", help="only this team (its name or id)")
    report.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        help="where to write it (default DATA_DIR/kpi_report.html)",
    )
    export = command(
        "export",
        "write every published table as Parquet or CSV files",
        "One file per table of kpi.duckdb, for BI tools and spreadsheets that do not read DuckDB.",
        PUBLISHED_READS,
        _cmd_export,
    )
    export.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    export.add_argument(
        "--out", metavar="DIR", type=Path, help="directory (default DATA_DIR/exports)"
    )
    command(
        "status",
        "show the last publication, the sync watermark per object and the last run's checks",
        "Reads kpi.duckdb, the warehouse's sync state and last_run.json; answers while a run "
        "is writing the warehouse (then from the last finished run).",
        PUBLISHED_READS,
        _cmd_status,
    )
    return parser


def _cmd_run(settings: Settings, args) -> int:
    from .crm_sources import check_credentials
    from .warehouse import check_crm

    # Fail at once, before the slow imports: another CRM's data directory, a missing credential.
    check_crm(settings)
    check_credentials(settings)
    _preflight(settings)
    sync_only = args.command == "sync"
    outcome, seconds = _run(settings, args.full_refresh, sync_only=sync_only)
    return _summarize(outcome, settings, seconds, published=not sync_only)


def _cmd_demo(settings: Settings, args) -> int:
    crm_name = args.crm or settings.crm
    os.environ[setting_variable("crm")] = crm_name
    _preflight(settings)
    with _demo_server(crm_name, settings) as server:
        print(f"demo CRM serving at {server.url}")
        if settings.quotas is None:
            os.environ["CRM_KPI_QUOTAS"] = str(_write_demo_quotas(server.crm, settings))
        # Each demo CRM is generated afresh, so the demo always syncs everything.
        outcome, seconds = _run(load_settings(), full_refresh=True)
        return _summarize(outcome, settings, seconds)


def _demo_server(crm_name: str, settings: Settings):
    """The demo CRM, started, with the environment pointing the pipeline at it."""
    if crm_name == "salesforce":
        from demo_crm import DemoSalesforceServer

        server = DemoSalesforceServer().start()
        os.environ["SALESFORCE_LOGIN_URL"] = server.url
        os.environ["SALESFORCE_CLIENT_ID"] = server.client_id
        os.environ["SALESFORCE_CLIENT_SECRET"] = server.client_secret
        os.environ.pop("SALESFORCE_ACCESS_TOKEN", None)  # it would win over the demo's
        return server
    from demo_crm import DemoCrmServer

    server = DemoCrmServer().start()
    os.environ["HUBSPOT_BASE_URL"] = server.url
    os.environ["HUBSPOT_ACCESS_TOKEN"] = server.token
    # The demo CRM reports a limit high enough for the budget to follow; search is budgeted by
    # the setting alone (HubSpot's 4 per second would make the first sync wait). A set value wins.
    if "search_rate_limit" not in settings.model_fields_set:
        os.environ[setting_variable("search_rate_limit")] = "100"
    return server


def _write_demo_quotas(crm, settings: Settings) -> Path:
    """Quotas for the demo's reps (this quarter and the last), so the report shows attainment."""
    import csv

    today = datetime.now(ZoneInfo(settings.timezone)).date()
    this_quarter = (today.year, (today.month - 1) // 3 + 1)
    last_quarter = (today.year, this_quarter[1] - 1) if this_quarter[1] > 1 else (today.year - 1, 4)
    path = settings.demo_quotas_path
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["owner_email", "quarter", "quota_amount"])
        for owner in crm.owners:
            if owner.get("email") and not owner.get("archived"):
                for year, q in (last_quarter, this_quarter):
                    writer.writerow([owner["email"], f"{year}-Q{q}", 400000])
    return path


def _cmd_report(settings: Settings, args) -> int:
    from .report.data import ReportError
    from .report.render import write_report

    out = args.out or settings.report_path
    _ensure_writable(out.resolve().parent, "the report's directory")
    try:
        report = write_report(settings.published_path, out, settings.timezone, team=args.team)
    except ReportError as exc:
        raise ConfigError(str(exc)) from None
    print(f"report: {report.path} ({report.size_bytes:,} bytes, {report.seconds:.1f}s)")
    return ExitCode.PUBLISHED


def _cmd_export(settings: Settings, args) -> int:
    from .export import export_tables

    _require_published(settings)
    out = args.out or settings.exports_dir
    _ensure_writable(out, "the export directory")
    written = export_tables(settings.published_path, out, args.format)
    print(f"exported {len(written)} tables as {args.format} to {out}")
    for table, path in written.items():
        print(f"  {table}: {path.name}")
    return ExitCode.PUBLISHED


def _cmd_status(settings: Settings, args) -> int:
    from .status import collect_status, format_status

    print(format_status(collect_status(settings)))
    return ExitCode.PUBLISHED


def _preflight(settings: Settings) -> None:
    """What a user can get wrong before a run: caught here as one line, not deep in a run."""
    from .quotas import validate_quotas_file

    _ensure_writable(settings.data_dir.resolve(), "the data directory (CRM_KPI_DATA_DIR)")
    if settings.quotas is not None:
        validate_quotas_file(settings.quotas)


def _ensure_writable(directory: Path, what: str) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write to {what} {directory}: {exc.strerror}; "
            "point it at a directory you can write to"
        ) from None


def _require_published(settings: Settings) -> None:
    if not settings.published_path.is_file():
        raise ConfigError(
            f"no published KPIs at {settings.published_path}: run `crm-kpi run` "
            "(or `crm-kpi demo`) first"
        )


def _run(settings: Settings, full_refresh: bool = False, sync_only: bool = False):
    # Dagster and dbt take seconds to import: only once the settings are known to be good.
    from .runner import run_pipeline

    steps = "sync" if sync_only else "sync -> dbt build -> checks -> publish -> report"
    print(f"running {steps} (log: {settings.run_log_path})", flush=True)
    started = time.monotonic()
    outcome = run_pipeline(settings, full_refresh=full_refresh, sync_only=sync_only)
    return outcome, time.monotonic() - started


def _summarize(outcome, settings: Settings, seconds: float, published: bool = True) -> int:
    """The run's final summary: what was synced, built, checked and published, and how long."""
    from .report_asset import KPI_REPORT

    result = outcome.dagster_result
    materialized = set()
    if outcome.records:
        print(f"synced into {settings.raw_layer}:")
    for name, stored in outcome.records.items():
        mode, fetched = outcome.modes[name], outcome.fetched[name]
        print(f"  {name:<20}{mode:<12} {fetched:>9,} fetched {stored:>10,} stored")
    if result is not None and published:
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        marts = sum(1 for key in materialized if key.path[0] == "marts")
        checks = outcome.checks
        print(f"marts built: {marts}")
        print(f"checks: {checks.passed} passed, {checks.warned} warned, {checks.failed} failed")
        for check in checks.not_passed:
            print(f"  - {check}")
    print(f"finished in {seconds:.0f}s")
    if outcome.exit_code != ExitCode.PUBLISHED:
        print(f"crm-kpi: {outcome.reason}", file=sys.stderr)
        return outcome.exit_code
    if not published:
        return ExitCode.PUBLISHED
    print(f"published {settings.published_path}")
    for table, rows in outcome.published_rows.items():
        print(f"  {table}: {rows} rows")
    _print_last_week(settings)
    if KPI_REPORT in materialized:
        print(f"\nreport: {settings.report_path}  (open it in a browser)")
    else:
        print("crm-kpi: the report was not written; see the run log", file=sys.stderr)
    return ExitCode.PUBLISHED


def _print_last_week(settings: Settings) -> None:
    """Last week per team, read back from the published file as a BI tool would."""
    import duckdb

    from .report.trust import read_trust_stamp

    today = datetime.now(ZoneInfo(settings.timezone)).date()
    last_week = today - timedelta(days=today.weekday() + 7)
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        stamp = read_trust_stamp(con)
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
    if stamp.quarantined_records is not None:
        print(f"quarantined records: {stamp.quarantined_records}")
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
