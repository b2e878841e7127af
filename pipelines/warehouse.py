"""The working warehouse: a DuckDB file in the data directory, or a Postgres database
(CRM_KPI_WAREHOUSE), behind one small connection type, and the raw layer's shape.

Both engines take the same SQL for what the pipeline does itself (information_schema, `on
conflict`, `$name` parameters); what differs — loading pages, the JSON type, DuckDB's memory cap
— is a method of each connection class, in this file. dbt's models keep their differences in
adapter.dispatch macros (dbt_project/macros/).
"""

import io
import re
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .settings import ConfigError, Settings

if TYPE_CHECKING:
    import pandas as pd

RAW = "raw"
QUOTAS_TABLE = "quotas"  # the quotas file, loaded by the sync step
# Which CRM the raw layer holds: one per warehouse, so two CRMs' records never mix.
CRM_TABLE_NAME = "_crm"

# Every raw table has one shape: the record exactly as the CRM returned it, keyed by id.
# `updated_at` is when the CRM last changed the record: updatedAt, or archivedAt when later.
# Properties stay inside `record` so a property added or dropped in the CRM never breaks a load.
# No primary key: DuckDB rewrites a table's whole ART index at every checkpoint (0.58 s for 300k
# rows against 0.01 s without, measured here), so a 1% incremental sync would pay for the whole
# table. The sync's merge keeps one row per id; the raw GX suites check that it did.
RAW_COLUMNS = ("id", "updated_at", "archived", "record", "loaded_at")


def raw_table_columns(json_type: str) -> str:
    return f"""
    id varchar not null,
    updated_at timestamptz,
    archived boolean not null,
    record {json_type} not null,
    loaded_at timestamptz not null
"""


