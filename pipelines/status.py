"""`crm-kpi status`: what was last published, how far each object is synced, how the last run went.

DuckDB lets one process write a file, and while it writes no other process can open it, not even
read-only. So the runner leaves `last_run.json` beside the data at the end of every run (with the
sync state as it stood then), and `status` falls back to it while a run holds the warehouse.
"""

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb

from .settings import ConfigError, Settings

if TYPE_CHECKING:  # importing Dagster takes seconds; `crm-kpi status` answers without it
    from .check_outcomes import CheckOutcomes


def record_run(settings: Settings, outcome, started_at: datetime, finished_at: datetime) -> None:
    """Leave the run's result beside the data for `crm-kpi status` (a run never fails on it)."""
    record = {
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "exit_code": int(outcome.exit_code),
        "outcome": outcome.reason,
        "records": outcome.records,
        "fetched": outcome.fetched,
        "checks": _checks_record(outcome.checks) if outcome.checks is not None else None,
        "published_tables": len(outcome.published_rows),
        "sync_state": read_sync_state(settings),
    }
    path = settings.last_run_path
    staging = path.with_suffix(".json.tmp")
    try:
        staging.write_text(json.dumps(record, indent=2, default=str))
        staging.replace(path)
    except OSError:
        staging.unlink(missing_ok=True)


def _checks_record(checks: "CheckOutcomes") -> dict[str, Any]:
    return {
        "passed": checks.passed,
        "warned": checks.warned,
        "failed": checks.failed,
        "not_passed": list(checks.not_passed),
    }


def read_sync_state(settings: Settings) -> list[dict[str, Any]]:
    """raw._sync_state, one entry per object; on DuckDB raises duckdb.IOException while a run
    writes."""
    from .warehouse import connect_warehouse

    if settings.warehouse == "duckdb" and not settings.warehouse_path.exists():
        return []
    with connect_warehouse(settings, read_only=True) as wh:
        if "_sync_state" not in wh.tables("raw"):
            return []
        cursor = wh.execute(
            "select object_name, synced_at, watermark, mode, records, archived_records "
            f"from {wh.sync_state_table} order by object_name"
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [{k: _jsonable(v) for k, v in row.items()} for row in rows]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def collect_status(settings: Settings) -> dict[str, Any]:
    from .report.trust import read_trust_stamp

    status: dict[str, Any] = {"data_dir": str(settings.data_dir.resolve())}
    published = settings.published_path
    if published.exists():
        con = duckdb.connect(str(published), read_only=True)
        try:
            stamp = read_trust_stamp(con)
            tables = con.execute(
                "select table_name, estimated_size from duckdb_tables() "
                "where schema_name = 'main' order by 1"
            ).fetchall()
        finally:
            con.close()
        status["published"] = {
            "path": str(published),
            "written_at": datetime.fromtimestamp(published.stat().st_mtime, UTC).isoformat(),
            "stamp": {k: v for k, v in vars(stamp).items()},
            "tables": dict(tables),
        }
    else:
        status["published"] = None

    last_run = settings.last_run_path
    status["last_run"] = json.loads(last_run.read_text()) if last_run.exists() else None
    try:
        status["sync_state"] = read_sync_state(settings)
        status["sync_state_source"] = "warehouse"
    except duckdb.IOException:
        # A run holds the warehouse: show the state the last finished run left behind.
        status["sync_state"] = (status["last_run"] or {}).get("sync_state", [])
        status["sync_state_source"] = "last finished run (a run is writing the warehouse now)"
    except ConfigError as exc:
        # A Postgres warehouse that does not answer: what was published is still worth showing.
        status["sync_state"] = (status["last_run"] or {}).get("sync_state", [])
        status["sync_state_source"] = f"last finished run; the warehouse did not answer: {exc}"
    return status


def format_status(status: dict[str, Any]) -> str:
    lines = [f"data directory: {status['data_dir']}"]
    published = status["published"]
    if published is None:
        lines.append("published: nothing yet (run `crm-kpi run` or `crm-kpi demo`)")
    else:
        stamp = published["stamp"]
        lines.append(f"published: {published['path']} (written {published['written_at']})")
        lines.append(f"  KPIs as of {stamp['as_of']}")
        if stamp["checks_passed"] is None:
            lines.append("  checks: unknown (the file carries no publication record)")
        else:
            lines.append(
                f"  checks: {stamp['checks_passed']} passed, {stamp['checks_warned']} warned, "
                f"{stamp['checks_failed']} failed; {stamp['quarantined_records']} records "
                f"quarantined; status {stamp['status']}"
            )
        lines.append(f"  tables: {len(published['tables'])}")
    lines.append(f"sync watermark per object (from the {status['sync_state_source']}):")
    if not status["sync_state"]:
        lines.append("  nothing synced yet")
    for state in status["sync_state"]:
        lines.append(
            f"  {state['object_name']:<20}{state['mode']:<12} watermark {state['watermark']}"
            f"  {state['records']:>9,} records"
        )
    run = status["last_run"]
    if run is None:
        lines.append("last run: none recorded")
    else:
        lines.append(
            f"last run: {run['started_at']} → {run['finished_at']}, exit {run['exit_code']}: "
            f"{run['outcome']}"
        )
        checks = run.get("checks")
        if checks:
            lines.append(
                f"  checks: {checks['passed']} passed, {checks['warned']} warned, "
                f"{checks['failed']} failed"
            )
            lines.extend(f"  - {name}" for name in checks["not_passed"])
    return "\n".join(lines)
