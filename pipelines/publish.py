"""Publish the checked marts: write a new DuckDB file, then atomically rename it over kpi.duckdb.

A reader that has kpi.duckdb open keeps the file it opened (POSIX rename never touches an open
inode) and the next open sees the new one, so no reader ever sees a half-written publication.
Publishing only ever opens kpi.duckdb read-only (to carry its kpi_publication history over), so a
BI tool holding it open never makes a publication fail, and never waits for one.

Every publication appends its trust stamp to `kpi_publication`: when, which CRM state the KPIs
reflect, which run, how its checks went and how many records were quarantined.
"""

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    MaterializeResult,
    asset,
)

from .check_outcomes import CheckOutcomes
from .dbt_assets import kpi_models_for
from .settings import load_settings
from .warehouse import connect

MARTS_SCHEMA = "marts"
QUALITY_SCHEMA = "quality"
PUBLISHED_KPIS = AssetKey(["published", "kpi_file"])
PUBLICATION_TABLE = "kpi_publication"
PUBLICATION_COLUMNS = """
    published_at timestamptz not null,
    source_synced_at timestamptz,
    run_id varchar not null,
    checks_passed integer not null,
    checks_warned integer not null,
    checks_failed integer not null,
    quarantined_records bigint not null,
    status varchar not null
"""


def _logged_check_outcomes(instance: DagsterInstance, run_id: str) -> CheckOutcomes:
    """How the asset checks of run `run_id` came out, read from the instance's event log."""
    return CheckOutcomes.from_evaluations(
        entry.dagster_event.event_specific_data
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    )


def publish_marts(
    warehouse_path: Path,
    published_path: Path,
    run_id: str = "manual",
    checks: CheckOutcomes | None = None,
) -> dict[str, int]:
    """Copy every table of the marts schema into a fresh file at `published_path`, with the
    previous publications' kpi_publication rows and this one's.

    Returns:
        Rows per published table.
    """
    checks = checks or CheckOutcomes()
    published_path.parent.mkdir(parents=True, exist_ok=True)
    staging_path = published_path.with_name(f".{published_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with connect(staging_path) as con:
            con.execute("attach $path as warehouse (read_only)", {"path": str(warehouse_path)})
            tables = [
                name
                for (name,) in con.execute(
                    "select table_name from duckdb_tables() "
                    "where database_name = 'warehouse' and schema_name = $schema order by 1",
                    {"schema": MARTS_SCHEMA},
                ).fetchall()
            ]
            if not tables:
                raise RuntimeError(
                    f"no tables in {MARTS_SCHEMA} of {warehouse_path}: nothing to publish"
                )
            rows = {}
            for table in tables:
                source = f'warehouse.{MARTS_SCHEMA}."{table}"'
                con.execute(f'create table main."{table}" as select * from {source}')
                rows[table] = con.execute(f'select count(*) from main."{table}"').fetchone()[0]
            _append_publication(con, published_path, run_id, checks)
            rows[PUBLICATION_TABLE] = con.execute(
                f"select count(*) from main.{PUBLICATION_TABLE}"
            ).fetchall()[0][0]
            con.execute("detach warehouse")
            con.execute("checkpoint")
        _fsync(staging_path)
        os.replace(staging_path, published_path)
        _fsync(published_path.parent)
    finally:
        staging_path.unlink(missing_ok=True)
    return rows


def _append_publication(con, published_path: Path, run_id: str, checks: CheckOutcomes) -> None:
    """kpi_publication: the history read from the file being replaced, plus this publication."""
    con.execute(f"create table main.{PUBLICATION_TABLE} ({PUBLICATION_COLUMNS})")
    if published_path.exists():
        con.execute("attach $path as previous (read_only)", {"path": str(published_path)})
        has_history = con.execute(
            "select count(*) from duckdb_tables() "
            "where database_name = 'previous' and table_name = $table",
            {"table": PUBLICATION_TABLE},
        ).fetchall()[0][0]
        if has_history:
            con.execute(
                f"insert into main.{PUBLICATION_TABLE} by name "
                f"select * from previous.main.{PUBLICATION_TABLE}"
            )
        con.execute("detach previous")
    has_issues = con.execute(
        "select count(*) from duckdb_tables() where database_name = 'warehouse' "
        "and schema_name = $schema and table_name = 'kpi_data_issues'",
        {"schema": MARTS_SCHEMA},
    ).fetchall()[0][0]
    quarantined = (
        "(select count(distinct (object_type, record_id)) "
        f"from warehouse.{MARTS_SCHEMA}.kpi_data_issues)"
        if has_issues
        else "0"
    )
    # The CRM state the KPIs reflect: every object's changes up to its sync's start; the oldest
    # of those is what all the numbers are at least as fresh as.
    con.execute(
        f"""
        insert into main.{PUBLICATION_TABLE}
        select
            $published_at,
            (select min(synced_at) from warehouse.raw._sync_state),
            $run_id, $passed, $warned, $failed, {quarantined}, $status
        """,
        {
            "published_at": datetime.now(UTC),
            "run_id": run_id,
            "passed": checks.passed,
            "warned": checks.warned,
            "failed": checks.failed,
            "status": checks.status,
        },
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@asset(
    key=PUBLISHED_KPIS,
    # The quality models too: the checks on them (reconciliation, quarantine share) must pass.
    # The marts and quality models are the same for every CRM: any CRM's manifest names them.
    deps=[
        key
        for key in kpi_models_for("hubspot").keys
        if key.path[0] in (MARTS_SCHEMA, QUALITY_SCHEMA)
    ],
    group_name="publish",
    kinds={"duckdb"},
    description="kpi.duckdb: the checked KPI marts that BI tools and managers read (read-only).",
)
def published_kpi_file(context: AssetExecutionContext) -> MaterializeResult:
    settings = load_settings()
    checks = _logged_check_outcomes(context.instance, context.run.run_id)
    rows = publish_marts(
        settings.warehouse_path, settings.published_path, context.run.run_id, checks
    )
    with connect(settings.published_path, read_only=True) as con:
        quarantined = con.execute(
            f"select quarantined_records from {PUBLICATION_TABLE} where run_id = $run_id",
            {"run_id": context.run.run_id},
        ).fetchall()[0][0]
    context.log.info(
        f"published {len(rows)} tables to {settings.published_path}: {checks.status}, "
        f"{quarantined} records quarantined"
    )
    return MaterializeResult(
        metadata={
            "path": str(settings.published_path),
            "status": checks.status,
            "quarantined_records": quarantined,
            **{f"rows_{t}": n for t, n in rows.items()},
        }
    )
