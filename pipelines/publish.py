"""Publish the checked marts, all or nothing, so a reader never sees half a publication.

On DuckDB: write a new file, then atomically rename it over kpi.duckdb. A reader that has
kpi.duckdb open keeps the file it opened (POSIX rename never touches an open inode) and the next
open sees the new one. Publishing only ever opens kpi.duckdb read-only (to carry its
kpi_publication history over), so a BI tool holding it open never makes a publication fail, and
never waits for one.

On Postgres: replace the rows of every table of the published schema (`kpi`) in one
transaction. Each reader's statement sees the previous publication or the new one, never a
mix. The tables themselves stay, so the grants and views BI teams attach to them survive; and
DELETE and INSERT take no lock that conflicts with a reader's, so readers holding transactions
open neither fail the publication nor make it wait (only DDL does: a new or reshaped table,
bounded by LOCK_TIMEOUT). kpi.duckdb is then written from the committed publication, for the
report, the exports and file readers.

On Spark: copy every mart into a table of this publication's, then repoint each view of the
published database (`kpi`) at its copy, kpi_publication last (publish_to_spark says what a
reader can see meanwhile). kpi.duckdb is then written from the views.

Every publication appends its trust stamp to `kpi_publication`: when, which CRM state the KPIs
reflect, which run, how its checks went and how many records were quarantined.
"""

import os
import re
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
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
from .warehouse import (
    DuckDBWarehouse,
    PostgresWarehouse,
    SparkWarehouse,
    Warehouse,
    connect,
    connect_warehouse,
    fsync,
)

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
# How long a Postgres publication waits for a lock that only DDL needs (a table created or
# reshaped by a new crm-kpi version) before it gives up, publishing nothing.
LOCK_TIMEOUT = "30s"


class PublishedFileError(RuntimeError):
    """Postgres holds the new publication, but kpi.duckdb could not be written from it."""


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
    """Copy every table of a DuckDB warehouse's marts schema into a fresh file at
    `published_path`, with the previous publications' kpi_publication rows and this one's.

    Returns:
        Rows per published table.
    """
    checks = checks or CheckOutcomes()

    def fill(con: DuckDBWarehouse) -> None:
        con.execute("attach $path as warehouse (read_only)", {"path": str(warehouse_path)})
        tables = _to_publish(
            con.tables_in(MARTS_SCHEMA, "warehouse"), f"{MARTS_SCHEMA} of {warehouse_path}"
        )
        for table in tables:
            con.execute(
                f'create table main."{table}" as select * from warehouse.{MARTS_SCHEMA}."{table}"'
            )
        con.execute(f"create table main.{PUBLICATION_TABLE} ({PUBLICATION_COLUMNS})")
        if published_path.exists():
            con.execute("attach $path as previous (read_only)", {"path": str(published_path)})
            if PUBLICATION_TABLE in con.tables_in("main", "previous"):
                con.execute(
                    f"insert into main.{PUBLICATION_TABLE} by name "
                    f"select * from previous.main.{PUBLICATION_TABLE}"
                )
            con.execute("detach previous")
        _append_publication(
            con.execute,
            f"main.{PUBLICATION_TABLE}",
            "warehouse.marts",
            "warehouse.raw",
            run_id,
            checks,
            tables,
        )
        con.execute("detach warehouse")

    return _write_published_file(published_path, fill)


def publish_to_postgres(
    wh: PostgresWarehouse,
    schema: str,
    reader_role: str | None,
    run_id: str = "manual",
    checks: CheckOutcomes | None = None,
) -> dict[str, int]:
    """Replace the published schema's rows with the marts', in one transaction.

    Returns:
        Rows per published table.
    """
    checks = checks or CheckOutcomes()
    marts = wh.schema(MARTS_SCHEMA)
    with wh.transaction():
        wh.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
        wh.execute(f"create schema if not exists {schema}")
        tables = _to_publish(wh.tables(MARTS_SCHEMA), f"Postgres schema {marts}")
        published = wh.tables_in(schema)
        for table in tables:
            target, source = f'{schema}."{table}"', f'{marts}."{table}"'
            if table in published and _column_types(wh, schema, table) != _column_types(
                wh, marts, table
            ):
                _drop_published(wh, schema, table)  # a new crm-kpi version reshaped it
                published.discard(table)
            if table in published:
                wh.execute(f"delete from {target}")
                wh.execute(f"insert into {target} select * from {source}")
            else:
                wh.execute(f"create table {target} as select * from {source}")
        for gone in published - set(tables) - {PUBLICATION_TABLE}:
            _drop_published(wh, schema, gone)
        wh.execute(
            f"create table if not exists {schema}.{PUBLICATION_TABLE} ({PUBLICATION_COLUMNS})"
        )
        _append_publication(
            wh.execute, f"{schema}.{PUBLICATION_TABLE}", marts, wh.raw, run_id, checks, tables
        )
        if reader_role:
            wh.execute(f"grant usage on schema {schema} to {reader_role}")
            wh.execute(f"grant select on all tables in schema {schema} to {reader_role}")
        return {
            table: wh.execute(f'select count(*) from {schema}."{table}"').fetchone()[0]
            for table in [*tables, PUBLICATION_TABLE]
        }


