"""Every expectation in expectations/ can fail: good rows from a real run, broken one way each."""

import duckdb
import numpy as np
import pytest

from pipelines.checks import check_result, load_suites, validate

SUITES = {s.name: s for s in load_suites()}


def pull(data_dir, suite):
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        return con.sql(suite.query).df()
    finally:
        con.close()


def set_first(column, value):
    def mutate(rows):
        rows = rows.copy()
        rows[column] = rows[column].astype(object)
        rows.loc[rows.index[0], column] = value
        return rows

    return mutate


def duplicate_row(rows):
    import pandas as pd

    return pd.concat([rows, rows.iloc[[0]]], ignore_index=True)


def no_rows(rows):
    return rows.iloc[0:0]


PAIR = "expect_column_pair_values_a_to_be_greater_than_b"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
NOT_MATCHING = "expect_column_values_to_not_match_regex"

BREAKAGES = [
    ("raw_deals", no_rows, "expect_table_row_count_to_be_between"),
    ("raw_deals", set_first("id", None), "expect_column_values_to_not_be_null"),
    ("raw_deals", duplicate_row, "expect_column_values_to_be_unique"),
    ("raw_deals", set_first("record", None), "expect_column_values_to_not_be_null"),
    ("raw_deals", set_first("updated_at", None), "expect_column_values_to_not_be_null"),
    ("raw_deals", set_first("archived", "maybe"), "expect_column_values_to_be_in_set"),
    ("kpi_rep_weekly", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_rep_weekly", set_first("owner_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_rep_weekly", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_rep_weekly", set_first("week_start_weekday", 3), "expect_column_values_to_be_in_set"),
    ("kpi_rep_weekly", set_first("win_rate", 1.5), "expect_column_values_to_be_between"),
    ("kpi_rep_weekly", set_first("calls", -1), "expect_column_values_to_be_between"),
    ("kpi_rep_weekly", set_first("won_amount", -10.0), "expect_column_values_to_be_between"),
    ("kpi_open_pipeline", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_open_pipeline", set_first("stage_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_open_pipeline", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_open_pipeline", set_first("open_deals", 0), "expect_column_values_to_be_between"),
    ("kpi_open_pipeline", set_first("open_amount", -5.0), "expect_column_values_to_be_between"),
    (
        "kpi_open_pipeline",
        set_first("weighted_amount", np.float64(1e12)),
        "expect_column_pair_values_a_to_be_greater_than_b",
    ),
    ("kpi_rep_weekly", set_first("lost_amount", -1.0), "expect_column_values_to_be_between"),
    ("kpi_rep_weekly", set_first("meetings_held", 10**6), PAIR),
    ("kpi_rep_weekly", set_first("tasks_completed", 10**6), PAIR),
    ("kpi_team_weekly", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_team_weekly", set_first("team_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_team_weekly", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_team_weekly", set_first("week_start_weekday", 7), "expect_column_values_to_be_in_set"),
    ("kpi_team_weekly", set_first("win_rate", -0.1), "expect_column_values_to_be_between"),
    ("kpi_team_weekly", set_first("reps", -1), "expect_column_values_to_be_between"),
    ("kpi_team_weekly", set_first("meetings_held", 10**6), PAIR),
    ("kpi_rep_quarterly", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_rep_quarterly", set_first("owner_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_rep_quarterly", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_rep_quarterly", set_first("quarter", "Q4 2026"), "expect_column_values_to_match_regex"),
    ("kpi_rep_quarterly", set_first("quarter_start_month", 2), "expect_column_values_to_be_in_set"),
    ("kpi_rep_quarterly", set_first("quota_amount", -1.0), "expect_column_values_to_be_between"),
    ("kpi_rep_quarterly", set_first("win_rate", 2.0), "expect_column_values_to_be_between"),
    ("kpi_rep_quarterly", set_first("weighted_forecast_amount", 1e12), PAIR),
    ("kpi_team_quarterly", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_team_quarterly", set_first("quarter_start", None), "expect_column_values_to_not_be_null"),
    ("kpi_team_quarterly", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_team_quarterly", set_first("quarter", "2026-Q5"), "expect_column_values_to_match_regex"),
    ("kpi_team_quarterly", set_first("quarter_start_month", 3), IN_SET),
    ("kpi_team_quarterly", set_first("won_amount", -1.0), "expect_column_values_to_be_between"),
    ("kpi_team_quarterly", set_first("reps_with_quota", 10**6), PAIR),
    ("kpi_pipeline_daily", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_pipeline_daily", set_first("snapshot_date", None), "expect_column_values_to_not_be_null"),
    ("kpi_pipeline_daily", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_pipeline_daily", set_first("snapshot_days_from_as_of", 2), IN_SET),
    ("kpi_pipeline_daily", set_first("stage_probability", 1.5), BETWEEN),
    ("kpi_pipeline_daily", set_first("weighted_amount", 1e12), PAIR),
    ("kpi_stage_conversion", set_first("stage_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_stage_conversion", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_stage_conversion", set_first("quarter", "2026"), "expect_column_values_to_match_regex"),
    ("kpi_stage_conversion", set_first("conversion_rate", 1.01), BETWEEN),
    ("kpi_stage_conversion", set_first("deals_entered", 0), BETWEEN),
    ("kpi_stage_conversion", set_first("deals_moved_on", 10**6), PAIR),
    ("kpi_stage_conversion", set_first("deals_still_in_stage", 10**6), PAIR),
    ("kpi_coaching_signals", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_coaching_signals", set_first("as_of", None), "expect_column_values_to_not_be_null"),
    ("kpi_coaching_signals", duplicate_row, "expect_column_values_to_be_unique"),
    ("kpi_coaching_signals", set_first("stalled_deals", -1), BETWEEN),
    ("kpi_coaching_signals", set_first("win_rate_last_90d", 1.5), BETWEEN),
    ("kpi_coaching_signals", set_first("overdue_deals", 10**6), PAIR),
    ("kpi_coaching_signals", set_first("stalled_deals", 10**6), PAIR),
    ("dim_reps", no_rows, "expect_table_row_count_to_be_between"),
    ("dim_reps", set_first("owner_name", None), "expect_column_values_to_not_be_null"),
    ("dim_reps", duplicate_row, "expect_column_values_to_be_unique"),
    ("dim_reps", set_first("is_archived", "maybe"), IN_SET),
    # An email address must never be published.
    ("dim_reps", set_first("owner_name", "ada@example.com"), NOT_MATCHING),
    ("dim_reps", set_first("team_name", "sales@example.com"), NOT_MATCHING),
    ("dim_teams", no_rows, "expect_table_row_count_to_be_between"),
    ("dim_teams", set_first("team_name", None), "expect_column_values_to_not_be_null"),
    ("dim_teams", duplicate_row, "expect_column_values_to_be_unique"),
    ("dim_teams", set_first("active_reps", -1), BETWEEN),
]


@pytest.mark.parametrize(("suite_name", "breakage", "expectation"), BREAKAGES)
def test_each_blocking_expectation_fails_on_bad_rows(
    published_run, suite_name, breakage, expectation
):
    _, data_dir = published_run
    suite = SUITES[suite_name]
    rows = pull(data_dir, suite)
    if rows.empty and breakage is not no_rows:
        pytest.skip(f"{suite_name} has no rows in this run to break")
    assert all(o.success for o in validate(suite, rows)), "good rows must pass first"

    outcomes = validate(suite, breakage(rows))
    failed = [o for o in outcomes if not o.success]
    assert expectation in {o.expectation for o in failed}
    assert all(o.blocking for o in failed if o.expectation == expectation)
    result = check_result(outcomes)
    assert not result.passed and result.severity.value == "ERROR"


def test_a_warning_expectation_warns_without_blocking(published_run):
    _, data_dir = published_run
    suite = SUITES["kpi_rep_weekly"]
    outcomes = validate(suite, set_first("team_name", None)(pull(data_dir, suite)))
    result = check_result(outcomes)
    assert not result.passed and result.severity.value == "WARN"
    assert result.metadata["failed_warning"].value == 1


def test_every_expectation_in_every_suite_is_shown_failing():
    shown = {(s, e) for s, _, e in BREAKAGES}
    blocking = {
        (suite.name, exp["type"])
        for suite in SUITES.values()
        for exp in suite.definition["expectations"]
        if exp["severity"] == "critical"
    }
    assert blocking <= shown, blocking - shown
