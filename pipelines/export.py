"""Every published table as Parquet or CSV files, for BI tools that do not read DuckDB."""

import os
import uuid
from pathlib import Path

import duckdb

FORMATS = {"parquet": "(format parquet, compression zstd)", "csv": "(format csv, header true)"}


def export_tables(published_path: Path, out_dir: Path, file_format: str) -> dict[str, Path]:
    """Write `<table>.<format>` per published table into `out_dir`.

    Returns:
        The file written per table.
    """
    if file_format not in FORMATS:
        raise ValueError(f"unknown export format {file_format!r}: use parquet or csv")
    out_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(published_path), read_only=True)
    written = {}
    try:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main' order by 1"
            ).fetchall()
        ]
        for table in tables:
            target = out_dir / f"{table}.{file_format}"
            # Beside, then renamed: a BI tool reading the previous export never sees half a file.
            staging = out_dir / f".{table}.{uuid.uuid4().hex}.tmp"
            try:
                con.execute(
                    f"copy (select * from main.\"{table}\") to '{_quoted(staging)}' "
                    f"{FORMATS[file_format]}"
                )
                os.replace(staging, target)
            finally:
                staging.unlink(missing_ok=True)
            written[table] = target
    finally:
        con.close()
    return written


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
