"""The managers' report, opened in a real headless Chromium: it loads cleanly and offline, its
charts draw, and every number it shows is the number in the published tables."""

import json
import re
import shutil
from zoneinfo import ZoneInfo

import duckdb
import pytest

from pipelines.report.render import write_report

from .browser import PageLog, launch, non_white_share
from .conftest import PUBLISHED_TIMEZONE
from .test_cli import clean_env, crm_kpi

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(published_run):
    """The report the pipeline's report asset wrote after publishing."""
    data_dir = published_run.data_dir
    path = data_dir / "kpi_report.html"
    assert path.exists(), "the report asset did not write the report"
    return path, data_dir / "kpi.duckdb"


@pytest.fixture(scope="module")
def rendered(report):
    return render_in_chromium(report[0])


def render_in_chromium(path) -> dict:
    """The report as Chromium shows it: what it logged, fetched, and the numbers on screen."""
    log = PageLog()
    with launch() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        log.watch(page)
        page.goto(path.as_uri(), wait_until="load")
        numbers = page.eval_on_selector_all(
            "[data-column]",
            "els => els.map(e => ({table: e.dataset.table, column: e.dataset.column, "
            "key: e.dataset.key, text: e.innerText}))",
        )
        charts = {}
        for figure in page.query_selector_all("figure.chart"):
            svg = figure.query_selector("svg")
            charts[figure.get_attribute("data-chart")] = (svg.bounding_box(), svg.screenshot())
        return {
            "log": log,
            "numbers": numbers,
            "charts": charts,
            "screenshot": page.screenshot(full_page=True),
            "stamp": page.inner_text("#trust-stamp"),
            "support": " ".join(e.inner_text() for e in page.query_selector_all(".support li")),
            "changes": page.eval_on_selector_all(
                "table.pipeline-change td.change", "els => els.map(e => e.innerText)"
            ),
        }


def test_the_report_loads_offline_without_console_errors(report, rendered):
    path, _ = report
    log = rendered["log"]
    assert log.console_errors == [] and log.page_errors == []
    # One self-contained file: the only thing the browser fetched is the report itself.
    assert log.requests == [path.as_uri()]
    html = path.read_text()
    assert "<script" not in html and "@import" not in html
    # Namespaces (xmlns="http://www.w3.org/...") are names, not fetches; links and sources are.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//""", html)


def test_every_chart_draws_something(rendered, report):
    _, published = report
    con = duckdb.connect(str(published), read_only=True)
    teams = [t for (t,) in con.execute("select team_id from dim_teams").fetchall()]
    con.close()
    charts = rendered["charts"]
    # five charts per team, one funnel per pipeline, the open-pipeline trend
    for team in teams:
        for kind in ("activity", "weekly", "created", "bookings", "winrate"):
            assert f"{kind}-{team}" in charts
    assert "open-pipeline" in charts and any(name.startswith("funnel-") for name in charts)
    for name, (box, png) in charts.items():
        assert box["width"] > 300 and box["height"] > 100, name
        assert non_white_share(png) > 0.02, f"chart {name} is blank"
    assert non_white_share(rendered["screenshot"]) > 0.03


def test_every_number_shown_equals_the_published_tables(rendered, report):
    _, published = report
    assert_numbers_equal_the_published_tables(rendered["numbers"], published)


def assert_numbers_equal_the_published_tables(numbers: list[dict], published) -> None:
    assert len(numbers) > 100
    tables = {n["table"] for n in numbers}
    assert {"kpi_team_quarterly", "kpi_rep_quarterly", "kpi_coaching_signals"} <= tables
    assert {"kpi_pipeline_daily", "kpi_stage_conversion"} <= tables
    con = duckdb.connect(str(published), read_only=True)
    shown_values = 0
    for number in numbers:
        key = json.loads(number["key"])
        where = " and ".join(f'"{column}" = ${column}' for column in key)
        # kpi_pipeline_daily is shown summed over a pipeline's stages; every other key is one row.
        (value,) = con.execute(
            f'select sum("{number["column"]}") from {number["table"]} where {where}', key
        ).fetchone()
        assert_shown(number["text"], value, number)
        shown_values += value is not None
    con.close()
    assert shown_values > 50  # not a page of dashes


def assert_shown(text: str, value, context) -> None:
    text = text.strip()
    if value is None:
        assert text == "—", context
        return
    value = float(value)
    if text.endswith("%"):
        assert abs(float(text[:-1]) - value * 100) <= 0.5, context
    elif text.endswith("×"):
        assert abs(float(text[:-1]) - value) <= 0.05, context
    else:
        assert re.fullmatch(r"-?[\d,]+(\.\d)?", text), context
        # whole numbers as integers, a half (a median) with its decimal
        tolerance = 0.05 if "." in text or value.is_integer() else 0.5
        assert abs(float(text.replace(",", "")) - value) <= tolerance, context


