"""Publish the checked marts: write a new DuckDB file, then atomically rename it over kpi.duckdb.

A reader that has kpi.duckdb open keeps the file it opened (POSIX rename never touches an open
inode) and the next open sees the new one, so no reader ever sees a half-written publication.
"""

import os
import uuid
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from .dbt_assets import kpi_models
from .settings import load_settings
from .warehouse import connect

MARTS_SCHEMA = "marts"
PUBLISHED_KPIS = AssetKey(["published", "kpi_file"])


def publish_marts(warehouse_path: Path, published_path: Path) -> dict[str, int]:
    """Copy every table of the marts schema into a fresh file at `published_path`.

    Returns:
        Rows per published table.
    """
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
            con.execute("detach warehouse")
            con.execute("checkpoint")
        _fsync(staging_path)
        os.replace(staging_path, published_path)
        _fsync(published_path.parent)
    finally:
        staging_path.unlink(missing_ok=True)
    return rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@asset(
    key=PUBLISHED_KPIS,
    deps=[key for key in kpi_models.keys if key.path[0] == MARTS_SCHEMA],
    group_name="publish",
    kinds={"duckdb"},
    description="kpi.duckdb: the checked KPI marts that BI tools and managers read (read-only).",
)
def published_kpi_file(context: AssetExecutionContext) -> MaterializeResult:
    settings = load_settings()
    rows = publish_marts(settings.warehouse_path, settings.published_path)
    context.log.info(f"published {len(rows)} tables to {settings.published_path}")
    return MaterializeResult(
        metadata={"path": str(settings.published_path), **{f"rows_{t}": n for t, n in rows.items()}}
    )
