"""Spark as the warehouse, end to end (`make test-spark`, on the cluster it starts): the demo CRM
over real HTTP -> Dagster sync into Parquet files read as Spark tables -> dbt on the Spark Thrift
Server -> GX checks computed by Spark -> views in the published database and kpi.duckdb.

The shared runs (module fixture `runs`), one generated store with a malformed and an absurd deal
amount, served as a HubSpot portal and as a Salesforce org, all with CRM_KPI_AS_OF at the store's
clock:
1) each CRM on DuckDB, Postgres and Spark, side by side;
2) while a BI reader queries the published database in a loop: a day of selling, then on
   HubSpot's Spark warehouse an incremental run and a run that a blocking check stops;
3) a full run of the day-two store into fresh Spark databases.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest

from demo_crm import DemoCrmServer, generate_demo_data, simulate_day
from demo_crm.salesforce.server import DemoSalesforceServer
from pipelines.runner import ExitCode, RunOutcome
from pipelines.warehouse import SparkError, SparkWarehouse

from .conftest import TOKEN
from .sync_process import kill_mid_sync, sync_env
from .test_postgres_warehouse import (
    LENIENT,
    MARTS,
    READER_ROLE,
    WATCHED,
    assert_same_rows,
    database,
    on_postgres,
    plant_absurd_deal,
    published_file,
    run_here,
)
from .test_salesforce_pipeline import (
    CONFIG_PREFIXES,
    SECRET,
    hubspot_env,
    run_side_by_side,
    salesforce_env,
    start_of_store,
)
from .test_sync import crm_versions

pytestmark = [pytest.mark.spark, pytest.mark.pipeline]

ROOT = Path(__file__).resolve().parent.parent
THRIFT = os.environ.get("CRM_KPI_SPARK_THRIFT", "127.0.0.1:10000")
# Databases of this session's own: the cluster's metastore outlives a test session.
SESSION = f"t{uuid.uuid4().hex[:6]}_"
# A run on Spark took 141 s at load 8 on 2 cores (DuckDB's 47 s): dbt's ~70 nodes cost a second
# or two each there, whatever the data.
SPARK_RUN_SECONDS = 600


def on_spark(prefix: str) -> dict[str, str]:
    return LENIENT | {
        "CRM_KPI_WAREHOUSE": "spark",
        "CRM_KPI_SPARK_THRIFT": THRIFT,
        "CRM_KPI_SPARK_DATABASE_PREFIX": f"{SESSION}{prefix}_",
        "CRM_KPI_SPARK_PUBLISHED_DATABASE": f"{SESSION}{prefix}_kpi",
    }


def spark_cursor():
    from pyhive import hive

    host, port = THRIFT.rsplit(":", 1)
    return hive.connect(host=host, port=int(port)).cursor()


def published(prefix: str, table: str) -> tuple[list[str], list[tuple]]:
    """A published table as a BI tool reads it through the Thrift Server, in DuckDB's terms:
    instants in UTC (the session's zone), lists as lists (PyHive hands them over as JSON)."""
    cursor = spark_cursor()
    cursor.execute("set spark.sql.session.timeZone = UTC")
    cursor.execute(f"select * from {SESSION}{prefix}_kpi.{table}")
    kinds = [d[1] for d in cursor.description]

    def value(v, kind):
        if v is not None and kind == "ARRAY_TYPE":
            return json.loads(v)
        return v.replace(tzinfo=UTC) if isinstance(v, datetime) else v

    rows = [tuple(value(v, k) for v, k in zip(r, kinds, strict=True)) for r in cursor.fetchall()]
    return [d[0] for d in cursor.description], rows


def plant_malformed_amount(store, other_than: str) -> str:
    """A HubSpot deal whose amount is no number: quarantined, never read as null (Spark's casts
    turn bad text into null silently with ANSI mode off, Spark 3's default). Salesforce's
    Amount is a number: its API serves that deal's as null."""
    deal = next(
        d
        for d in store.live("deals")
        if d["properties"].get("hubspot_owner_id")
        and d["properties"].get("amount")
        and d["id"] != other_than
    )
    store.update(
        "deals",
        deal["id"],
        {"amount": "12,5k", "amount_in_home_currency": "12,5k"},
        at=store.now - timedelta(minutes=1),
    )
    return deal["id"]


@dataclass
class Observations:
    seen: list[tuple]  # (run_id, rows of each WATCHED table)
    errors: list[str]


@dataclass(frozen=True)
class Runs:
    root: Path
    malformed_deal: str
    incremental: RunOutcome
    blocked: RunOutcome
    before_block: dict
    after_block: dict
    file_before_block: bytes
    file_after_block: bytes
    observations: Observations
    publication_rows: list[dict]  # rows per table of each publication the reader could see


def watch(prefix: str, stop: threading.Event, observations: Observations) -> None:
    """A BI tool's loop over the published database: which publication, and each table's rows."""
    kpi = f"{SESSION}{prefix}_kpi"
    counts = ", ".join(f"(select count(*) from {kpi}.{t})" for t in WATCHED)
    query = f"select (select max_by(run_id, published_at) from {kpi}.kpi_publication), {counts}"
    cursor = spark_cursor()
    while not stop.is_set():
        try:
            cursor.execute(query)
            observations.seen.append(tuple(cursor.fetchone()))
        except Exception as exc:
            observations.errors.append(str(exc)[:500])
        time.sleep(0.2)


def snapshot(prefix: str) -> dict:
    return {t: published(prefix, t) for t in [*MARTS, "kpi_publication"]}


def file_rows(path: Path) -> dict:
    return {t: published_file(path, t)[1] for t in WATCHED}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, postgres_url) -> Runs:
    root = tmp_path_factory.mktemp("spark_e2e")
    with psycopg2.connect(postgres_url) as con:  # on_postgres grants it the published schema
        con.cursor().execute(
            f"do $$ begin create role {READER_ROLE}; exception when duplicate_object then null; "
            "end $$"
        )
    store = generate_demo_data(seed=5, now=start_of_store(), deals=60, activity_scale=0.2)
    malformed_deal = plant_malformed_amount(store, other_than=plant_absurd_deal(store))
    with (
        DemoSalesforceServer(crm=store, client_secret=SECRET) as org,
        DemoCrmServer(crm=store, token=TOKEN) as hubspot,
    ):
        as_of = store.now
        run_side_by_side(
            (hubspot_env(hubspot, root / "hubspot_duckdb", as_of) | LENIENT, []),
            (
                hubspot_env(hubspot, root / "hubspot_postgres", as_of)
                | on_postgres(database(postgres_url, "spark_suite_hubspot")),
                [],
            ),
            (hubspot_env(hubspot, root / "hubspot_spark", as_of) | on_spark("hs"), []),
            timeout=SPARK_RUN_SECONDS,
        )
        run_side_by_side(
            (salesforce_env(org, root / "salesforce_duckdb", as_of) | LENIENT, []),
            (
                salesforce_env(org, root / "salesforce_postgres", as_of)
                | on_postgres(database(postgres_url, "spark_suite_salesforce")),
                [],
            ),
            (salesforce_env(org, root / "salesforce_spark", as_of) | on_spark("sf"), []),
            timeout=SPARK_RUN_SECONDS,
        )
        day_one = {t: published("hs", t)[1] for t in WATCHED}
        shutil.copy(root / "hubspot_spark" / "kpi.duckdb", root / "hubspot_spark_day_one.duckdb")

        observations = Observations([], [])
        stop = threading.Event()
        reader = threading.Thread(target=watch, args=("hs", stop, observations))
        reader.start()
        try:
            simulate_day(store, store.now + timedelta(seconds=60), change_share=0.05)
            env = hubspot_env(hubspot, root / "hubspot_spark", store.now) | on_spark("hs")
            incremental = run_here(env)
            before_block = snapshot("hs")
            file_before = (root / "hubspot_spark" / "kpi.duckdb").read_bytes()
            # Every deal above 1 is "absurd": the quarantine share check blocks the run.
            blocked = run_here(env | {"CRM_KPI_MAX_DEAL_AMOUNT": "1"})
            after_block = snapshot("hs")
            file_after = (root / "hubspot_spark" / "kpi.duckdb").read_bytes()
        finally:
            stop.set()
            reader.join()
        # Day two's full run into fresh databases.
        run_side_by_side(
            (hubspot_env(hubspot, root / "hubspot_spark_full", store.now) | on_spark("full"), []),
            timeout=SPARK_RUN_SECONDS,
        )
    publications = [
        {t: len(rows) for t, rows in day_one.items()},
        {t: incremental.published_rows[t] for t in WATCHED},
    ]
    yield Runs(
        root,
        malformed_deal,
        incremental,
        blocked,
        before_block,
        after_block,
        file_before,
        file_after,
        observations,
        publications,
    )
    cursor = spark_cursor()
    cursor.execute(f"show databases like '{SESSION}*'")
    for (name,) in cursor.fetchall():
        cursor.execute(f"drop database {name} cascade")


