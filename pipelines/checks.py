"""Great Expectations suites (expectations/*.json) as Dagster asset checks that gate publishing.

Each suite names its asset in `meta.asset` ("marts/kpi_rep_weekly") and may give the `meta.query`
whose rows it validates; otherwise the asset's whole table. An expectation with severity
"critical" is blocking: when it fails, the check fails with severity ERROR and Dagster does not
materialize anything downstream, so nothing is published. "warning" expectations only warn.

GX's SQL datasource returns empty results on DuckDB (it fetches after the connection closed), so
the rows are pulled from DuckDB into a DataFrame and validated with GX's pandas engine.
"""

import json
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

from .settings import load_settings
from .warehouse import connect

EXPECTATIONS_DIR = Path(__file__).resolve().parent.parent / "expectations"


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


def validate(suite: Suite, rows: pd.DataFrame) -> list[ExpectationOutcome]:
    """Run one suite over `rows` and say, per expectation, whether it held."""
    import great_expectations as gx  # slow import (seconds): only when checks run

    result = (
        _pandas_batch_definition()
        .get_batch(batch_parameters={"dataframe": rows})
        .validate(gx.ExpectationSuite(**suite.definition))
    )
    outcomes = []
    for r in result.results:
        config = r.expectation_config
        error = r.exception_info.get("exception_message") if r.exception_info else None
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column"),
                blocking=str(config.severity.value) == "critical",
                success=bool(r.success),
                unexpected_count=(r.result or {}).get("unexpected_count"),
                error=error if error and not r.success else None,
            )
        )
    return outcomes


@cache
def _pandas_batch_definition():
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
        with connect(load_settings().warehouse_path, read_only=True) as con:
            rows = con.sql(suite.query).df()
        result = check_result(validate(suite, rows))
        context.log.info(f"{suite.name}: {result.description}")
        return result

    return _check


quality_checks = [build_suite_check(s) for s in load_suites()]
