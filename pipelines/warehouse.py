"""The working warehouse: a DuckDB file in the data directory, or a Postgres database
(CRM_KPI_WAREHOUSE), behind one small connection type, and the raw layer's shape.

Both engines take the same SQL for what the pipeline does itself (information_schema, `on
conflict`, `$name` parameters); what differs — loading pages, the JSON type, DuckDB's memory cap
— is a method of each connection class, in this file. dbt's models keep their differences in
adapter.dispatch macros (dbt_project/macros/).
"""

import io
import logging
import os
import re
from contextlib import contextmanager
from datetime import UTC, datetime
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


# The sync's own small tables in raw, beside the objects' (name -> columns, as DuckDB and
# Postgres declare them; Spark drops the constraints).
SYNC_STATE_COLUMNS = (
    ("object_name", "varchar primary key"),
    ("synced_at", "timestamptz not null"),
    # the next incremental sync fetches records modified at or after this instant
    ("watermark", "timestamptz not null"),
    ("mode", "varchar not null"),
    ("records", "bigint not null"),
    ("archived_records", "bigint not null"),
)
CRM_COUNTS_COLUMNS = (
    ("object_name", "varchar primary key"),
    # live records created before created_before, as the CRM itself counts them
    ("crm_live_records", "bigint not null"),
    ("created_before", "timestamptz not null"),
    ("counted_at", "timestamptz not null"),
)
CRM_COLUMNS = (("crm", "varchar not null"),)
QUOTAS_COLUMNS = (("owner_email", "varchar"), ("quarter", "varchar"), ("quota_amount", "varchar"))


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

    def quote(self, name: str) -> str:
        """`name` as an identifier, whatever it holds."""
        return '"' + name.replace('"', '""') + '"'

    def use_utc(self) -> None:
        """Dates of instants in UTC on this connection (cast(instant as date), say)."""
        self.execute("set timezone = 'UTC'")

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

    def drop_load_table(self, table: str) -> None:
        self.execute(f"drop table if exists {table}")

    def ensure_table(self, name: str, columns: tuple[tuple[str, str], ...]) -> None:
        """One of the sync's small tables in raw (SYNC_STATE_COLUMNS, ...)."""
        spelled = ", ".join(f"{column} {declared}" for column, declared in columns)
        self.execute(f"create table if not exists {self.raw}.{name} ({spelled})")

    def ensure_raw_table(self, name: str) -> None:
        self.execute(
            f"create table if not exists {self.raw}.{name} ({raw_table_columns(self.json_type)})"
        )

    def upsert(self, name: str, columns: tuple[tuple[str, str], ...], row: dict) -> None:
        """Insert or replace `row` (by the first column, the key) in raw table `name`."""
        key, *others = (column for column, _ in columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in others)
        self.execute(
            f"insert into {self.raw}.{name} values ({', '.join(f'${c}' for c, _ in columns)}) "
            f"on conflict ({key}) do update set {updates}",
            row,
        )

    def replace_rows(self, name: str, columns: tuple[tuple[str, str], ...], rows: list) -> None:
        """Raw table `name` holding exactly `rows`, in one transaction."""
        self.ensure_table(name, columns)
        names = [column for column, _ in columns]
        with self.transaction():
            self.execute(f"delete from {self.raw}.{name}")
            for row in rows:
                self.execute(
                    f"insert into {self.raw}.{name} values ({', '.join(f'${c}' for c in names)})",
                    dict(zip(names, row, strict=True)),
                )

    def merge_load(self, name: str, load_table: str, mode: str, synced_at: datetime) -> tuple:
        """Bring an object's staged pages into its raw table: all of it for a full sync (records
        the CRM purged are gone), the newer versions for an incremental one. Run inside the
        transaction that also moves the object's watermark. Returns (records, archived)."""
        raw_table = f"{self.raw}.{name}"
        columns = ", ".join(RAW_COLUMNS)
        newest = newest_versions(load_table)
        (repeated,) = self.execute(
            f"select count(*) - count(distinct id) from {load_table}"
        ).fetchone()
        if mode == "full" and not repeated and self.renames_tables:
            # Every record once: the load table becomes the raw table (a rename, not a copy).
            self.execute(f"drop table {raw_table}")
            self.execute(f"alter table {load_table} rename to {name}")
        elif mode == "full":
            self.execute(f"delete from {raw_table}")
            self.execute(f"insert into {raw_table} ({columns}) {newest}")
        else:
            accepted = f"{load_table}_accepted"
            self.execute(f"drop table if exists {accepted}")
            self.execute(
                f"""
                create table {accepted} as
                select incoming.*
                from ({newest}) as incoming
                left join {raw_table} as stored on stored.id = incoming.id
                where stored.id is null or incoming.updated_at >= stored.updated_at
                """
            )
            self.execute(f"delete from {raw_table} where id in (select id from {accepted})")
            self.execute(f"insert into {raw_table} ({columns}) select {columns} from {accepted}")
            self.execute(f"drop table {accepted}")
        return self.execute(
            f"select count(*), count(*) filter (where archived) from {raw_table}"
        ).fetchone()

    def close(self) -> None:
        raise NotImplementedError


