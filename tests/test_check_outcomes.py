"""How a run's check outcomes are counted: by severity, with the failing ones named."""

from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey

from pipelines.check_outcomes import CheckOutcomes


def evaluation(check: str, passed: bool, severity=AssetCheckSeverity.ERROR, description=None):
    return AssetCheckEvaluation(
        asset_key=AssetKey(["raw", "deals"]),
        check_name=check,
        passed=passed,
        severity=severity,
        description=description,
    )


def test_a_failed_warning_only_warns():
    outcomes = CheckOutcomes.from_evaluations(
        [
            evaluation("raw_deals", passed=True),
            evaluation("freshness_check", passed=True, severity=AssetCheckSeverity.WARN),
            evaluation("crm_reconciliation", passed=False, severity=AssetCheckSeverity.WARN),
        ]
    )
    assert (outcomes.passed, outcomes.warned, outcomes.failed) == (2, 1, 0)
    assert outcomes.status == "passed_with_warnings"
    assert outcomes.not_passed == ("raw/deals crm_reconciliation (warned)",)
    assert outcomes.blocking_failures == ()


def test_a_failed_error_blocks_and_says_why():
    outcomes = CheckOutcomes.from_evaluations(
        [
            evaluation("raw_deals", passed=True),
            evaluation("freshness_check", passed=False, severity=AssetCheckSeverity.WARN),
            evaluation("crm_reconciliation", passed=False, description="12 records missing"),
        ]
    )
    assert (outcomes.passed, outcomes.warned, outcomes.failed) == (1, 1, 1)
    assert outcomes.status == "checks_failed"
    assert outcomes.not_passed == (
        "raw/deals freshness_check (warned)",
        "raw/deals crm_reconciliation (failed)",
    )
    assert outcomes.blocking_failures == ("raw/deals crm_reconciliation: 12 records missing",)


def test_no_checks_is_all_passed():
    assert CheckOutcomes.from_evaluations([]) == CheckOutcomes()
    assert CheckOutcomes().status == "all_checks_passed"
