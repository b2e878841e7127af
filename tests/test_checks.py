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
]


@pytest.mark.parametrize(("suite_name", "breakage", "expectation"), BREAKAGES)
def test_each_blocking_expectation_fails_on_bad_rows(
    published_run, suite_name, breakage, expectation
):
    _, data_dir = published_run
    suite = SUITES[suite_name]
    rows = pull(data_dir, suite)
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