def publish_to_spark(
    wh: SparkWarehouse,
    database: str,
    column_order: dict[str, list[str]],
    run_id: str = "manual",
    checks: CheckOutcomes | None = None,
) -> dict[str, int]:
    """Point each view of the published database at this publication's copy of its mart,
    kpi_publication last. Each view switches atomically, but a Hive metastore cannot switch
    several in one transaction: a reader may meet tables of two publications while one runs
    (docs/operations.md), never half a table. kpi.duckdb stays the all-or-nothing one.

    Args:
        column_order: each mart's columns as its model declares them (declared_columns).

    Returns:
        Rows per published table.
    """
    checks = checks or CheckOutcomes()
    marts = wh.schema(MARTS_SCHEMA)
    wh.execute(f"create database if not exists {database}")
    tables = _to_publish(wh.tables(MARTS_SCHEMA), f"Spark database {marts}")
    # This publication's copies; the views of readers still on the previous copies keep them.
    suffix = f"__p{datetime.now(UTC):%Y%m%d%H%M%S}_{uuid.uuid4().hex[:6]}"
    for table in tables:
        # Spark moves a partitioned table's partition columns last: publish the marts' columns
        # in the order their models declare, as on the other engines.
        columns = ", ".join(wh.quote(c) for c in column_order.get(table, ["*"]))
        wh.execute(
            f"create table {database}.{table}{suffix} using parquet "
            f"as select {columns} from {marts}.{table}"
        )
    history = f"{database}.{PUBLICATION_TABLE}{suffix}"
    columns = re.sub(r"\s+not null", "", PUBLICATION_COLUMNS)
    columns = columns.replace("timestamptz", "timestamp").replace("varchar", "string")
    wh.execute(f"create table {history} ({columns}) using parquet")
    views = {row[1] for row in wh.execute(f"show views in {database}").fetchall()}
    if PUBLICATION_TABLE in views:
        wh.execute(f"insert into {history} select * from {database}.{PUBLICATION_TABLE}")
    _append_publication(wh.execute, history, marts, wh.raw, run_id, checks, tables)
    for table in [*tables, PUBLICATION_TABLE]:  # kpi_publication last
        # `alter view` is one update of the metastore. Spark's `create or replace view` drops the
        # view and creates it again: a reader in between finds no table (seen by the tests).
        verb = "alter view" if table in views else "create view"
        wh.execute(f"{verb} {database}.{table} as select * from {database}.{table}{suffix}")
    for gone in views - set(tables) - {PUBLICATION_TABLE}:
        wh.execute(f"drop view {database}.{gone}")
    _drop_copies_before_the_previous(wh, database, suffix)
    return {
        table: wh.execute(f"select count(*) from {database}.{table}").fetchone()[0]
        for table in [*tables, PUBLICATION_TABLE]
    }