class Warehouse:
    """One open connection to the working warehouse, with what the engines do differently."""

    engine: str
    json_type: str
    # Whether a full sync's load table may replace the raw table by a rename: not where views
    # (dbt's staging models) pin the tables they read, as in Postgres.
    renames_tables = False

    def __init__(self, schema_prefix: str = ""):
        self.schema_prefix = schema_prefix

    def schema(self, name: str) -> str:
        """A working schema's name in this warehouse (raw, staging, marts, quality, ...)."""
        return f"{self.schema_prefix}{name}"

    @property
    def raw(self) -> str:
        return self.schema(RAW)

    @property
    def sync_state_table(self) -> str:
        return f"{self.raw}._sync_state"

    @property
    def crm_counts_table(self) -> str:
        return f"{self.raw}._crm_counts"

    def execute(self, sql: str, params: dict[str, Any] | None = None):
        raise NotImplementedError

    def df(self, sql: str) -> "pd.DataFrame":
        raise NotImplementedError

    @contextmanager
    def transaction(self):
        self.execute("begin")
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        self.execute("commit")

    def tables(self, schema: str) -> set[str]:
        """The tables of a working schema (its unprefixed name), views excluded."""
        return self.tables_in(self.schema(schema))

    def tables_in(self, schema: str, database: str | None = None) -> set[str]:
        """The tables of `schema` (its full name); in DuckDB, of an attached `database` too."""
        in_database = "" if database is None else " and table_catalog = $database"
        return {
            name
            for (name,) in self.execute(
                "select table_name from information_schema.tables "
                f"where table_schema = $schema and table_type = 'BASE TABLE'{in_database}",
                {"schema": schema} | ({} if database is None else {"database": database}),
            ).fetchall()
        }

    def columns(self, table: str) -> list[str]:
        """The columns of `schema.table` (the schema already prefixed), in order."""
        schema, name = table.split(".")
        return [
            column
            for (column,) in self.execute(
                "select column_name from information_schema.columns "
                "where table_schema = $schema and table_name = $name order by ordinal_position",
                {"schema": schema, "name": name},
            ).fetchall()
        ]

    @contextmanager
    def bounded_memory(self):
        """While syncing, keep the engine's cache from growing with the CRM."""
        yield

    def create_load_table(self, table: str, synced_at: datetime) -> None:
        raise NotImplementedError

    def load_pages(self, table: str, pages: list[str], shape) -> None:
        """Insert each page's records into `table`, with the id, change time and archived flag
        that `shape` (raw_sync.RecordShape) says where to find."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class DuckDBWarehouse(Warehouse):
    engine = "duckdb"
    json_type = "json"
    renames_tables = True

    # DuckDB keeps every block it writes cached until memory runs short (by default 80% of RAM),
    # so uncapped, the sync's memory grows with the CRM; capped, DuckDB evicts and spills to disk.
    # Measured (bench/salesforce_sync_bench.py): with 128 MB and 4 pages in flight a sync peaks
    # at 262 MB for 250,000 records and 291 MB for 1,000,000, in the same time as with 256 MB
    # and 16 pages (366 and 462 MB).
    SYNC_MEMORY_LIMIT = "128MB"

    def __init__(self, path: Path, read_only: bool = False):
        super().__init__()
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.con = duckdb.connect(str(path), read_only=read_only)

    def __getattr__(self, name: str):
        return getattr(self.con, name)  # the DuckDB connection's own API (register, begin, ...)

    def execute(self, sql: str, params: dict[str, Any] | None = None):
        return self.con.execute(sql, params)

    def df(self, sql: str) -> "pd.DataFrame":
        return self.con.execute(sql).df()

    @contextmanager
    def bounded_memory(self):
        (memory_limit,) = self.execute("select current_setting('memory_limit')").fetchone()
        self.execute(f"set memory_limit = '{self.SYNC_MEMORY_LIMIT}'")
        try:
            yield
        finally:
            self.execute(f"set memory_limit = '{memory_limit}'")

    def create_load_table(self, table: str, synced_at: datetime) -> None:
        # The raw table's shape, so that it can take the raw table's place.
        columns = raw_table_columns(self.json_type).replace(
            "loaded_at timestamptz not null",
            f"loaded_at timestamptz not null default '{synced_at.isoformat()}'",
        )
        self.execute(f"create or replace table {table} ({columns})")

    def load_pages(self, table: str, pages: list[str], shape) -> None:
        # DuckDB splits the pages into records, parsing each once.
        paths = [shape.id, *shape.changed] + ([shape.archived] if shape.archived else [])
        changed = ", ".join(f"field[{i + 2}]::timestamptz" for i in range(len(shape.changed)))
        archived = f"coalesce(field[{len(paths)}]::boolean, false)" if shape.archived else "false"
        self.execute(
            f"""
            insert into {table} (id, updated_at, archived, record)
            select field[1], greatest({changed}), {archived}, record
            from (
                select record, json_extract_string(record, $paths) as field
                from (
                    select unnest(from_json(page, '{{"{shape.list_key}": ["json"]}}')
                        .{shape.list_key}) as record
                    from (select unnest($pages::varchar[]) as page)
                )
            )
            """,
            {"pages": pages, "paths": paths},
        )

    def close(self) -> None:
        self.con.close()


class PostgresWarehouse(Warehouse):
    engine = "postgres"
    # Measured by the staging models' build (dbt_project/README.md): jsonb is parsed once, at
    # load; text JSON would be parsed again by every property a model reads.
    json_type = "jsonb"

    def __init__(self, url: str, schema_prefix: str, application_name: str = "crm-kpi"):
        import psycopg2

        super().__init__(schema_prefix)
        try:
            self.con = psycopg2.connect(url, application_name=application_name)
        except psycopg2.OperationalError as exc:
            # libpq's message names host and port, never the password.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
            raise ConfigError(
                f"cannot connect to Postgres (CRM_KPI_POSTGRES_URL): {reason}"
            ) from None
        self.con.autocommit = True  # transactions are explicit (transaction())

    def execute(self, sql: str, params: dict[str, Any] | None = None):
        cursor = self.con.cursor()
        if params is not None:
            # The pipeline's SQL names parameters as DuckDB does ($name); psycopg2 wants
            # %(name)s, and a literal % doubled.
            sql = re.sub(r"\$([a-z_][a-z0-9_]*)", r"%(\1)s", sql.replace("%", "%%"))
        cursor.execute(sql, params)
        return cursor

    def df(self, sql: str) -> "pd.DataFrame":
        import pandas as pd
        import psycopg2.extensions

        cursor = self.con.cursor()
        # Checks compare numbers, not cents: numeric as float, as DuckDB hands decimals to pandas.
        numeric_as_float = psycopg2.extensions.new_type(
            psycopg2.extensions.DECIMAL.values,
            "numeric_as_float",
            lambda value, _: None if value is None else float(value),
        )
        psycopg2.extensions.register_type(numeric_as_float, cursor)
        cursor.execute(sql)
        columns = [d.name for d in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)

    def create_load_table(self, table: str, synced_at: datetime) -> None:
        # Unlogged: the load table is rebuilt by every sync, and a crash loses nothing committed.
        columns = raw_table_columns(self.json_type).replace(
            "loaded_at timestamptz not null",
            f"loaded_at timestamptz not null default '{synced_at.isoformat()}'",
        )
        self.execute(f"drop table if exists {table}")
        self.execute(f"create unlogged table {table} ({columns})")

    def load_pages(self, table: str, pages: list[str], shape) -> None:
        # One COPY of the page texts as they arrived, then Postgres splits them into records:
        # a bulk load, with each record's JSON parsed once, by the server.
        def field(path: str) -> str:
            return "record #>> '{" + ",".join(path.removeprefix("$.").split(".")) + "}'"

        changed = ", ".join(f"({field(p)})::timestamptz" for p in shape.changed)
        archived = (
            f"coalesce(({field(shape.archived)})::boolean, false)" if shape.archived else "false"
        )
        text = io.StringIO("".join(_copy_text(page) + "\n" for page in pages))
        with self.transaction():
            self.execute("create temporary table _pages (page jsonb) on commit drop")
            self.con.cursor().copy_expert("copy _pages (page) from stdin", text)
            self.execute(
                f"""
                insert into {table} (id, updated_at, archived, record)
                select {field(shape.id)}, greatest({changed}), {archived}, record
                from _pages, jsonb_array_elements(page -> '{shape.list_key}') as record
                """
            )

    def close(self) -> None:
        self.con.close()


def _copy_text(text: str) -> str:
    """`text` as one field of COPY's text format (backslash, newline and tab escaped)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


