"""Shared fixtures: a real demo CRM on localhost and an isolated data directory per run.

Tests come in two tiers (`make test-fast`, `make test`): a test that makes full pipeline runs is
marked `pipeline` (any test of the shared published run is, by its fixture), one that drives
Chromium `browser`. The fast tier runs everything else: units, dbt's unit tests, and components
on small fixtures (the `small_warehouse`: a small CRM synced and built, no checks, no run).
"""

import copy
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo_crm import DemoCrmServer, simulate_day
from pipelines.runner import ExitCode, RunOutcome, run_pipeline
from pipelines.settings import load_settings

from .kpi_oracle import quarter, rep_quarterly

TOKEN = "test-token-5f1c9a"  # distinctive, so tests can search for leaks of it
# The shared demo CRM's clock: pinned, and a week before a day this suite was written, so that
# its data and the published KPIs (tests/golden/) never depend on the day the tests run.
DEMO_NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)
PUBLISHED_TIMEZONE = "Europe/Berlin"


# Fixtures whose tests make (or read) full pipeline runs.
PIPELINE_FIXTURES = {"published_run", "bad_days", "three_runs"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PIPELINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.pipeline)


@pytest.fixture(scope="session")
def demo_crm():
    """The demo CRM of the shared published run; do not change it (use `fresh_crm`).

    `published_run` moves it a week ahead of DEMO_NOW.
    """
    with DemoCrmServer(token=TOKEN, seed=7, now=DEMO_NOW) as crm:
        yield crm


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway Postgres server for the session (tests/postgres_cluster.py): its superuser's
    URL (the password has special characters, percent-encoded). Create a database of your own."""
    import shutil
    import tempfile

    from . import postgres_cluster

    # Not under pytest's base directory: as root, the server runs as the postgres user, who
    # cannot enter root's 0700 /tmp/pytest-of-root.
    directory = Path(tempfile.mkdtemp(prefix="crm-kpi-postgres-"))
    try:
        yield postgres_cluster.start(directory, postgres_cluster.free_port())
    finally:
        postgres_cluster.stop(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fresh_crm():
    """A small demo CRM of the test's own, free to change and to break."""
    with DemoCrmServer(token=TOKEN, seed=11, deals=300) as crm:
        yield crm


def point_at(monkeypatch: pytest.MonkeyPatch, crm, data_dir: Path, timezone: str = "UTC"):
    monkeypatch.setenv("HUBSPOT_BASE_URL", crm.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("CRM_KPI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CRM_KPI_TIMEZONE", timezone)
    # The demo CRM enforces no request limit; HubSpot's 100 per 10 s would make a first sync of
    # the demo take half a minute of waiting.
    monkeypatch.setenv("CRM_KPI_RATE_LIMIT", "5000")
    monkeypatch.setenv("CRM_KPI_SEARCH_RATE_LIMIT", "100")


@dataclass(frozen=True)
class QuotaPlan:
    """The published run's quotas file and the edge cases it holds."""

    path: Path
    amounts: dict[tuple[str, str], float]  # (email as written, quarter) -> quota
    met: str  # owner who won exactly their quota last quarter: nothing left to cover
    ordinary: str  # a quota this quarter
    upper_case: str  # a quota this quarter, written with the email in capitals
    zero: str  # a quota of 0 this quarter
    without: str  # an active rep without a quota
    this_quarter: str
    last_quarter: str


def write_quotas(crm, path: Path, timezone: str) -> QuotaPlan:
    """A quotas file covering the edge cases of quota matching and attainment: see QuotaPlan.

    Also a quota for the rep who left (last quarter) and one for an email no owner has.
    """
    now, last = quarter(crm.now, timezone), quarter(crm.now - timedelta(days=92), timezone)
    won = rep_quarterly(crm.objects, crm.owners, crm.pipelines, {}, timezone)
    active = sorted(
        (o for o in crm.owners if not o["archived"]),
        key=lambda o: (-won.get((o["id"], last), {}).get("won_amount", 0), o["id"]),
    )
    leaver = next(o for o in crm.owners if o["archived"])
    rows = [
        (active[0]["email"], last, won[active[0]["id"], last]["won_amount"]),
        (active[1]["email"], now, 2_500_000.0),  # more than they will win: pipeline to cover
        (active[2]["email"].upper(), now, 180000.5),
        (active[3]["email"], now, 0.0),
        (leaver["email"], last, 90000.0),
        ("nobody@example.com", now, 50000.0),
    ]
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["owner_email", "quarter", "quota_amount"])
        writer.writerows(rows)
    return QuotaPlan(
        path,
        {(email, period): amount for email, period, amount in rows},
        *(o["id"] for o in active[:5]),
        this_quarter=now,
        last_quarter=last,
    )


