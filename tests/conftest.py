"""Shared fixtures: a real demo CRM on localhost and an isolated data directory per run."""

from pathlib import Path

import pytest

from pipelines.demo_crm import DemoCrmServer
from pipelines.runner import RunOutcome, run_pipeline
from pipelines.settings import load_settings

TOKEN = "test-token-5f1c9a"  # distinctive, so tests can search for leaks of it


@pytest.fixture(scope="session")
def demo_crm():
    """The demo CRM as the pipeline tests see it; do not mutate it (use `fresh_crm`)."""
    with DemoCrmServer(token=TOKEN, seed=7) as crm:
        yield crm


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


@pytest.fixture(scope="session")
def published_run(demo_crm, tmp_path_factory) -> tuple[RunOutcome, Path]:
    """One full pipeline run on the session's demo CRM, shared by the tests that read its output.

    Reported in Europe/Berlin so that the time-zone handling is exercised end to end.
    """
    data_dir = tmp_path_factory.mktemp("published")
    with pytest.MonkeyPatch.context() as monkeypatch:
        point_at(monkeypatch, demo_crm, data_dir, timezone="Europe/Berlin")
        outcome = run_pipeline(load_settings())
    return outcome, data_dir