def newest_versions(table: str, order: str = "updated_at desc nulls last, archived desc") -> str:
    """One row per id of `table`: its newest version. A record can arrive twice (changed while
    the sync paged, or live and then archived)."""
    return f"""
        select {", ".join(RAW_COLUMNS)} from (
            select *, row_number() over (partition by id order by {order}) as version
            from {table}
        ) as versions
        where version = 1
    """


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


class SparkError(RuntimeError):
    """A statement the Spark Thrift Server refused, with Spark's message."""


# Every Spark session's settings, whatever the server's defaults; dbt's sessions get the same
# (dbt_project/profiles.yml). The Thrift Server applies only keys spelled `set:hiveconf:<key>`.
SPARK_SESSION = {
    # Instants cross the Thrift protocol without a zone: UTC both ways.
    "set:hiveconf:spark.sql.session.timeZone": "UTC",
    # Spark 4's default: an overflow or a division by zero is an error, not a null.
    "set:hiveconf:spark.sql.ansi.enabled": "true",
}


class SparkWarehouse(Warehouse):
    """Spark through its Thrift Server (CRM_KPI_SPARK_THRIFT) for SQL: dbt, the checks, the
    publication. The raw layer is Parquet files the sync writes in `raw_dir` and Spark reads
    as tables: a Thrift insert of a 100-record page took 0.24 s, a Parquet file of 5,000 records
    and its refresh 0.19 s, 60x less per record (bench/spark_side.py --insert-vs-files):

    - an object's table is a view of its batches' table (`_batches_<object>`, a folder of
      files): each sync's commit is one file, `batch-<synced_at>-<mode>.parquet`, renamed into
      place once complete. The view keeps each record's newest version since the latest full
      batch, so a full sync drops records the CRM purged, and a batch committed twice (killed
      before its watermark moved) changes nothing.
    - the sync's small tables (_sync_state, _crm_counts, _crm, quotas) are a file per key, each
      replaced by a rename. The watermark's file moves after the batch's: a kill in between makes
      the next sync fetch those changes again, which the view makes harmless.

    Pages are staged in a DuckDB file of the sync's own, as on DuckDB, and written out from it.
    """

    engine = "spark"
    json_type = "string"
    LANDING_FILE = ".landing.duckdb"  # hidden from Spark, like every name starting with '.'

    def __init__(self, address: str, schema_prefix: str, raw_dir: Path):
        try:
            from pyhive import hive
            from thrift.transport.TTransport import TTransportException
        except ImportError:
            raise ConfigError(
                "CRM_KPI_WAREHOUSE=spark needs dbt-spark and PyHive: pip install 'crm-kpi[spark]'"
            ) from None

        super().__init__(schema_prefix)
        # Thrift logs each refused connection at ERROR too: the ConfigError below says it once.
        logging.getLogger("thrift.transport.TSocket").setLevel(logging.CRITICAL)
        host, port = address.rsplit(":", 1)
        self.raw_dir = raw_dir
        self._landing: DuckDBWarehouse | None = None
        try:
            self.con = hive.connect(host=host, port=int(port), configuration=SPARK_SESSION)
        except (TTransportException, OSError) as exc:
            raise ConfigError(
                f"cannot connect to the Spark Thrift Server at {address} (CRM_KPI_SPARK_THRIFT): "
                f"{exc}"
            ) from None

    def execute(self, sql: str, params: dict[str, Any] | None = None):
        cursor = _SparkCursor(self.con.cursor())
        if params is not None:
            sql = re.sub(
                r"\$([a-z_][a-z0-9_]*)",
                # PyHive would send an instant as a string: as a literal in UTC, the session's zone
                lambda m: (
                    _timestamp_literal(params[m[1]])
                    if isinstance(params.get(m[1]), datetime)
                    else f"%({m[1]})s"
                ),
                sql.replace("%", "%%"),
            )
        try:
            cursor.execute(sql, params)
        except Exception as exc:
            # PyHive's error holds the server's whole Java stack: keep Spark's message.
            status = getattr(exc.args[0], "status", None) if exc.args else None
            if status is None or not status.errorMessage:
                raise
            message = status.errorMessage.removeprefix("Error running query: ")
            raise SparkError(message.split("\n")[0]) from None
        return cursor

    def df(self, sql: str) -> "pd.DataFrame":
        import pandas as pd

        cursor = self.execute(sql)
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)

    @contextmanager
    def transaction(self):
        yield  # Spark has none: see the class's docstring for what stands in for one

    def quote(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def use_utc(self) -> None:
        pass  # the session's zone is UTC from the start

    def tables_in(self, schema: str, database: str | None = None) -> set[str]:
        if not self._has_database(schema):
            return set()
        tables = {row[1] for row in self.execute(f"show tables in {schema}").fetchall()}
        views = {row[1] for row in self.execute(f"show views in {schema}").fetchall()}
        return tables - views

    def columns(self, table: str) -> list[str]:
        schema, name = table.split(".")
        if (
            not self._has_database(schema)
            or not self.execute(f"show tables in {schema} like '{name}'").fetchall()
        ):
            return []
        return [d[0] for d in self.execute(f"select * from {table} limit 0").description]

    def _has_database(self, name: str) -> bool:
        return bool(self.execute(f"show databases like '{name}'").fetchall())

    # The raw layer's files.

    @property
    def landing(self) -> DuckDBWarehouse:
        if self._landing is None:
            path = self.raw_dir / self.LANDING_FILE
            path.unlink(missing_ok=True)  # a killed sync's: nothing in it was committed
            self._landing = DuckDBWarehouse(path)
            self._landing.execute(f"create schema if not exists {self.raw}")
        return self._landing

    @contextmanager
    def bounded_memory(self):
        with self.landing.bounded_memory():
            yield

    def create_load_table(self, table: str, synced_at: datetime) -> None:
        self.landing.create_load_table(table, synced_at)

    def load_pages(self, table: str, pages: list[str], shape) -> None:
        self.landing.load_pages(table, pages, shape)

    def drop_load_table(self, table: str) -> None:
        self.landing.drop_load_table(table)

    def _folder(self, name: str) -> Path:
        folder = self.raw_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _create_files_table(self, name: str, columns: str) -> None:
        self.execute(f"create database if not exists {self.raw}")
        self.execute(
            f"create table if not exists {self.raw}.{name} ({columns}) "
            f"using parquet location '{self._folder(name).as_uri()}'"
        )

    def ensure_table(self, name: str, columns: tuple[tuple[str, str], ...]) -> None:
        self._create_files_table(name, _spark_columns(columns))

    def ensure_raw_table(self, name: str) -> None:
        batches = f"{self.raw}._batches_{name}"
        self._create_files_table(f"_batches_{name}", _spark_columns(_RAW_SHAPE) + ", batch string")
        self.execute(f"create or replace view {self.raw}.{name} as {current_versions(batches)}")

    def _write(self, folder: str, file: str, select: str, params: dict | None = None) -> None:
        """The rows of `select` (run by the landing DuckDB) as `folder/file`, complete or not
        at all, then Spark told its listing of the folder is stale."""
        final = self._folder(folder) / file
        partial = final.with_name(f".{file}.partial")
        self.landing.execute(f"copy ({select}) to '{partial}' (format parquet)", params)
        fsync(partial)
        os.replace(partial, final)
        fsync(final.parent)
        self.execute(f"refresh table {self.raw}.{folder}")

    def upsert(self, name: str, columns: tuple[tuple[str, str], ...], row: dict) -> None:
        key = row[columns[0][0]]
        self._write(name, f"{_file_name(key)}.parquet", _values_select(columns), row)

    def replace_rows(self, name: str, columns: tuple[tuple[str, str], ...], rows: list) -> None:
        self.ensure_table(name, columns)
        names = [column for column, _ in columns]
        self.landing.execute(f"create or replace temp table _rows ({_bare_types(columns)})")
        for row in rows:
            self.landing.execute(
                f"insert into _rows values ({', '.join(f'${c}' for c in names)})",
                dict(zip(names, row, strict=True)),
            )
        self._write(name, f"{name}.parquet", "select * from _rows")

    def merge_load(self, name: str, load_table: str, mode: str, synced_at: datetime) -> tuple:
        batch = f"{synced_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{mode}"
        folder = f"_batches_{name}"
        self._write(
            folder,
            f"batch-{batch}.parquet",
            f"select *, $batch as batch from ({newest_versions(load_table)})",
            {"batch": batch},
        )
        batches = self._folder(folder)
        if mode == "full":  # what came before this full batch is out of the view: delete it
            for old in batches.glob("batch-*.parquet"):
                if old.name < f"batch-{batch}":
                    old.unlink()
            self.execute(f"refresh table {self.raw}.{folder}")
        stored = f"read_parquet('{batches}/batch-*.parquet')"
        return self.landing.execute(
            f"select count(*), count(*) filter (where archived) from ({current_versions(stored)})"
        ).fetchone()

    def close(self) -> None:
        if self._landing is not None:
            self._landing.close()
            (self.raw_dir / self.LANDING_FILE).unlink(missing_ok=True)
        self.con.close()


_RAW_SHAPE = (
    ("id", "varchar"),
    ("updated_at", "timestamptz"),
    ("archived", "boolean"),
    ("record", "varchar"),
    ("loaded_at", "timestamptz"),
)


def current_versions(batches: str) -> str:
    """Each record's newest version among the batches since the latest full one (Spark's raw
    view, and what the sync counts). The same SQL in DuckDB and Spark."""
    since = f"(select coalesce(max(batch), '') from {batches} where batch like '%-full')"
    order = "updated_at desc nulls last, batch desc, archived desc"
    return newest_versions(f"(select * from {batches} where batch >= {since}) as batches", order)


class _SparkCursor:
    """A PyHive cursor whose instants come back in UTC, as the other engines hand them over."""

    def __init__(self, cursor):
        self.cursor = cursor

    def __getattr__(self, name: str):
        return getattr(self.cursor, name)

    def fetchone(self):
        row = self.cursor.fetchone()
        return None if row is None else tuple(_utc(v) for v in row)

    def fetchall(self):
        return [tuple(_utc(v) for v in row) for row in self.cursor.fetchall()]


def _utc(value):
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) and not value.tzinfo else value


