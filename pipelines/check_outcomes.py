"""How a run's quality checks came out, counted once for everyone who reports it.

The trust stamp in kpi.duckdb, last_run.json, the exit code's reason and `crm-kpi run`'s summary
all read the same asset check evaluations; counting them here keeps the four from disagreeing
about what "failed" means: a check that did not pass with severity ERROR blocks publishing, one
with severity WARN only warns.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from dagster import AssetCheckEvaluation, AssetCheckSeverity


@dataclass(frozen=True)
class CheckOutcomes:
    passed: int = 0
    warned: int = 0  # did not pass, severity WARN: published anyway
    failed: int = 0  # did not pass, severity ERROR: blocks publishing
    # Every check that did not pass, as "marts/kpi_rep_weekly kpi_rep_weekly (failed)" or
    # "(warned)".
    not_passed: tuple[str, ...] = ()
    # The blocking ones with what they found: "marts/kpi_rep_weekly kpi_rep_weekly: <description>".
    blocking_failures: tuple[str, ...] = ()

    @classmethod
    def from_evaluations(cls, evaluations: Iterable[AssetCheckEvaluation]) -> "CheckOutcomes":
        passed, not_passed, blocking_failures = 0, [], []
        for evaluation in evaluations:
            if evaluation.passed:
                passed += 1
                continue
            check = f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}"
            blocking = evaluation.severity == AssetCheckSeverity.ERROR
            not_passed.append(f"{check} ({'failed' if blocking else 'warned'})")
            if blocking:
                blocking_failures.append(f"{check}: {evaluation.description}")
        return cls(
            passed=passed,
            warned=len(not_passed) - len(blocking_failures),
            failed=len(blocking_failures),
            not_passed=tuple(not_passed),
            blocking_failures=tuple(blocking_failures),
        )

    @property
    def status(self) -> str:
        """What kpi_publication.status records for a publication with these outcomes."""
        if self.failed:
            return "checks_failed"
        return "passed_with_warnings" if self.warned else "all_checks_passed"