@pytest.mark.parametrize("crm", ["hubspot", "salesforce"])
@pytest.mark.parametrize("table", MARTS)
def test_duckdb_postgres_and_spark_publish_the_same_rows(runs, crm, table):
    duckdb_rows = published_file(runs.root / f"{crm}_duckdb" / "kpi.duckdb", table)
    assert duckdb_rows[1], f"{table} is empty: the comparison would prove nothing"
    assert_same_rows(
        duckdb_rows, published_file(runs.root / f"{crm}_postgres" / "kpi.duckdb", table), table
    )
    # kpi.duckdb as written from Spark's publication of day one.
    spark_file = runs.root / (
        "hubspot_spark_day_one.duckdb" if crm == "hubspot" else "salesforce_spark/kpi.duckdb"
    )
    assert_same_rows(duckdb_rows, published_file(spark_file, table), f"{crm} {table} file")
    if crm == "salesforce":  # HubSpot's Spark warehouse has moved on to day two since
        assert_same_rows(duckdb_rows, published("sf", table), f"{crm} {table} on Spark")


def test_a_malformed_amount_is_quarantined_on_spark_as_on_duckdb(runs):
    def issues_of_the_deal(rows: list[tuple]) -> list[tuple]:
        return sorted(r for r in rows if runs.malformed_deal in r)

    day_one = runs.root / "hubspot_duckdb" / "kpi.duckdb"
    on_duckdb = issues_of_the_deal(published_file(day_one, "kpi_data_issues")[1])
    assert on_duckdb and all("amount_not_a_number" in row for row in on_duckdb), on_duckdb
    # Spark's day-one publication, as kpi.duckdb holds it (the parity test compares it whole).
    spark_day_one = runs.root / "hubspot_spark_day_one.duckdb"
    assert issues_of_the_deal(published_file(spark_day_one, "kpi_data_issues")[1]) == on_duckdb


