"""Dagster as a service: `crm-kpi run` recorded in a Postgres-backed instance (docs/service/
dagster.yaml), and one run at a time per warehouse, whoever starts it (pipelines/run_lock.py)."""

import shutil
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance

from demo_crm import DemoCrmServer
from pipelines import run_lock
from pipelines.cli import main
from pipelines.definitions import defs
from pipelines.exit_codes import ExitCode
from pipelines.publish import PUBLISHED_KPIS
from pipelines.run_lock import LOCK_FILE, WarehouseBusy, hold_warehouse
from pipelines.runner import run_pipeline
from pipelines.settings import load_settings

from .conftest import TOKEN, point_at
from .postgres_cluster import PASSWORD

SERVICE_YAML = Path(__file__).parent.parent / "docs" / "service" / "dagster.yaml"
SECRET = PASSWORD.split("%")[0]  # in every form: as is, percent-encoded once or twice


@pytest.fixture(scope="module")
def small_crm():
    """Few records: the run's time is Dagster's and dbt's, not the data's."""
    with DemoCrmServer(token=TOKEN, seed=3, deals=60, activity_scale=0.1) as crm:
        yield crm


@pytest.fixture(scope="module")
def service_env(postgres_url, tmp_path_factory) -> dict[str, str]:
    """DAGSTER_HOME with the documented dagster.yaml, on a database of its own."""
    import psycopg2

    con = psycopg2.connect(postgres_url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute("create database dagster_service")
    con.close()
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(SERVICE_YAML, home / "dagster.yaml")
    url = urlsplit(postgres_url)
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.hostname,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USER": unquote(url.username),
        "DAGSTER_PG_PASSWORD": unquote(url.password),
        "DAGSTER_PG_DB": "dagster_service",
    }


@pytest.mark.pipeline
def test_a_cli_run_lands_in_the_service_instance(
    small_crm, service_env, postgres_url, monkeypatch, capfd, tmp_path
):
    # `crm-kpi run` in this process: a subprocess would spend seconds importing Dagster again.
    point_at(monkeypatch, small_crm, tmp_path / "data")
    for name, value in service_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    assert main(["run"]) == ExitCode.PUBLISHED
    said = capfd.readouterr()
    assert "published" in said.out and SECRET not in said.out + said.err

    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert (run.job_name, run.status.value) == ("crm_kpi_run", "SUCCESS")
        evaluations = [
            e.get_dagster_event().event_specific_data
            for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
        checked = {e.asset_check_key.name for e in evaluations}
        assert {"raw_records", "crm_reconciliation", "kpi_rep_weekly"} <= checked
        assert all(e.passed for e in evaluations)
        published = instance.get_latest_materialization_event(PUBLISHED_KPIS)
        assert published.run_id == run.run_id
        report = instance.get_latest_materialization_event(AssetKey(["report", "kpi_report"]))
        assert report.run_id == run.run_id

    # The storage's password is nowhere: not in the runs, their events, the captured logs
    # (under DAGSTER_HOME) nor the data directory.
    import psycopg2

    con = psycopg2.connect(postgres_url.rsplit("/", 1)[0] + "/dagster_service")
    with con.cursor() as cur:
        cur.execute(
            "select (select string_agg(event, '') from event_logs)"
            " || (select string_agg(run_body, '') from runs)"
        )
        stored = cur.fetchone()[0]
    con.close()
    assert "ASSET_CHECK_EVALUATION" in stored and SECRET not in stored
    data_dir = tmp_path / "data"
    for path in [*data_dir.rglob("*"), *Path(service_env["DAGSTER_HOME"]).rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert (data_dir / LOCK_FILE).read_text() == ""  # released


@pytest.mark.pipeline
def test_a_run_waits_for_a_held_warehouse_then_fails_without_touching_it(
    small_crm, monkeypatch, tmp_path
):
    point_at(monkeypatch, small_crm, tmp_path / "data")
    monkeypatch.setattr(run_lock, "WAIT_LIMIT_SECONDS", 2)
    monkeypatch.setattr(run_lock, "POLL_SECONDS", 0.1)
    settings = load_settings()
    instance = DagsterInstance.ephemeral()
    with hold_warehouse(settings, "holding-run-42", "crm_kpi_run", log=print):
        started = time.monotonic()
        outcome = run_pipeline(settings, instance=instance)
        waited = time.monotonic() - started
    assert outcome.exit_code == ExitCode.RUN_FAILED
    assert "the warehouse is busy: run holding-run-42 (crm_kpi_run" in outcome.reason
    assert "gave up after 2 s" in outcome.reason
    assert 2 <= waited < 15
    events = {e.event_type for e in outcome.dagster_result.all_events}
    assert DagsterEventType.STEP_START not in events  # not one step overlapped
    assert not settings.warehouse_path.exists()
    logged = [r.user_message for r in instance.all_logs(outcome.dagster_result.run_id)]
    assert any(m.startswith("waiting for the warehouse: run holding-run-42") for m in logged)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_settings(request, monkeypatch, tmp_path):
    monkeypatch.setenv("CRM_KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_KPI_WAREHOUSE", request.param)
    if request.param == "postgres":
        monkeypatch.setenv("CRM_KPI_POSTGRES_URL", request.getfixturevalue("postgres_url"))
    monkeypatch.setattr(run_lock, "POLL_SECONDS", 0.05)
    return load_settings()


def test_the_lock_names_its_holder_and_passes_to_the_next_run(warehouse_settings, monkeypatch):
    said: list[str] = []
    monkeypatch.setattr(run_lock, "WAIT_LIMIT_SECONDS", 0.5)
    with hold_warehouse(warehouse_settings, "run-one", "crm_kpi_run", log=said.append):
        with (
            pytest.raises(
                WarehouseBusy, match=r"busy: run run-one \(.* pid \d+.*gave up after \d+ s"
            ),
            hold_warehouse(warehouse_settings, "run-two", "crm_kpi_run", log=said.append),
        ):
            pass
        assert said and all("run-one" in line for line in said)
        assert not any(SECRET in line for line in said)

        # A run that waits long enough gets the warehouse once its holder lets go.
        monkeypatch.setattr(run_lock, "WAIT_LIMIT_SECONDS", 30)
        said.clear()
        got = threading.Event()

        def next_run():
            with hold_warehouse(warehouse_settings, "run-three", "crm_kpi_run", said.append):
                got.set()

        waiting = threading.Thread(target=next_run)
        waiting.start()
        time.sleep(0.3)
        assert not got.is_set()
    waiting.join(timeout=10)
    assert got.is_set()
    assert said[0].startswith("waiting for the warehouse: run run-one")
    assert said[-1].startswith("got the warehouse after waiting")


def test_every_step_that_touches_the_warehouse_holds_the_lock():
    from dagster._core.definitions.dependency import NodeHandle

    for name in ("crm_kpi_run", "crm_kpi_full_refresh", "crm_kpi_sync"):
        job = defs.resolve_job_def(name)
        assert run_lock.LOCK_RESOURCE in job.resource_defs
        for node in job.graph.nodes:
            hooks = {h.name for h in job.get_all_hooks_for_handle(NodeHandle(node.name, None))}
            reads_event_log_only = "freshness" in node.name
            assert ("holds_the_warehouse" in hooks) != reads_event_log_only, (name, node.name)