def declared_columns(crm: str) -> dict[str, list[str]]:
    """Each mart's columns in the order its model's YAML declares them: DuckDB's order (the
    Spark tests compare the published columns)."""
    import json

    from .dbt_assets import parse_manifest

    manifest = json.loads(parse_manifest(crm).manifest_path.read_text())
    return {
        node["name"]: list(node["columns"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == MARTS_SCHEMA
    }


def _drop_copies_before_the_previous(wh: SparkWarehouse, database: str, suffix: str) -> None:
    """Keep this publication's copies and the previous one's (readers may be on them)."""
    copies = [name for name in wh.tables_in(database) if "__p" in name]
    suffixes = sorted({name[name.rindex("__p") :] for name in copies})
    keep = set(suffixes[suffixes.index(suffix) - 1 :] if suffixes.index(suffix) else suffixes)
    for name in copies:
        if name[name.rindex("__p") :] not in keep:
            wh.execute(f"drop table {database}.{name}")


def write_published_file_from(wh: Warehouse, schema: str, published_path: Path) -> None:
    """kpi.duckdb as a copy of the Postgres or Spark publication (its kpi_publication too)."""
    wh.use_utc()
    engine = "Spark database" if isinstance(wh, SparkWarehouse) else "Postgres schema"
    try:
        _write_published_file(
            published_path,
            lambda con: (
                _copy_from_spark(wh, schema, con)
                if isinstance(wh, SparkWarehouse)
                else _copy_from_postgres(wh, schema, con)
            ),
        )
    except (OSError, duckdb.Error) as exc:
        raise PublishedFileError(
            f"published to {engine} {schema}, but writing {published_path} from it "
            f"failed ({exc}); the next publication writes it again"
        ) from None  # the message says why; the runner reports this error by its class


def _copy_from_spark(wh: SparkWarehouse, database: str, con: DuckDBWarehouse) -> None:
    import pandas as pd

    views = sorted(row[1] for row in wh.execute(f"show views in {database}").fetchall())
    for view in views:
        described = wh.execute(f"describe {database}.{view}").fetchall()
        types = [(c, _duckdb_type_of_spark(t)) for c, t, *_ in described if c and c[0] != "#"]
        cursor = wh.execute(f"select * from {database}.{view}")
        # Decimals and lists as text: DuckDB parses them exactly (a float would round).
        rows = pd.DataFrame.from_records(
            [tuple(str(v) if isinstance(v, Decimal) else v for v in r) for r in cursor.fetchall()],
            columns=[c for c, _ in types],
        )
        casts = ", ".join(
            f"cast({f'cast({con.quote(c)} as json)' if t.endswith('[]') else con.quote(c)} "
            f"as {t}) as {con.quote(c)}"
            for c, t in types
        )
        con.register("_rows", rows)
        con.execute(f"create table main.{con.quote(view)} as select {casts} from _rows")
        con.unregister("_rows")


def _duckdb_type_of_spark(spark_type: str) -> str:
    """A Spark SQL column type as kpi.duckdb spells it (DuckDB's marts' types)."""
    array = re.fullmatch(r"array<(.+)>", spark_type)
    if array:
        return f"{_duckdb_type_of_spark(array[1])}[]"
    simple = {
        "string": "varchar",
        "int": "integer",
        "bigint": "bigint",
        "smallint": "smallint",
        "double": "double",
        "float": "float",
        "boolean": "boolean",
        "date": "date",
        "timestamp": "timestamptz",
        "timestamp_ntz": "timestamp",
    }
    return simple.get(spark_type) or (spark_type if spark_type.startswith("decimal") else "varchar")


def _copy_from_postgres(wh: PostgresWarehouse, schema: str, con: DuckDBWarehouse) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        for table in sorted(wh.tables_in(schema)):
            path = Path(scratch) / f"{table}.csv"
            with path.open("w") as file:
                wh.con.cursor().copy_expert(
                    f'copy (select * from {schema}."{table}") to stdout '
                    "with (format csv, header, null '\\N')",
                    file,
                )
            types = _duckdb_types(wh, schema, table)
            con.execute(
                f'create table main."{table}" as select * from read_csv($path, header = true, '
                "nullstr = '\\N', allow_quoted_nulls = false, auto_detect = false, "
                f"columns = {{{', '.join(f'{_quoted(c)}: {_quoted(t)}' for c, t in types)}}})",
                {"path": str(path)},
            )


def _write_published_file(
    published_path: Path, fill: Callable[[DuckDBWarehouse], None]
) -> dict[str, int]:
    """A new DuckDB file that `fill` fills, renamed over `published_path` once complete."""
    published_path.parent.mkdir(parents=True, exist_ok=True)
    staging_path = published_path.with_name(f".{published_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with connect(staging_path) as wh:
            fill(wh)
            rows = {
                table: wh.execute(f'select count(*) from main."{table}"').fetchone()[0]
                for table in sorted(wh.tables_in("main"))
            }
            wh.execute("checkpoint")
        fsync(staging_path)
        os.replace(staging_path, published_path)
        fsync(published_path.parent)
    finally:
        staging_path.unlink(missing_ok=True)
    return rows


def _to_publish(tables: set[str], where: str) -> list[str]:
    if not tables:
        raise RuntimeError(f"no tables in {where}: nothing to publish")
    return sorted(tables)


def _append_publication(
    execute, history: str, marts: str, raw: str, run_id: str, checks: CheckOutcomes, tables
) -> None:
    """This publication's row of kpi_publication (the table `history`)."""
    quarantined = (
        "(select count(*) from (select distinct object_type, record_id "
        f"from {marts}.kpi_data_issues) as quarantined)"
        if "kpi_data_issues" in tables
        else "0"
    )
    # The CRM state the KPIs reflect: every object's changes up to its sync's start; the oldest
    # of those is what all the numbers are at least as fresh as.
    execute(
        f"""
        insert into {history}
        select
            $published_at,
            (select min(synced_at) from {raw}._sync_state),
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


def _column_types(wh: Warehouse, schema: str, table: str) -> list[tuple]:
    return wh.execute(
        "select column_name, data_type, numeric_precision, numeric_scale "
        "from information_schema.columns where table_schema = $schema and table_name = $table "
        "order by ordinal_position",
        {"schema": schema, "table": table},
    ).fetchall()


def _drop_published(wh: PostgresWarehouse, schema: str, table: str) -> None:
    """Drop a published table; never a BI team's view on it: then say what to do."""
    import psycopg2.errors

    try:
        wh.execute("savepoint reshape")
        wh.execute(f'drop table {schema}."{table}"')
    except psycopg2.errors.DependentObjectsStillExist as exc:
        wh.execute("rollback to savepoint reshape")
        raise RuntimeError(
            f"{schema}.{table} changed shape in this crm-kpi version, and views depend on it "
            f"({exc.diag.message_detail or 'see Postgres'}): drop them, publish, then create "
            "them again; nothing was published"
        ) from None


# Postgres's column types as kpi.duckdb spells them.
_DUCKDB_TYPES = {
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "double precision": "double",
    "real": "float",
    "boolean": "boolean",
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "interval": "interval",
}


def _duckdb_types(wh: Warehouse, schema: str, table: str) -> list[tuple[str, str]]:
    types = []
    for column, data_type, precision, scale in _column_types(wh, schema, table):
        if data_type == "numeric":
            # Declared numerics keep their precision; an undeclared one (a computed ratio) is
            # a double, as DuckDB's own marts have it.
            spelled = (
                f"decimal({precision}, {scale})" if precision and precision <= 38 else "double"
            )
        else:
            spelled = _DUCKDB_TYPES.get(data_type, "varchar")
        types.append((column, spelled))
    return types


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
    run_id = context.run.run_id
    checks = _logged_check_outcomes(context.instance, run_id)
    if settings.warehouse == "postgres":
        schema = settings.postgres_published_schema
        with connect_warehouse(settings) as wh:
            rows = publish_to_postgres(wh, schema, settings.postgres_reader_role, run_id, checks)
            context.log.info(f"published {len(rows)} tables to Postgres schema {schema}")
            write_published_file_from(wh, schema, settings.published_path)
    elif settings.warehouse == "spark":
        database = settings.spark_published_database
        with connect_warehouse(settings) as wh:
            rows = publish_to_spark(wh, database, declared_columns(settings.crm), run_id, checks)
            context.log.info(f"published {len(rows)} tables to Spark database {database}")
            write_published_file_from(wh, database, settings.published_path)
    else:
        rows = publish_marts(settings.warehouse_path, settings.published_path, run_id, checks)
    with connect(settings.published_path, read_only=True) as published:
        quarantined = published.execute(
            f"select quarantined_records from {PUBLICATION_TABLE} where run_id = $run_id",
            {"run_id": run_id},
        ).fetchall()[0][0]
    context.log.info(
        f"published {len(rows)} tables to {settings.published_path}: {checks.status}, "
        f"{quarantined} records quarantined"
    )
    return MaterializeResult(
        metadata={
            "path": str(settings.published_path),
            **(
                {"postgres_schema": settings.postgres_published_schema}
                if settings.warehouse == "postgres"
                else {}
            ),
            **(
                {"spark_database": settings.spark_published_database}
                if settings.warehouse == "spark"
                else {}
            ),
            "status": checks.status,
            "quarantined_records": quarantined,
            **{f"rows_{t}": n for t, n in rows.items()},
        }
    )