def test_incremental_after_a_day_of_selling_equals_a_full_run_on_spark(runs):
    assert "incremental" in runs.incremental.modes.values()
    for table in MARTS:
        assert_same_rows(published("hs", table), published("full", table), table)


def test_a_blocked_run_leaves_the_published_database_as_it_was(runs):
    assert runs.blocked.exit_code == ExitCode.CHECK_FAILED, runs.blocked.reason
    assert runs.after_block == runs.before_block
    assert runs.file_after_block == runs.file_before_block


def test_a_reader_in_a_loop_sees_only_complete_tables_and_no_error(runs):
    observations = runs.observations
    assert not observations.errors, observations.errors[:3]
    assert len(observations.seen) > 10 and len({row[0] for row in observations.seen}) >= 2
    for _, *counts in observations.seen:
        # A table switches whole; the tables of one statement may be of two publications.
        for table, count in zip(WATCHED, counts, strict=True):
            assert count in {rows[table] for rows in runs.publication_rows}, (table, count)


def test_kill_9_of_a_sync_writing_spark_loses_and_duplicates_nothing(fresh_crm, tmp_path):
    env = sync_env(fresh_crm, tmp_path, **on_spark("killed"))
    command = [str(ROOT / "tests" / "sync_process.py")]
    kill_mid_sync(fresh_crm, command, env, tmp_path, 150)

    subprocess.run([sys.executable, *command], env=env, cwd=tmp_path, check=True, timeout=300)

    cursor = spark_cursor()
    stored = {}
    for name in crm_versions(fresh_crm):
        cursor.execute(
            f"select id, archived, get_json_object(record, '$.updatedAt') "
            f"from {SESSION}killed_raw.{name}"
        )
        rows = cursor.fetchall()
        assert len(rows) == len({r[0] for r in rows}), f"{name}: a record stored twice"
        stored[name] = {r[0]: (r[1], r[2]) for r in rows}
    assert stored == crm_versions(fresh_crm)


