"""CRM_KPI_EXECUTOR=celery: a real `crm_kpi_run` whose steps run in a real Celery worker on a real
Redis, recorded in a Postgres-backed Dagster instance, with the warehouse on Postgres
(docs/operations.md, "Steps beyond one process").

The run's own process is `dagster job execute`, what a run worker does for a run the daemon
launches: `crm-kpi run` always runs in-process. It holds the warehouse for the whole run
(pipelines/run_lock.py), which a probe trying the lock throughout checks.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from demo_crm import DemoCrmServer
from pipelines import run_lock
from pipelines.definitions import executor_for
from pipelines.run_lock import WarehouseBusy, hold_warehouse
from pipelines.settings import ConfigError, load_settings

from .conftest import TOKEN, point_at
from .postgres_cluster import free_port
from .test_postgres_warehouse import database

DOCS = Path(__file__).parent.parent / "docs" / "service"
BIN = Path(sys.executable).parent  # the venv's: dagster-celery runs `celery` from PATH
WORKER = "crm-kpi-test"
WORKER_READY_SECONDS = 120  # the worker imports the code location (about 6 s idle, 2 cores)
RUN_SECONDS = 300


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A throwaway Redis: no persistence, on a spare port, gone afterwards."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: `make test` installs it (apt-get install)")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    args = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*args, "--dir", str(directory), "--logfile", str(directory / "redis.log")]
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def small_crm():
    with DemoCrmServer(token=TOKEN, seed=3, deals=60, activity_scale=0.1) as crm:
        yield crm


@pytest.fixture
def celery_env(redis_url, postgres_url, small_crm, monkeypatch, tmp_path) -> dict[str, str]:
    """This process's environment and the worker's and the run's alike: the settings, the
    instance (docs/service/dagster.yaml on a database of its own), the broker."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DOCS / "dagster.yaml", home / "dagster.yaml")
    storage = urlsplit(database(postgres_url, "celery_dagster"))
    point_at(monkeypatch, small_crm, tmp_path / "data")
    for name, value in {
        "CRM_KPI_WAREHOUSE": "postgres",
        "CRM_KPI_POSTGRES_URL": database(postgres_url, "celery_warehouse"),
        "CRM_KPI_EXECUTOR": "celery",
        "CRM_KPI_CELERY_BROKER": redis_url,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": storage.hostname,
        "DAGSTER_PG_PORT": str(storage.port),
        "DAGSTER_PG_USER": unquote(storage.username),
        "DAGSTER_PG_PASSWORD": unquote(storage.password),
        "DAGSTER_PG_DB": "celery_dagster",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    return dict(os.environ)


@pytest.fixture
def celery_worker(celery_env, tmp_path):
    """`dagster-celery worker start` as docs/operations.md says; its log, and its process."""
    log = tmp_path / "worker.log"
    started = time.monotonic()
    with log.open("w") as out:
        worker = subprocess.Popen(
            [
                str(BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "dagster_celery.app",
                "-y",
                str(DOCS / "celery.yaml"),
                "-n",
                WORKER,
                "-i",
                "pipelines.definitions",
                "--",
                "--concurrency=2",
            ],
            env=celery_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # dagster-celery and its celery: one group to end
        )
    try:
        while f"{WORKER}@" not in log.read_text() or " ready." not in log.read_text():
            assert worker.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - started < WORKER_READY_SECONDS, log.read_text()[-3000:]
            time.sleep(0.2)
        print(f"celery worker ready after {time.monotonic() - started:.1f} s")
        yield worker, log
    finally:
        os.killpg(worker.pid, 15)  # warm shutdown
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
            worker.wait()


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
        chain.append(pid)
    return chain


@pytest.mark.pipeline
def test_a_run_s_steps_run_in_celery_workers_and_publish(
    celery_env, celery_worker, tmp_path, monkeypatch
):
    worker, worker_log = celery_worker
    settings = load_settings()

    # A probe (another run, say `crm-kpi run`) tries the warehouse throughout: it must never get
    # it between the run's first step and its last, although every step is a process of its own.
    monkeypatch.setattr(run_lock, "WAIT_LIMIT_SECONDS", 0)
    got_it_at: list[float] = []
    done = threading.Event()

    def probe():
        while not done.is_set():
            try:
                with hold_warehouse(settings, "probe", "probe", log=lambda _: None):
                    got_it_at.append(time.time())
            except WarehouseBusy:
                pass
            time.sleep(0.1)

    probing = threading.Thread(target=probe)
    probing.start()
    started = time.monotonic()
    run_log = tmp_path / "run.log"
    try:
        with run_log.open("w") as out:
            run = subprocess.run(
                [str(BIN / "dagster"), "job", "execute", "-m", "pipelines.definitions"]
                + ["-a", "defs", "-j", "crm_kpi_run"],
                env=celery_env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=RUN_SECONDS,
            )
    finally:
        done.set()
        probing.join()
    took = time.monotonic() - started
    print(f"crm_kpi_run through Celery took {took:.1f} s (process start to exit)")
    assert run.returncode == 0, run_log.read_text()[-5000:] + worker_log.read_text()[-3000:]

    with DagsterInstance.get() as instance:
        (dagster_run,) = instance.get_runs()
        assert dagster_run.job_name == "crm_kpi_run"
        assert dagster_run.status == DagsterRunStatus.SUCCESS
        events = instance.all_logs(dagster_run.run_id)
        starts = [e for e in events if e.dagster_event_type == DagsterEventType.STEP_START]
        successes = [e for e in events if e.dagster_event_type == DagsterEventType.STEP_SUCCESS]
        delegated = [
            e
            for e in events
            if e.dagster_event_type == DagsterEventType.ENGINE_EVENT
            and "in celery worker" in e.message
        ]
        step_waits = [
            e.user_message
            for e in events
            if e.step_key and e.message.startswith("waiting for the warehouse")
        ]
    steps = {e.step_key for e in starts}
    assert {"crm_sync", "kpi_models", "published__kpi_file", "report__kpi_report"} <= steps
    assert steps == {e.step_key for e in successes}
    assert {e.step_key for e in delegated} == steps  # every step was a Celery task

    # Every step ran in a process of the worker's pool, none in the run's or this one.
    pids = {e.dagster_event.pid for e in starts}
    for pid in pids:
        assert worker.pid in _ancestors(pid), pid
    assert os.getpid() not in pids
    first, last = min(e.timestamp for e in starts), max(e.timestamp for e in successes)
    print(f"{len(steps)} steps in {len(pids)} worker processes: {last - first:.1f} s")
    began = {e.step_key: e.timestamp for e in starts}
    took_each = sorted((e.timestamp - began[e.step_key], e.step_key) for e in successes)
    print("slowest steps: " + ", ".join(f"{k} {t:.1f} s" for t, k in took_each[-4:]))

    # The run held the warehouse from before its first step to after its last: the probe got
    # it only before or after; and no step waited for the warehouse its run held.
    assert not [t for t in got_it_at if first <= t <= last], (first, last, got_it_at)
    assert not step_waits

    # Published on Postgres, from this run, with its checks.
    import psycopg2

    with psycopg2.connect(settings.postgres_connection_url()) as con, con.cursor() as cur:
        cur.execute(
            "select checks_failed from kpi.kpi_publication where run_id = %s",
            (dagster_run.run_id,),
        )
        assert cur.fetchall() == [(0,)]
        cur.execute("select count(*) from kpi.kpi_rep_weekly")
        assert cur.fetchone()[0] > 0
    con.close()
    assert settings.published_path.is_file() and settings.report_path.is_file()


def test_celery_refuses_a_duckdb_warehouse(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_KPI_WAREHOUSE", "duckdb")
    monkeypatch.setenv("CRM_KPI_EXECUTOR", "celery")
    with pytest.raises(
        ConfigError,
        match=r"CRM_KPI_EXECUTOR=celery needs CRM_KPI_WAREHOUSE=postgres .*DuckDB warehouse "
        r"takes one writing process",
    ):
        executor_for(load_settings())  # what the code location builds its executor with

    monkeypatch.setenv("CRM_KPI_EXECUTOR", "in_process")
    assert executor_for(load_settings()).name == "in_process"


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"])
def test_a_step_goes_ahead_on_the_warehouse_its_own_run_holds(
    warehouse, request, monkeypatch, tmp_path
):
    """What the steps in the workers do: the lock of their run's process is theirs; any other
    run's is not, and a step ending leaves its run holding the warehouse."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CRM_KPI_WAREHOUSE", warehouse)
    if warehouse == "postgres":
        monkeypatch.setenv("CRM_KPI_POSTGRES_URL", request.getfixturevalue("postgres_url"))
    monkeypatch.setattr(run_lock, "WAIT_LIMIT_SECONDS", 0)
    settings = load_settings()
    said: list[str] = []
    with hold_warehouse(settings, "run-a", "crm_kpi_run", log=said.append):
        with hold_warehouse(settings, "run-a", "crm_kpi_run", log=said.append):  # its step
            pass
        with (
            pytest.raises(WarehouseBusy, match="busy: run run-a"),
            hold_warehouse(settings, "run-b", "crm_kpi_run", log=said.append),
        ):
            pass
    assert said == []  # the step neither waited nor said so
    with hold_warehouse(settings, "run-b", "crm_kpi_run", log=said.append):  # free again
        pass
