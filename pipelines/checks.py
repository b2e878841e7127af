"""Great Expectations suites (expectations/*.json) as Dagster asset checks that gate publishing.

Each suite names its asset in `meta.asset` ("marts/kpi_rep_weekly") and validates that asset's
table, or the rows of a one-line `meta.query` (a derived column, say); anything longer is a dbt
model in dbt_project/models/quality/, linted and built like every model. An expectation with
severity "critical" is blocking: when it fails, the check fails with severity ERROR and Dagster
does not materialize anything downstream, so nothing is published. "warning" expectations only
warn.

GX's SQL datasource returns empty results on DuckDB (it fetches after the connection closed), so
the rows are pulled from the warehouse (DuckDB, Postgres or Spark, in SQL all three take) into a
DataFrame and validated with GX's pandas engine. What is pulled is bounded: a suite over a table
that grows with the CRM (raw records, staging, the quarantine list) validates an aggregate that
the warehouse computes where the data lies (a quality model's counts of nulls, duplicates, live
records, shares), one row per table or object, so a check reads as many bytes at 10 million
records as at 10 thousand. Only the marts, whose rows are already aggregates (a rep's week, a
stage's quarter), are validated row by row, so that a failure names the rows. (Sampling was the
other way to bound memory; it would let a single bad record through, and counting is what DuckDB
does fastest.)

Values that depend on configuration reach a suite as GX suite parameters in an expectation
(`{"$PARAMETER": "max_quarantine_share"}`), from `check_parameters`. The row counts of the
currently published kpi.duckdb, which the warehouse cannot see, are the rows of the query
`select * from publication_row_counts`.
"""

import json
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    asset_check,
)

from .data_docs import page_view, write_data_docs
from .settings import Settings, load_settings
from .warehouse import Warehouse, connect, connect_warehouse

EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"
# Tables whose row count may rightly fall to nothing: an empty quarantine list is good news.
ROW_COUNT_DROP_EXEMPT = ("kpi_data_issues",)
# A suite's own query adds a column or two to a table; computing more is a quality model's job.
MAX_QUERY_LENGTH = 140
PUBLICATION_ROW_COUNTS = "select * from publication_row_counts"
# The working schemas a suite's query may name; on Postgres their names carry a prefix.
SCHEMA_NAME = re.compile(r"\b(raw|staging|crm|intermediate|marts|quality)\.")


@dataclass(frozen=True)
class Suite:
    name: str
    asset_key: AssetKey
    query: str
    definition: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> "Suite":
        definition = json.loads(path.read_text())
        asset = definition["meta"]["asset"].split("/")
        query = definition["meta"].get("query") or f"select * from {'.'.join(asset)}"
        if "\n" in query or len(query) > MAX_QUERY_LENGTH:
            raise ValueError(
                f"{path.name}: meta.query is longer than a line; make it a model in "
                "dbt_project/models/quality/ and name that model's asset in meta.asset"
            )
        return cls(definition["name"], AssetKey(asset), query, definition)


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    blocking: bool
    success: bool
    unexpected_count: int | None
    error: str | None


def load_suites(directory: Path = EXPECTATIONS_DIR) -> list[Suite]:
    return [Suite.load(p) for p in sorted(directory.glob("*.json"))]


def check_parameters(settings: Settings) -> dict[str, Any]:
    """What suites may refer to, as `{"$PARAMETER": name}` in an expectation's kwargs."""
    return {
        "max_quarantine_share": settings.max_quarantine_share,
        "min_row_count_ratio": 1 - settings.max_row_count_drop,
        "max_hours_since_sync": settings.max_sync_age_hours,
    }


def fetch_rows(wh: Warehouse, suite: Suite, published_path: Path | None = None) -> pd.DataFrame:
    """The rows `suite` validates, computed by the warehouse on the open connection `wh`."""
    if suite.query == PUBLICATION_ROW_COUNTS:
        return publication_row_counts(wh, published_path)
    wh.use_utc()  # a suite's dates of instants are UTC dates, on every engine
    return wh.df(SCHEMA_NAME.sub(lambda m: f"{wh.schema(m[1])}.", suite.query))


def publication_row_counts(wh: Warehouse, published_path: Path | None) -> pd.DataFrame:
    """Rows per marts table now and in the currently published file, and their ratio: one row
    per table the published file has rows of (none before the first publication)."""
    warehouse = _row_counts(wh, "marts")
    published: dict[str, int] = {}
    if published_path is not None and published_path.exists():
        # Read-only, like any BI tool: it never waits for or blocks the readers of kpi.duckdb.
        with connect(published_path, read_only=True) as published_file:
            published = _row_counts(published_file, "main")
    names = sorted(
        n
        for n, rows in published.items()
        if rows and n not in ROW_COUNT_DROP_EXEMPT and n != "kpi_publication"
    )
    return pd.DataFrame(
        {
            "table_name": pd.Series(names, dtype=object),
            "warehouse_rows": pd.Series([warehouse.get(n, 0) for n in names], dtype="int64"),
            "published_rows": pd.Series([published[n] for n in names], dtype="int64"),
            "row_count_ratio": pd.Series(
                [warehouse.get(n, 0) / published[n] for n in names], dtype="float64"
            ),
        }
    )