def test_an_unreachable_thrift_server_is_one_clear_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run"],
        env=env
        | on_spark("unreachable")
        | {
            "PYTHONPATH": str(ROOT),
            "CRM_KPI_DATA_DIR": str(tmp_path),
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "CRM_KPI_SPARK_THRIFT": "127.0.0.1:9",  # nothing listens there
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "crm-kpi: cannot connect to the Spark Thrift Server at 127.0.0.1:9 (CRM_KPI_SPARK_THRIFT): "
        "Could not connect to any of [('127.0.0.1', 9)]"
    ]


def dbt_show(tmp_path: Path, warehouse: str, select: str) -> subprocess.CompletedProcess:
    """`dbt show --inline select` through the project's profile for `warehouse`."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    host, port = THRIFT.rsplit(":", 1)
    return subprocess.run(
        [dbt, "--quiet", "show", "--output", "json", "--inline", select, "--profiles-dir", "."]
        + ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        env=os.environ
        | {"CRM_KPI_WAREHOUSE": warehouse, "CRM_KPI_DATA_DIR": str(tmp_path)}
        | {"CRM_KPI_SPARK_HOST": host, "CRM_KPI_SPARK_PORT": port},
        cwd=ROOT / "dbt_project",
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("warehouse", ["duckdb", "spark"])
def test_strict_cast_is_an_error_on_crm_text_that_is_no_value_not_a_null(tmp_path, warehouse):
    # With ANSI mode off (Spark 3's default) cast('abc' as bigint) is a silent null: the staging
    # models' casts of CRM text (call durations, stage orders, flags) fail whatever the mode.
    good = dbt_show(
        tmp_path,
        warehouse,
        "select {{ strict_cast(\"'42'\", 'bigint') }} as duration,"
        " {{ strict_cast('cast(null as varchar(8))', 'bigint') }} as missing,"
        " {{ strict_cast(\"'false'\", 'boolean') }} as is_closed",
    )
    assert good.returncode == 0, good.stdout
    assert json.loads(good.stdout)["show"] == [
        {"duration": 42, "missing": None, "is_closed": False}
    ]

    bad = dbt_show(tmp_path, warehouse, "select {{ strict_cast(\"'12 min'\", 'bigint') }} as d")
    assert bad.returncode != 0, bad.stdout
    assert "Could not convert" in bad.stdout and "'12 min'" in bad.stdout, bad.stdout


def test_sessions_are_in_utc_and_ansi_mode_whatever_the_servers_defaults(tmp_path):
    # The test cluster defaults to America/New_York and ANSI off (tests/spark_cluster.py).
    probe = "select current_timezone(), cast('no number' as int)"
    server = spark_cursor()
    server.execute(probe)
    assert server.fetchall() == [("America/New_York", None)]

    pipeline = SparkWarehouse(THRIFT, f"{SESSION}session_", tmp_path)
    try:
        with pytest.raises(SparkError, match="CAST_INVALID_INPUT"):
            pipeline.execute(probe)
        assert pipeline.execute("select current_timezone()").fetchall() == [("UTC",)]
    finally:
        pipeline.close()

    shown = dbt_show(tmp_path, "spark", "select current_timezone() as zone")
    assert json.loads(shown.stdout)["show"] == [{"zone": "UTC"}], shown.stdout
    overflow = dbt_show(tmp_path, "spark", "select cast(2147483647 as int) + 1 as n")
    assert overflow.returncode != 0 and "ARITHMETIC_OVERFLOW" in overflow.stdout, overflow.stdout
