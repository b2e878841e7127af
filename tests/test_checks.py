"""Every expectation in expectations/ can fail: good rows from a small warehouse built by the real
assets (conftest.small_warehouse), broken one way each."""

import shutil

import duckdb
import numpy as np
import pytest

from pipelines.checks import check_parameters, check_result, fetch_rows, load_suites, validate
from pipelines.settings import Settings
from pipelines.warehouse import connect

SUITES = {s.name: s for s in load_suites()}
# The default settings: what the suites' parameters come from.
PARAMETERS = check_parameters(Settings())


def pull(data_dir, suite):
    with connect(data_dir / "warehouse.duckdb", read_only=True) as wh:
        return fetch_rows(wh, suite, data_dir / "kpi.duckdb")


def set_first(column, value):
    def mutate(rows):
        rows = rows.copy()
        rows[column] = rows[column].astype(object)
        rows.loc[rows.index[0], column] = value
        return rows

    mutate.column = column
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
    # raw and quality-gate suites validate counts DuckDB computed: each count broken in turn.
    ("raw_records", set_first("records_without_id", 1), BETWEEN),
    ("raw_records", set_first("duplicate_ids", 2), BETWEEN),
    ("raw_records", set_first("records_without_record", 1), BETWEEN),
    ("raw_records", set_first("records_without_updated_at", 1), BETWEEN),
    ("raw_records", set_first("records_without_archived_flag", 1), BETWEEN),
    # a source that did not sync, a warehouse missing records the CRM has
    ("crm_reconciliation", no_rows, "expect_table_row_count_to_be_between"),
    ("crm_reconciliation", set_first("hours_since_sync", 3.5), BETWEEN),
    ("crm_reconciliation", set_first("records_missing", 1), BETWEEN),
    # more quarantined than CRM_KPI_MAX_QUARANTINE_SHARE (default 1%) of an object
    ("kpi_data_issues", set_first("quarantined_share", 0.011), BETWEEN),
    ("kpi_data_issues", set_first("unknown_issues", 1), BETWEEN),
    ("kpi_data_issues", set_first("issues_without_record_id", 1), BETWEEN),
    ("kpi_data_issues", set_first("incomplete_issues", 1), BETWEEN),
    ("kpi_data_issues", set_first("object_type", None), "expect_column_values_to_not_be_null"),
    # kpi_rep_weekly's won amount differs from the won deals' summed again for a rep and week
    (
        "kpi_rep_weekly_won_amount",
        set_first("published_won_amount", 1.0),
        "expect_column_pair_values_to_be_equal",
    ),
    # a KPI table lost more than half its rows against the current publication
    ("kpi_row_counts", set_first("row_count_ratio", 0.49), BETWEEN),
    ("kpi_rep_weekly", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_rep_weekly", set_first("owner_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_rep_weekly", duplicate_row, "expect_compound_columns_to_be_unique"),
    (
        "kpi_rep_weekly",
        set_first("week_starts_on_monday", False),
        "expect_column_values_to_be_in_set",
    ),
    ("kpi_rep_weekly", set_first("win_rate", 1.5), "expect_column_values_to_be_between"),
    ("kpi_rep_weekly", set_first("calls", -1), "expect_column_values_to_be_between"),
    ("kpi_rep_weekly", set_first("won_amount", -10.0), "expect_column_values_to_be_between"),
    ("kpi_open_pipeline", no_rows, "expect_table_row_count_to_be_between"),
    ("kpi_open_pipeline", set_first("stage_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_open_pipeline", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_open_pipeline", set_first("open_deals", 0), "expect_column_values_to_be_between"),
    ("kpi_open_pipeline", set_first("open_amount", -5.0), "expect_column_values_to_be_between"),
    ("kpi_open_pipeline", set_first("stage_probability", 1.5), BETWEEN),
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
    (
        "kpi_team_weekly",
        set_first("week_starts_on_monday", False),
        "expect_column_values_to_be_in_set",
    ),
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
    ("kpi_pipeline_daily", set_first("snapshot_near_as_of", False), IN_SET),
    ("kpi_pipeline_daily", set_first("stage_probability", 1.5), BETWEEN),
    ("kpi_pipeline_daily", set_first("weighted_amount", 1e12), PAIR),
    ("kpi_stage_conversion", set_first("stage_id", None), "expect_column_values_to_not_be_null"),
    ("kpi_stage_conversion", duplicate_row, "expect_compound_columns_to_be_unique"),
    ("kpi_stage_conversion", set_first("quarter", "2026"), "expect_column_values_to_match_regex"),
    ("kpi_stage_conversion", set_first("conversion_rate", 1.01), BETWEEN),
    ("kpi_stage_conversion", set_first("deals_entered", 0), BETWEEN),
    ("kpi_stage_conversion", set_first("deals_moved_on", -1), BETWEEN),
    ("kpi_stage_conversion", set_first("deals_still_in_stage", -1), BETWEEN),
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


@pytest.fixture(scope="module")
def good_rows(small_warehouse):
    """Each suite's rows from the small warehouse, shown to pass before anything breaks them."""
    pulled = {}

    def rows_of(suite_name: str):
        if suite_name not in pulled:
            suite = SUITES[suite_name]
            rows = pull(small_warehouse, suite)
            assert not rows.empty, f"{suite_name}: the small warehouse has no rows to break"
            outcomes = validate(suite, rows, PARAMETERS)
            assert all(o.success for o in outcomes), (suite_name, "good rows must pass first")
            pulled[suite_name] = rows
        return pulled[suite_name]

    return rows_of


@pytest.mark.parametrize(
    ("suite_name", "breakage", "expectation"),
    BREAKAGES,
    ids=[f"{s}-{getattr(b, 'column', b.__name__)}-{e}" for s, b, e in BREAKAGES],
)
def test_each_blocking_expectation_fails_on_bad_rows(good_rows, suite_name, breakage, expectation):
    suite = SUITES[suite_name]
    outcomes = validate(suite, breakage(good_rows(suite_name)), PARAMETERS)
    failed = [o for o in outcomes if not o.success]
    assert expectation in {o.expectation for o in failed}
    assert all(o.blocking for o in failed if o.expectation == expectation)
    result = check_result(outcomes)
    assert not result.passed and result.severity.value == "ERROR"


def test_a_warning_expectation_warns_without_blocking(good_rows):
    suite = SUITES["kpi_rep_weekly"]
    outcomes = validate(suite, set_first("team_name", None)(good_rows(suite.name)), PARAMETERS)
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


# Suites over aggregates hold several expectations of one type, one per column: each column's
# expectation is shown failing on its own.
AGGREGATE_SUITES = (
    "raw_records",
    "crm_reconciliation",
    "kpi_data_issues",
    "kpi_rep_weekly_won_amount",
    "kpi_row_counts",
)


def test_every_blocking_expectation_of_the_aggregate_suites_is_shown_failing_per_column():
    shown = {(s, e, getattr(b, "column", None)) for s, b, e in BREAKAGES}
    blocking = {
        (name, exp["type"], exp["kwargs"].get("column") or exp["kwargs"].get("column_A"))
        for name in AGGREGATE_SUITES
        for exp in SUITES[name].definition["expectations"]
        if exp["severity"] == "critical" and exp["type"] != "expect_table_row_count_to_be_between"
    }
    assert blocking <= shown, blocking - shown


def test_the_quarantine_share_follows_its_setting(good_rows):
    suite = SUITES["kpi_data_issues"]
    rows = set_first("quarantined_share", 0.04)(good_rows(suite.name))
    assert not check_result(validate(suite, rows, PARAMETERS)).passed
    lenient = check_parameters(Settings(CRM_KPI_MAX_QUARANTINE_SHARE="0.05"))
    assert check_result(validate(suite, rows, lenient)).passed


def test_a_warehouse_with_records_the_crm_no_longer_has_only_warns(small_warehouse):
    # Deleted outright in the CRM: incremental syncs cannot see it; the nightly full refresh can.
    data_dir = small_warehouse
    suite = SUITES["crm_reconciliation"]
    result = check_result(
        validate(suite, set_first("records_not_in_crm", 2)(pull(data_dir, suite)), PARAMETERS)
    )
    assert not result.passed and result.severity.value == "WARN"


def test_row_counts_compare_against_the_published_file(small_warehouse):
    data_dir = small_warehouse
    rows = pull(data_dir, SUITES["kpi_row_counts"])
    assert "kpi_rep_weekly" in set(rows.table_name)
    assert "kpi_data_issues" not in set(rows.table_name)  # an empty quarantine is good news
    assert (rows.row_count_ratio == 1).all()  # the warehouse is what was published


def test_the_quality_models_count_what_is_broken_in_a_real_warehouse(small_warehouse, tmp_path):
    """The quality models are views: broken rows in a copy of the warehouse show in their
    counts at once, and the suites over them fail."""
    shutil.copy(small_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        # a raw record stored twice, two live deals lost, a published week's bookings changed
        con.execute("insert into raw.calls select * from raw.calls limit 1")
        con.execute(
            "delete from raw.deals where id in "
            "(select id from raw.deals where not archived order by id limit 2)"
        )
        con.execute(
            "update marts.kpi_rep_weekly set won_amount = won_amount + 1 "
            "where rowid = (select min(rowid) from marts.kpi_rep_weekly)"
        )
        con.execute(
            "insert into marts.kpi_data_issues select 'deals', deal_id, 'negative_amount', "
            "as_of, as_of from crm.crm_deals, (select max(as_of) as as_of from marts.dim_reps) "
            "where not is_archived limit 10"
        )
    failing = {
        "raw_records": ("duplicate_ids", {"calls": 1}),
        "crm_reconciliation": ("records_missing", {"deals": 2}),
        "kpi_data_issues": ("quarantined_records", {"deals": 10}),
    }
    for name, (column, expected) in failing.items():
        rows = pull(tmp_path, SUITES[name])
        key_column = "object_name" if "object_name" in rows else "object_type"
        counted = {getattr(r, key_column): r for r in rows.itertuples()}
        for key, value in expected.items():
            assert getattr(counted[key], column) == value, (name, key)
        assert not check_result(validate(SUITES[name], rows, PARAMETERS)).passed, name
    won = pull(tmp_path, SUITES["kpi_rep_weekly_won_amount"])
    differing = won[won.published_won_amount != won.recomputed_won_amount]
    assert len(differing) == 1
    assert not check_result(validate(SUITES["kpi_rep_weekly_won_amount"], won, PARAMETERS)).passed