@contextmanager
def connect(path: Path, read_only: bool = False):
    """Open a DuckDB warehouse file, always closed afterwards: DuckDB allows one writing process."""
    warehouse = DuckDBWarehouse(path, read_only)
    try:
        yield warehouse
    finally:
        warehouse.close()


@contextmanager
def connect_warehouse(settings: Settings, read_only: bool = False):
    """Open the warehouse CRM_KPI_WAREHOUSE names."""
    if settings.warehouse == "postgres":
        warehouse = PostgresWarehouse(settings.postgres_connection_url(), settings.schema_prefix)
        try:
            yield warehouse
        finally:
            warehouse.close()
    else:
        with connect(settings.warehouse_path, read_only) as warehouse:
            yield warehouse


def ensure_raw_schema(wh: Warehouse) -> None:
    wh.execute(f"create schema if not exists {wh.raw}")
    columns = set(wh.columns(wh.sync_state_table))
    if columns and "watermark" not in columns:
        # State from before incremental syncs: forgetting it only makes the next sync a full one.
        wh.execute(f"drop table {wh.sync_state_table}")
    wh.execute(
        f"""
        create table if not exists {wh.sync_state_table} (
            object_name varchar primary key,
            synced_at timestamptz not null,
            -- the next incremental sync fetches records modified at or after this instant
            watermark timestamptz not null,
            mode varchar not null,
            records bigint not null,
            archived_records bigint not null
        )
        """
    )


def ensure_raw_table(wh: Warehouse, name: str) -> None:
    wh.execute(f"create table if not exists {wh.raw}.{name} ({raw_table_columns(wh.json_type)})")


def ensure_crm_counts_table(wh: Warehouse) -> None:
    wh.execute(
        f"""
        create table if not exists {wh.crm_counts_table} (
            object_name varchar primary key,
            -- live records created before created_before, as the CRM itself counts them
            crm_live_records bigint not null,
            created_before timestamptz not null,
            counted_at timestamptz not null
        )
        """
    )