def _row_counts(wh: Warehouse, schema: str) -> dict[str, int]:
    return {
        name: wh.execute(f"select count(*) from {wh.schema(schema)}.{wh.quote(name)}").fetchall()[
            0
        ][0]
        for name in wh.tables(schema)
    }


def validate(
    suite: Suite, rows: pd.DataFrame, parameters: dict[str, Any] | None = None
) -> list[ExpectationOutcome]:
    """Run one suite over `rows` and say, per expectation, whether it held."""
    return validate_suite(suite, rows, parameters)[1]


def validate_suite(suite: Suite, rows: pd.DataFrame, parameters: dict[str, Any] | None = None):
    """GX's validation result for `suite` over `rows`, and the outcome per expectation."""
    batch_definition = _pandas_batch_definition()  # first: it waits for GX's preparation
    import great_expectations as gx

    if parameters is None:
        parameters = check_parameters(load_settings())
    result = (
        batch_definition.get_batch(batch_parameters={"dataframe": rows})
        # BASIC: counts and a few unexpected values, all a failure's description needs; GX's
        # default (SUMMARY) computes more per expectation and costs a third more time.
        .validate(
            gx.ExpectationSuite(**suite.definition),
            expectation_parameters=parameters,
            result_format="BASIC",
        )
    )
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        error = r.exception_info.get("exception_message") if r.exception_info else None
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column") or config.kwargs.get("column_A"),
                blocking=str(config.severity.value) == "critical",
                success=bool(r.success),
                unexpected_count=(r.result or {}).get("unexpected_count"),
                error=error if error and not r.success else None,
            )
        )
    return result, outcomes


def prepare_validation() -> None:
    """Import GX and make its context in a background thread; returns at once.

    Importing GX costs seconds of CPU (scipy, altair and sqlalchemy come with it), more than
    validating every suite. The sync and the dbt build call this first: they mostly wait, on the
    CRM and on dbt's subprocess, so the checks after them find GX ready instead of paying for it.
    """
    global _preparing
    if _preparing is None:
        _preparing = threading.Thread(target=_prepare, daemon=True)
        _preparing.start()


_preparing: threading.Thread | None = None


def _prepare() -> None:
    _make_pandas_batch_definition()
    page_view()


def _pandas_batch_definition():
    if _preparing is not None:
        _preparing.join()  # never two threads importing GX at once
    return _make_pandas_batch_definition()


@cache
def _make_pandas_batch_definition():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("warehouse").add_dataframe_asset("rows")
    return asset.add_batch_definition_whole_dataframe("all_rows")


def check_result(outcomes: list[ExpectationOutcome]) -> AssetCheckResult:
    failed = [o for o in outcomes if not o.success]
    blocking = [o for o in failed if o.blocking]
    return AssetCheckResult(
        passed=not failed,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        description=_describe(blocking or failed) if failed else "all expectations held",
        metadata={
            "expectations": len(outcomes),
            "failed_blocking": len(blocking),
            "failed_warning": len(failed) - len(blocking),
            "failures": [_describe([o]) for o in failed],
        },
    )


def _describe(failed: list[ExpectationOutcome]) -> str:
    return "; ".join(
        f"{o.expectation}({o.column or ''})"
        + (f": {o.unexpected_count} unexpected rows" if o.unexpected_count else "")
        + (f": {o.error}" if o.error else "")
        for o in failed
    )


def build_suite_check(suite: Suite) -> AssetChecksDefinition:
    @asset_check(
        asset=suite.asset_key,
        name=suite.name,
        blocking=True,
        description=suite.definition.get("notes") or f"Great Expectations suite {suite.name}",
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        settings = load_settings()
        parameters = check_parameters(settings)
        with connect_warehouse(settings, read_only=True) as wh:
            rows = fetch_rows(wh, suite, settings.published_path)
        gx_result, outcomes = validate_suite(suite, rows, parameters)
        write_data_docs(gx_result, suite.name, context.run.run_id, settings.data_docs_dir)
        result = check_result(outcomes)
        context.log.info(f"{suite.name}: {result.description}")
        return result

    return _check


quality_checks = [build_suite_check(s) for s in load_suites()]
