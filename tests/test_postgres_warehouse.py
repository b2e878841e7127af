"""Postgres as the warehouse, end to end: the demo CRM over real HTTP -> Dagster sync into
Postgres -> dbt on Postgres -> GX checks computed by Postgres -> the `kpi` schema and kpi.duckdb.

The shared runs (module fixture `runs`), one generated store served as a HubSpot portal and as a
Salesforce org, all with CRM_KPI_AS_OF at the store's clock, in a throwaway Postgres cluster
(conftest.postgres_url):
1) each CRM on DuckDB and on Postgres, side by side (a database per CRM);
2) while a BI reader queries `kpi` in a loop and another holds a transaction open: a day of
   selling, then on HubSpot's Postgres warehouse an incremental run, a run that a blocking check
   stops, and another incremental run;
3) a full run of the day-two store into a fresh Postgres database.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import duckdb
import psycopg2
import pytest

from demo_crm import DemoCrmServer, generate_demo_data, simulate_day
from demo_crm.salesforce.server import DemoSalesforceServer
from pipelines.runner import ExitCode, RunOutcome, run_pipeline
from pipelines.settings import load_settings

from . import postgres_cluster
from .conftest import TOKEN
from .kpi_oracle import rep_weekly
from .sync_process import kill_mid_sync, sync_env
from .test_pipeline import assert_rep_weekly_published
from .test_salesforce_pipeline import (
    CONFIG_PREFIXES,
    SECRET,
    hubspot_env,
    run_side_by_side,
    salesforce_env,
    start_of_store,
)
from .test_sync import crm_versions

pytestmark = pytest.mark.pipeline

ROOT = Path(__file__).resolve().parent.parent
MARTS = sorted(p.stem for p in (ROOT / "dbt_project" / "models" / "marts").glob("*.sql"))
READER_ROLE = "bi_reader"
WATCHED = ("kpi_rep_weekly", "kpi_pipeline_daily", "kpi_open_pipeline")


def database(server_url: str, name: str) -> str:
    """A new database on the test cluster; its URL."""
    con = psycopg2.connect(server_url)
    try:
        con.autocommit = True
        con.cursor().execute(f"create database {name}")
    finally:
        con.close()
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


# The planted absurd deal is 1 of 100: let the quarantine share stay under the blocking line.
LENIENT = {"CRM_KPI_MAX_QUARANTINE_SHARE": "0.05"}


def on_postgres(url: str) -> dict[str, str]:
    return LENIENT | {
        "CRM_KPI_WAREHOUSE": "postgres",
        "CRM_KPI_POSTGRES_URL": url,
        "CRM_KPI_POSTGRES_READER_ROLE": READER_ROLE,
    }


def run_here(env: dict[str, str]) -> RunOutcome:
    """One run in this process, in exactly `env`."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith(CONFIG_PREFIXES)]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        return run_pipeline(load_settings())


def published(url: str, table: str, schema: str = "kpi") -> tuple[list[str], list[tuple]]:
    with psycopg2.connect(url) as con:
        cursor = con.cursor()
        cursor.execute(f"select * from {schema}.{table}")
        return [d.name for d in cursor.description], cursor.fetchall()