def _timestamp_literal(value: datetime) -> str:
    utc = value.astimezone(UTC) if value.tzinfo else value
    return f"timestamp '{utc:%Y-%m-%d %H:%M:%S.%f}'"


_SPARK_TYPES = {"varchar": "string", "timestamptz": "timestamp", "json": "string"}


def _bare_types(columns: tuple[tuple[str, str], ...]) -> str:
    """The columns' types without their constraints (Parquet files enforce none)."""
    return ", ".join(f"{column} {declared.split()[0]}" for column, declared in columns)


def _spark_columns(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(
        f"{column} {_SPARK_TYPES.get(declared.split()[0], declared.split()[0])}"
        for column, declared in columns
    )


def _values_select(columns: tuple[tuple[str, str], ...]) -> str:
    return "select " + ", ".join(
        f"cast(${column} as {declared.split()[0]}) as {column}" for column, declared in columns
    )


def _file_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)


def fsync(path: Path) -> None:
    """Flush a file's or a folder's (a rename's) writes to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    if settings.warehouse in ("postgres", "spark"):
        warehouse = (
            PostgresWarehouse(settings.postgres_connection_url(), settings.schema_prefix)
            if settings.warehouse == "postgres"
            else SparkWarehouse(
                settings.spark_thrift, settings.schema_prefix, settings.raw_files_dir
            )
        )
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
    wh.ensure_table("_sync_state", SYNC_STATE_COLUMNS)


def ensure_raw_table(wh: Warehouse, name: str) -> None:
    wh.ensure_raw_table(name)


def ensure_crm_counts_table(wh: Warehouse) -> None:
    wh.ensure_table("_crm_counts", CRM_COUNTS_COLUMNS)


def record_crm_counts(wh: Warehouse, counts: dict[str, int], created_before: datetime) -> None:
    """Keep what the CRM counts, per object, for the crm_reconciliation check."""
    ensure_crm_counts_table(wh)
    counted_at = datetime.now(UTC)
    for name, count in counts.items():
        wh.upsert(
            "_crm_counts",
            CRM_COUNTS_COLUMNS,
            {
                "object_name": name,
                "crm_live_records": count,
                "created_before": created_before,
                "counted_at": counted_at,
            },
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
    wh.execute(f"create schema if not exists {wh.raw}")
    wh.replace_rows(QUOTAS_TABLE, QUOTAS_COLUMNS, rows)
    return len(rows)


def stored_crm(wh: Warehouse) -> str | None:
    """The CRM whose records the raw layer holds, or None while it holds none."""
    tables = wh.tables(RAW)
    # Raw layers from before Salesforce hold HubSpot's records.
    return _claimed_by(wh, tables) or ("hubspot" if "_sync_state" in tables else None)


def _claimed_by(wh: Warehouse, tables: set[str]) -> str | None:
    """The CRM raw._crm names, if any."""
    if CRM_TABLE_NAME not in tables:
        return None
    return wh.execute(f"select max(crm) from {wh.raw}.{CRM_TABLE_NAME}").fetchone()[0]


def _refuse_other_crm(wh: Warehouse, crm: str, where: str) -> str | None:
    """The CRM the raw layer holds; a ConfigError (one line, exit 2) if it is not `crm`."""
    stored = stored_crm(wh)
    if stored not in (None, crm):
        other = {
            "duckdb": "CRM_KPI_DATA_DIR for it (one CRM per data directory)",
            "postgres": "CRM_KPI_POSTGRES_SCHEMA_PREFIX for it (one CRM per raw schema)",
            "spark": "CRM_KPI_SPARK_DATABASE_PREFIX for it (one CRM per raw database)",
        }[wh.engine]
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
        engine = "Postgres schema" if settings.warehouse == "postgres" else "Spark database"
        where = f"{engine} {settings.schema_prefix}{RAW}"
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
    if _claimed_by(wh, wh.tables(RAW)) is None:
        wh.replace_rows(CRM_TABLE_NAME, CRM_COLUMNS, [(crm,)])
