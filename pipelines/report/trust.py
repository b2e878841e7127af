"""The trust stamp: when the published numbers were made, and whether they passed their checks.

The publish step records each publication in `kpi_publication` (one row per publication) inside
kpi.duckdb. A file published before that table existed carries only the `as_of` of its KPI tables,
so the stamp then says so and shows the checks as unknown rather than guessing.
"""

from dataclasses import dataclass
from datetime import datetime

import duckdb

PUBLICATION_TABLE = "kpi_publication"


@dataclass(frozen=True)
class TrustStamp:
    as_of: datetime | None  # when the KPIs were computed
    published_at: datetime | None
    source_synced_at: datetime | None
    checks_passed: int | None  # None: the file does not say
    checks_warned: int | None
    checks_failed: int | None
    quarantined_records: int | None
    status: str | None

    @property
    def checks_known(self) -> bool:
        return self.checks_passed is not None


def read_trust_stamp(con: duckdb.DuckDBPyConnection) -> TrustStamp:
    """The latest publication's stamp, or what the KPI tables alone can tell."""
    (as_of,) = con.execute("select max(as_of) from kpi_rep_weekly").fetchone()
    if not has_table(con, PUBLICATION_TABLE):
        return TrustStamp(as_of, None, None, None, None, None, None, None)
    # Read by name, so a column added later or missing in an older file does not break the stamp.
    cursor = con.execute(f"select * from {PUBLICATION_TABLE} order by published_at desc limit 1")
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    values = dict(zip(names, row, strict=True)) if row else {}
    return TrustStamp(
        as_of=values.get("as_of", as_of),
        published_at=values.get("published_at"),
        source_synced_at=values.get("source_synced_at"),
        checks_passed=values.get("checks_passed"),
        checks_warned=values.get("checks_warned"),
        checks_failed=values.get("checks_failed"),
        quarantined_records=values.get("quarantined_records"),
        status=values.get("status"),
    )


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = $n",
            {"n": name},
        ).fetchone()[0]
    )