def published_file(path: Path, table: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(f"select * from {table}")
        return [d[0] for d in cursor.description], cursor.fetchall()


def normal(value):
    """A value as both engines agree on it: numbers as floats, instants in UTC."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return tuple(normal(v) for v in value)
    return str(value)


def assert_same_rows(left: tuple[list, list], right: tuple[list, list], what: str) -> None:
    """The same columns and rows; numbers to the cent (ratios to a millionth)."""
    (left_columns, left_rows), (right_columns, right_rows) = left, right
    assert left_columns == right_columns, what
    assert len(left_rows) == len(right_rows), what

    def key(row):
        return tuple(
            (0, round(v, 2)) if isinstance(v, float) else (1, "") if v is None else (2, str(v))
            for v in row
        )

    ordered = [
        sorted((tuple(normal(v) for v in r) for r in rows), key=key)
        for rows in (left_rows, right_rows)
    ]
    for a, b in zip(*ordered, strict=True):
        for column, x, y in zip(left_columns, a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert abs(x - y) <= max(0.005, 1e-6 * abs(x)), (what, column, a, b)
            else:
                assert x == y, (what, column, a, b)


@dataclass
class Observations:
    """What a BI reader saw, one statement at a time, during the runs."""

    seen: list[tuple] = None  # (run_id, rows of each WATCHED table)
    errors: list[str] = None


@dataclass(frozen=True)
class Runs:
    root: Path
    store: object
    hubspot_url: str  # the HubSpot Postgres database
    salesforce_url: str
    full_url: str  # day two's full run
    day_one_view_rows: int
    incremental: RunOutcome
    blocked: RunOutcome
    last: RunOutcome
    before_block: dict  # table -> rows, as published before the blocked run
    after_block: dict
    file_before_block: bytes
    file_after_block: bytes
    observations: Observations
    held_open_saw: tuple[int, int]  # the open transaction's rows of kpi_rep_weekly, first/last
    publication_rows: dict  # run id -> rows per table it published
    absurd_deal: str  # quarantined: in no KPI


def watch(url: str, stop: threading.Event, observations: Observations) -> None:
    """A BI tool's loop: which publication, and how many rows in each table, in one statement."""
    counts = ", ".join(f"(select count(*) from kpi.{t})" for t in WATCHED)
    query = (
        "select (select run_id from kpi.kpi_publication order by published_at desc limit 1), "
        + counts
    )
    con = psycopg2.connect(url)
    con.autocommit = True
    try:
        while not stop.is_set():
            try:
                cursor = con.cursor()
                cursor.execute(query)
                observations.seen.append(cursor.fetchone())
            except psycopg2.Error as exc:
                observations.errors.append(str(exc))
            time.sleep(0.02)
    finally:
        con.close()


def plant_absurd_deal(store) -> str:
    """A deal of 5 billion in the company currency: quarantined by both engines alike, so
    kpi_data_issues has a row to compare."""
    deal = next(
        d
        for d in store.live("deals")
        if d["properties"].get("hubspot_owner_id")
        and d["properties"].get("deal_currency_code") in (None, "USD")
    )
    store.update(
        "deals",
        deal["id"],
        {"amount": "5000000000", "amount_in_home_currency": "5000000000"},
        at=store.now - timedelta(minutes=1),
    )
    return deal["id"]


def snapshot(url: str) -> dict:
    return {t: published(url, t) for t in [*MARTS, "kpi_publication"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, postgres_url) -> Runs:
    root = tmp_path_factory.mktemp("postgres_e2e")
    store = generate_demo_data(seed=5, now=start_of_store(), deals=100, activity_scale=0.3)
    absurd_deal = plant_absurd_deal(store)
    hubspot_url = database(postgres_url, "hubspot_kpis")
    salesforce_url = database(postgres_url, "salesforce_kpis")
    full_url = database(postgres_url, "hubspot_full")
    with psycopg2.connect(postgres_url) as con:
        con.cursor().execute(f"create role {READER_ROLE}")
    with (
        DemoSalesforceServer(crm=store, client_secret=SECRET) as org,
        DemoCrmServer(crm=store, token=TOKEN) as hubspot,
    ):
        as_of = store.now
        run_side_by_side(
            (hubspot_env(hubspot, root / "hubspot_duckdb", as_of) | LENIENT, []),
            (hubspot_env(hubspot, root / "hubspot_postgres", as_of) | on_postgres(hubspot_url), []),
        )
        run_side_by_side(
            (salesforce_env(org, root / "salesforce_duckdb", as_of) | LENIENT, []),
            (
                salesforce_env(org, root / "salesforce_postgres", as_of)
                | on_postgres(salesforce_url),
                [],
            ),
        )
        shutil.copy(root / "hubspot_postgres" / "kpi.duckdb", root / "day_one.duckdb")
        shutil.copy(root / "hubspot_duckdb" / "kpi.duckdb", root / "day_one_duckdb.duckdb")

        # What BI teams attach to the published tables: a view, and the reader's grants on it.
        with psycopg2.connect(hubspot_url) as con:
            cursor = con.cursor()
            cursor.execute(
                "create view kpi.won_by_rep as select owner_id, sum(won_amount) as won "
                "from kpi.kpi_rep_weekly group by owner_id"
            )
            cursor.execute(f"grant select on kpi.won_by_rep to {READER_ROLE}")
            cursor.execute("select count(*) from kpi.won_by_rep")
            (day_one_view_rows,) = cursor.fetchone()

        observations = Observations([], [])
        stop = threading.Event()
        reader = threading.Thread(target=watch, args=(hubspot_url, stop, observations))
        held_open = psycopg2.connect(hubspot_url)  # a BI session with a transaction left open
        held_open.set_session(isolation_level="REPEATABLE READ")
        held = held_open.cursor()
        held.execute("select count(*) from kpi.kpi_rep_weekly")
        (held_first,) = held.fetchone()
        reader.start()
        try:
            simulate_day(store, store.now + timedelta(seconds=60), change_share=0.05)
            env = hubspot_env(hubspot, root / "hubspot_postgres", store.now) | on_postgres(
                hubspot_url
            )
            incremental = run_here(env)
            before_block = snapshot(hubspot_url)
            file_before = (root / "hubspot_postgres" / "kpi.duckdb").read_bytes()
            # Every deal above 1 is "absurd": the quarantine share check blocks the run.
            blocked = run_here(env | {"CRM_KPI_MAX_DEAL_AMOUNT": "1"})
            after_block = snapshot(hubspot_url)
            file_after = (root / "hubspot_postgres" / "kpi.duckdb").read_bytes()
            # Day two's full run into a fresh database, on the other core meanwhile.
            full_env = hubspot_env(hubspot, root / "hubspot_full", store.now)
            full = threading.Thread(
                target=run_side_by_side, args=((full_env | on_postgres(full_url), []),)
            )
            full.start()
            last = run_here(env)
            full.join()
        finally:
            stop.set()
            reader.join()
        held.execute("select count(*) from kpi.kpi_rep_weekly")
        (held_last,) = held.fetchone()
        held_open.close()
    publication_rows = {
        outcome.dagster_result.run_id: outcome.published_rows
        for outcome in (incremental, last)
        if outcome.dagster_result is not None
    }
    return Runs(
        root,
        store,
        hubspot_url,
        salesforce_url,
        full_url,
        day_one_view_rows,
        incremental,
        blocked,
        last,
        before_block,
        after_block,
        file_before,
        file_after,
        observations,
        (held_first, held_last),
        publication_rows,
        absurd_deal,
    )


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
@pytest.mark.parametrize("table", MARTS)
def test_postgres_publishes_the_rows_duckdb_publishes(runs, crm, table):
    duckdb_file = runs.root / (
        "day_one_duckdb.duckdb" if crm == "hubspot" else f"{crm}_duckdb/kpi.duckdb"
    )
    postgres_file = runs.root / (
        "day_one.duckdb" if crm == "hubspot" else f"{crm}_postgres/kpi.duckdb"
    )
    duckdb_rows = published_file(duckdb_file, table)
    assert duckdb_rows[1], f"{table} is empty: the comparison would prove nothing"
    # kpi.duckdb written from the Postgres publication holds the same rows as DuckDB's own.
    assert_same_rows(duckdb_rows, published_file(postgres_file, table), f"{crm} {table} file")
    if crm == "salesforce":  # HubSpot's kpi schema has moved on to day two since
        assert_same_rows(duckdb_rows, published(runs.salesforce_url, table), f"{crm} {table}")


def test_the_kpi_schema_and_kpi_duckdb_hold_the_same_publication(runs):
    for table in [*MARTS, "kpi_publication"]:
        assert_same_rows(
            published(runs.hubspot_url, table),
            published_file(runs.root / "hubspot_postgres" / "kpi.duckdb", table),
            table,
        )


def test_kpis_on_postgres_equal_kpis_computed_from_the_crm(runs):
    assert runs.last.exit_code == ExitCode.PUBLISHED, runs.last.reason
    store = runs.store
    # The absurd deal is quarantined: it counts in no KPI (its activities still do).
    objects = store.objects | {
        "deals": [d for d in store.objects["deals"] if d["id"] != runs.absurd_deal]
    }
    expected = rep_weekly(objects, store.owners, store.pipelines, "UTC")
    assert_rep_weekly_published(runs.root / "hubspot_postgres", expected)


def test_incremental_after_a_day_of_selling_equals_a_full_run(runs):
    assert runs.incremental.exit_code == ExitCode.PUBLISHED, runs.incremental.reason
    assert "incremental" in runs.incremental.modes.values()
    for table in MARTS:
        assert_same_rows(published(runs.hubspot_url, table), published(runs.full_url, table), table)


def test_a_blocked_run_leaves_the_published_schema_as_it_was(runs):
    assert runs.blocked.exit_code == ExitCode.CHECK_FAILED, runs.blocked.reason
    assert runs.after_block == runs.before_block
    assert runs.file_after_block == runs.file_before_block


def test_grants_and_views_on_the_published_tables_survive_publications(runs):
    with psycopg2.connect(runs.hubspot_url) as con:
        cursor = con.cursor()
        cursor.execute(f"set role {READER_ROLE}")
        cursor.execute("select count(*), sum(won) from kpi.won_by_rep")
        view_rows, view_won = cursor.fetchone()
        cursor.execute("select count(distinct owner_id), sum(won_amount) from kpi.kpi_rep_weekly")
        table_owners, table_won = cursor.fetchone()
        cursor.execute("select count(*) from kpi.kpi_publication")
        (publications,) = cursor.fetchone()
    assert publications == 3  # day one, the incremental run, the last run (not the blocked one)
    assert view_rows == table_owners >= runs.day_one_view_rows > 0
    assert view_won == table_won


def test_a_reader_in_a_loop_sees_only_complete_publications_and_no_error(runs):
    observations = runs.observations
    assert not observations.errors
    seen_runs = {row[0] for row in observations.seen}
    assert len(observations.seen) > 100 and len(seen_runs) >= 2
    for run_id, *counts in observations.seen:
        rows = runs.publication_rows.get(run_id)
        if rows is not None:  # the day-one publication ran in another process
            assert counts == [rows[t] for t in WATCHED], run_id


def test_a_reader_holding_a_transaction_open_neither_fails_nor_stalls_publication(runs):
    # Both publications during the open transaction went through; the reader kept its snapshot.
    assert runs.last.exit_code == ExitCode.PUBLISHED, runs.last.reason
    first, last = runs.held_open_saw
    assert first == last > 0


def test_the_postgres_password_appears_nowhere_under_the_data_directories(runs):
    password = postgres_cluster.PASSWORD
    forms = {password.encode(), quote(password, safe="").encode()}
    for path in runs.root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(form in content for form in forms), path
    for outcome in (runs.incremental, runs.blocked, runs.last):
        assert password not in outcome.reason


def test_a_wrong_postgres_password_is_one_clear_line_and_exit_2(postgres_url, tmp_path):
    parts = urlsplit(postgres_url)
    wrong = urlunsplit(
        parts._replace(netloc=f"postgres:not-{quote(SECRET)}@{parts.hostname}:{parts.port}")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run"],
        env=env
        | {
            "PYTHONPATH": str(ROOT),
            "CRM_KPI_DATA_DIR": str(tmp_path),
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "CRM_KPI_WAREHOUSE": "postgres",
            "CRM_KPI_POSTGRES_URL": wrong,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "password authentication failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize("kill_after_requests", [40, 200])
def test_kill_9_of_a_sync_writing_postgres_loses_and_duplicates_nothing(
    fresh_crm, tmp_path, postgres_url, kill_after_requests
):
    url = database(postgres_url, f"killed_{kill_after_requests}")
    env = sync_env(fresh_crm, tmp_path, **on_postgres(url))
    command = [str(ROOT / "tests" / "sync_process.py")]
    kill_mid_sync(fresh_crm, command, env, tmp_path, kill_after_requests)

    subprocess.run([sys.executable, *command], env=env, cwd=tmp_path, check=True, timeout=120)

    with psycopg2.connect(url) as con:
        cursor = con.cursor()
        stored = {}
        for name in crm_versions(fresh_crm):
            cursor.execute(f"select id, archived, record ->> 'updatedAt' from crm_kpi_raw.{name}")
            rows = cursor.fetchall()
            assert len(rows) == len({r[0] for r in rows}), f"{name}: a record stored twice"
            stored[name] = {r[0]: (r[1], r[2]) for r in rows}
    assert stored == crm_versions(fresh_crm)


def test_kpi_duckdb_that_cannot_be_written_says_postgres_holds_the_publication(runs, tmp_path):
    from pipelines.publish import PublishedFileError, write_published_file_from
    from pipelines.warehouse import PostgresWarehouse

    blocked = tmp_path / "kpi.duckdb"
    blocked.mkdir()  # a directory where the file goes: the rename into place fails
    wh = PostgresWarehouse(runs.hubspot_url, "crm_kpi_")
    try:
        with pytest.raises(PublishedFileError, match="published to Postgres schema kpi, but"):
            write_published_file_from(wh, "kpi", blocked)
    finally:
        wh.close()
    assert blocked.is_dir() and not list(tmp_path.glob(".kpi.duckdb.*"))  # nothing left behind