def plant_forgotten_deal(crm) -> str:
    """An open deal nobody has worked on, past its close date: stalled and overdue for sure.

    Returns its owner.
    """
    rep = next(o["id"] for o in crm.owners if not o["archived"])
    opened = crm.now - timedelta(days=20)
    crm.create(
        "deals",
        {
            "dealname": "Forgotten deal",
            "amount": "777",
            "dealstage": "qualifiedtobuy",
            "pipeline": "default",
            "closedate": (crm.now - timedelta(days=3)).isoformat(),
            "hubspot_owner_id": rep,
            "hs_is_closed": "false",
            "hs_date_entered_qualifiedtobuy": opened.isoformat(),
        },
        at=opened,
    )
    return rep


@dataclass(frozen=True)
class PublishedRun:
    outcome: RunOutcome  # of the second run
    data_dir: Path
    crm: object  # the demo CRM's records as they are now (DemoCrm)
    day_one: datetime  # the first run's CRM_KPI_AS_OF
    day_one_deals: list[dict]  # the deals as the first run saw them
    quotas: QuotaPlan
    forgotten_deal_owner: str


@pytest.fixture(scope="session")
def published_run(demo_crm, tmp_path_factory) -> PublishedRun:
    """Two runs a week apart on the session's demo CRM, shared by the tests that read the output.

    Reported in Europe/Berlin, so that the time-zone handling is exercised end to end, with
    CRM_KPI_AS_OF pinned to the CRM's clock. Between the runs the CRM sells for a week (5% of
    records change), gains a forgotten deal, and a quotas file appears. The second run is a full
    refresh: the week's changes are dated before the wall clock, where an incremental sync's
    search would start. tests/test_regression.py compares what it publishes with tests/golden/.
    """
    crm = demo_crm.crm
    data_dir = tmp_path_factory.mktemp("published")
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(monkeypatch, demo_crm, data_dir, timezone=PUBLISHED_TIMEZONE)
        day_one = crm.now
        monkeypatch.setenv("CRM_KPI_AS_OF", day_one.isoformat())
        first = run_pipeline(load_settings())
        assert first.exit_code == ExitCode.PUBLISHED, first.reason
        day_one_deals = copy.deepcopy(crm.objects["deals"])

        simulate_day(crm, day_one + timedelta(days=7), change_share=0.05)
        forgotten_deal_owner = plant_forgotten_deal(crm)
        quotas = write_quotas(crm, data_dir.parent / "quotas.csv", PUBLISHED_TIMEZONE)
        monkeypatch.setenv("CRM_KPI_QUOTAS", str(quotas.path))
        monkeypatch.setenv("CRM_KPI_AS_OF", crm.now.isoformat())
        outcome = run_pipeline(load_settings(), full_refresh=True)
        assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    return PublishedRun(
        outcome, data_dir, crm, day_one, day_one_deals, quotas, forgotten_deal_owner
    )


@pytest.fixture(scope="session")
def small_warehouse(tmp_path_factory) -> Path:
    """A data directory holding a small CRM synced and built (raw, staging, contract,
    intermediate, marts, quality models) through the Dagster assets, and a kpi.duckdb published
    from it; no checks ran. Real rows for every quality suite and dbt test, in seconds.

    Copy the warehouse before changing it: other tests read it.
    """
    from dagster import materialize

    from pipelines.crm_sources import CRM_SOURCES
    from pipelines.dbt_assets import dbt_cli, kpi_models_for
    from pipelines.publish import publish_marts
    from pipelines.sync_assets import crm_sync_asset

    data_dir = tmp_path_factory.mktemp("small")
    with (
        DemoCrmServer(token=TOKEN, seed=3, deals=80, activity_scale=0.3) as crm,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        point_at(monkeypatch, crm, data_dir, timezone=PUBLISHED_TIMEZONE)
        result = materialize(
            [crm_sync_asset(CRM_SOURCES["hubspot"]), kpi_models_for("hubspot")],
            resources={"dbt": dbt_cli},
        )
        assert result.success
        settings = load_settings()
        publish_marts(settings.warehouse_path, settings.published_path)
    return data_dir