def record_crm_counts(wh: Warehouse, counts: dict[str, int], created_before: datetime) -> None:
    """Keep what the CRM counts, per object, for the crm_reconciliation check."""
    ensure_crm_counts_table(wh)
    for name, count in counts.items():
        wh.execute(
            f"""
            insert into {wh.crm_counts_table} values ($name, $n, $before, now())
            on conflict (object_name) do update set
                crm_live_records = excluded.crm_live_records,
                created_before = excluded.created_before,
                counted_at = excluded.counted_at
            """,
            {"name": name, "n": count, "before": created_before},
        )


def load_quotas(wh: Warehouse, path: Path | None) -> int:
    """The quotas file (CRM_KPI_QUOTAS) as the raw table dbt reads, replaced whole: a server
    warehouse cannot read a file on the machine running the pipeline. Text exactly as in the
    file (validated before the run); no file, no rows. Returns the number of quotas."""
    import csv

    rows = []
    if path is not None:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
            rows = [(r["owner_email"], r["quarter"], r["quota_amount"]) for r in reader]
    table = f"{wh.raw}.{QUOTAS_TABLE}"
    wh.execute(f"create schema if not exists {wh.raw}")
    with wh.transaction():
        wh.execute(
            f"create table if not exists {table} "
            "(owner_email varchar, quarter varchar, quota_amount varchar)"
        )
        wh.execute(f"delete from {table}")
        for owner_email, quarter, quota_amount in rows:
            wh.execute(
                f"insert into {table} values ($owner_email, $quarter, $quota_amount)",
                {"owner_email": owner_email, "quarter": quarter, "quota_amount": quota_amount},
            )
    return len(rows)


def stored_crm(wh: Warehouse) -> str | None:
    """The CRM whose records the raw layer holds, or None while it holds none."""
    tables = wh.tables(RAW)
    row = (
        wh.execute(f"select max(crm) from {wh.raw}.{CRM_TABLE_NAME}").fetchone()
        if CRM_TABLE_NAME in tables
        else None
    )
    if row and row[0]:
        return row[0]
    # Raw layers from before Salesforce hold HubSpot's records.
    return "hubspot" if "_sync_state" in tables else None


def _refuse_other_crm(wh: Warehouse, crm: str, where: str) -> str | None:
    """The CRM the raw layer holds; a ConfigError (one line, exit 2) if it is not `crm`."""
    stored = stored_crm(wh)
    if stored not in (None, crm):
        other = (
            "CRM_KPI_DATA_DIR for it (one CRM per data directory)"
            if wh.engine == "duckdb"
            else "CRM_KPI_POSTGRES_SCHEMA_PREFIX for it (one CRM per raw schema)"
        )
        raise ConfigError(
            f"{where} holds {stored} data but CRM_KPI_CRM is {crm}: use another {other}"
        )
    return stored


def check_crm(settings: Settings) -> None:
    """Refuse a warehouse that holds another CRM's records."""
    if settings.warehouse == "duckdb":
        if not settings.warehouse_path.exists():
            return
        where = str(settings.warehouse_path.parent)
    else:
        where = f"Postgres schema {settings.schema_prefix}{RAW}"
    try:
        with connect_warehouse(settings, read_only=True) as wh:
            _refuse_other_crm(wh, settings.crm, where)
    except duckdb.IOException:
        # A run is writing the file (DuckDB lets no other process open it): the run this check
        # precedes waits for that one (run_lock.py) and checks again when it claims the raw
        # layer (claim_for_crm).
        return


def claim_for_crm(wh: Warehouse, crm: str) -> None:
    """Mark the raw layer as `crm`'s, or refuse if it holds another CRM's records."""
    _refuse_other_crm(wh, crm, "the warehouse")
    wh.execute(f"create schema if not exists {wh.raw}")
    table = f"{wh.raw}.{CRM_TABLE_NAME}"
    wh.execute(f"create table if not exists {table} (crm varchar not null)")
    if not wh.execute(f"select count(*) from {table}").fetchone()[0]:
        wh.execute(f"insert into {table} values ($crm)", {"crm": crm})