def test_the_trust_stamp_says_checks_are_unknown_without_a_publication_record(rendered, report):
    _, published = report
    con = duckdb.connect(str(published), read_only=True)
    (as_of,) = con.execute("select max(as_of) from kpi_rep_weekly").fetchone()
    has_publication = con.execute(
        "select count(*) from duckdb_tables() where table_name = 'kpi_publication'"
    ).fetchone()[0]
    con.close()
    stamp = rendered["stamp"]
    # shown in the reporting time zone (the shared run reports in Europe/Berlin)
    assert f"{as_of.astimezone(ZoneInfo('Europe/Berlin')):%Y-%m-%d %H:%M}" in stamp
    if not has_publication:
        assert "unknown" in stamp


def test_the_trust_stamp_reads_the_latest_publication_record(report, tmp_path):
    _, published = report
    copy = tmp_path / "kpi.duckdb"
    shutil.copy(published, copy)
    con = duckdb.connect(str(copy))
    con.execute("drop table if exists kpi_publication")
    con.execute(
        """
        create table kpi_publication as
        select * from (values
            (timestamptz '2026-11-20 06:00:00+00', timestamptz '2026-11-20 05:55:00+00',
             40, 1, 0, 3, 'published'),
            (timestamptz '2026-11-25 06:00:00+00', timestamptz '2026-11-25 05:58:00+00',
             41, 2, 0, 7, 'published')
        ) as t(published_at, source_synced_at, checks_passed, checks_warned, checks_failed,
               quarantined_records, status)
        """
    )
    con.close()
    out = tmp_path / "report.html"
    write_report(copy, out, "UTC")
    html = out.read_text()
    assert "41 passed, 2 warned, 0 failed" in html
    assert 'id="stamp-quarantined">7<' in html
    stamp = html.split('id="trust-stamp"')[1].split("</dl>")[0]
    assert "2026-11-25 06:00" in stamp and "unknown" not in stamp


def test_support_is_phrased_as_help_not_a_ranking(rendered):
    support = rendered["support"]
    assert support, "the demo data has overdue and stalled deals: someone needs support"
    assert re.search(r"overdue|past their expected close date|without any activity", support)
    assert not re.search(r"\b(rank|worst|best|bottom|top)\b", support, re.IGNORECASE)


def test_report_command_for_one_team_and_an_unknown_team(report, tmp_path):
    _, published = report
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(published, data_dir / "kpi.duckdb")
    con = duckdb.connect(str(published), read_only=True)
    teams = con.execute("select team_id, team_name from dim_teams order by team_name").fetchall()
    con.close()
    (team_id, team_name), (other_id, _) = teams[0], teams[1]
    env = clean_env(tmp_path)
    out = tmp_path / "one team.html"
    done = crm_kpi("report", "--team", team_name, "--out", str(out), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout
    html = out.read_text()
    assert f'id="team-{team_id}"' in html and f'id="team-{other_id}"' not in html

    done = crm_kpi("report", "--team", "No Such Team", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and team_name in done.stderr

    empty = {**env, "CRM_KPI_DATA_DIR": str(tmp_path / "nothing")}
    done = crm_kpi("report", env=empty, cwd=tmp_path)
    assert done.returncode == 2 and "crm-kpi run" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_report_stays_one_small_file(report, tmp_path):
    # How long writing and loading take is bench/report_bench.py's business, not a test's.
    _, published = report
    result = write_report(published, tmp_path / "r.html", "Europe/Berlin")
    assert 100_000 < result.size_bytes < 3_000_000


def test_a_week_of_snapshots_and_quotas_show_as_change_and_attainment(
    published_run, report, rendered
):
    # The shared run's two snapshots are a week apart, and it has quotas this quarter.
    _, published = report
    attainments = [n for n in rendered["numbers"] if n["column"] == "attainment"]
    assert any(n["text"].endswith("%") for n in attainments)
    # The week-over-week change is the difference of the two snapshots it names.
    day_one, day_two = published_run.day_one, published_run.crm.now
    local = ZoneInfo(PUBLISHED_TIMEZONE)
    con = duckdb.connect(str(published), read_only=True)
    by_pipeline = con.execute(
        "select pipeline_label, sum(open_amount) filter (snapshot_date = $two) "
        "- sum(open_amount) filter (snapshot_date = $one) "
        "from kpi_pipeline_daily group by pipeline_label order by pipeline_label",
        {"one": day_one.astimezone(local).date(), "two": day_two.astimezone(local).date()},
    ).fetchall()
    con.close()
    changes = [float(text.split(" ")[0].replace(",", "")) for text in rendered["changes"]]
    assert changes and all(delta is not None for _, delta in by_pipeline)
    # The report rounds to whole units; DuckDB's sums are Decimal, which approx cannot
    # subtract from a float.
    assert changes == pytest.approx([float(delta) for _, delta in by_pipeline], abs=0.5)
