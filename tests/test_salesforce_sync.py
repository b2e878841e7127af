"""The Salesforce client and sync against the demo org over real HTTP: queryAll paging, the
SystemModstamp watermark, deletions and purges, the daily allocation, expired sessions, faults,
a single-currency org, and kill -9 mid-sync."""

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from demo_crm import simulate_day
from demo_crm.salesforce.server import DemoSalesforceServer
from pipelines.crm_http import CrmAuthError
from pipelines.raw_sync import CrmLimitReached
from pipelines.salesforce.client import ApiAllocation, SalesforceClient, SalesforceSession
from pipelines.salesforce.objects import SALESFORCE_OBJECTS
from pipelines.salesforce.sync import count_live_records, sync_salesforce
from pipelines.warehouse import claim_for_crm, connect

from .conftest import DEMO_NOW
from .sync_process import kill_mid_sync

LOOKBACK = timedelta(minutes=15)
SECRET = "sf-secret-8d2e71"  # distinctive, so tests can search for leaks of it
SYNC_PROCESS = Path(__file__).with_name("sync_process.py")
TABLES = {o.name: o.sobject for o in SALESFORCE_OBJECTS}


@pytest.fixture
def org():
    with DemoSalesforceServer(seed=3, deals=60, activity_scale=0.3, client_secret=SECRET) as server:
        yield server


def factory(org, reserve: float = 0.0, session: SalesforceSession | None = None):
    session = session or SalesforceSession(org.url, org.client_id, org.client_secret)
    allocation = ApiAllocation(reserve)
    return lambda: SalesforceClient(session, "65.0", allocation, backoff_s=0.01)


def sync_into(db: Path, org, synced_at: datetime | None = None, **options):
    make_client = options.pop("make_client", None) or factory(org)
    with connect(db) as con:
        claim_for_crm(con, "salesforce")
        return sync_salesforce(
            make_client,
            con,
            list(SALESFORCE_OBJECTS),
            synced_at=synced_at or datetime.now(UTC),
            lookback=LOOKBACK,
            **options,
        )


def raw_rows(db: Path) -> dict[str, dict[str, tuple]]:
    """Per raw table: id -> (SystemModstamp, deleted), as the warehouse holds them."""
    with connect(db, read_only=True) as con:
        tables = {n for (n,) in con.execute("select table_name from duckdb_tables()").fetchall()}
        return {
            name: {
                i: (stamp, deleted)
                for i, stamp, deleted in con.execute(
                    f"select id, record->>'SystemModstamp', archived from raw.{name}"
                ).fetchall()
            }
            for name in TABLES
            if name in tables
        }


def org_rows(org) -> dict[str, dict[str, tuple]]:
    """The same, as the org serves them through queryAll (purged rows gone)."""
    with org.crm.lock:
        return {
            name: {
                r["Id"]: (r["SystemModstamp"], bool(r.get("IsDeleted", False)))
                for r in org.org.rows(sobject)
                # The sync reads opportunities' record types only.
                if r.get("SobjectType", "Opportunity") == "Opportunity"
            }
            for name, sobject in TABLES.items()
        }


def queries(org) -> list[str]:
    return [q for _, path, q in org.requests if "/query" in path]


def test_a_full_then_incremental_sync_equals_the_org_and_reads_only_changes(org, tmp_path):
    db = tmp_path / "w.duckdb"
    first = sync_into(db, org)
    assert raw_rows(db) == org_rows(org)
    assert {r.mode for r in first} == {"full"}
    # queryAll (deleted and archived rows too), never query; later pages follow the locator.
    assert not any(path.endswith("/query") for _, path, _ in org.requests)

    # A day of selling: stage moves (new history rows), edits, new records, deletions.
    simulate_day(org.crm, change_share=0.1)
    org.clear_requests()
    second = {r.object_name: r for r in sync_into(db, org)}

    assert raw_rows(db) == org_rows(org)
    assert second["opportunities"].mode == "incremental"
    assert second["users"].mode == "full"  # reference lists are read whole
    total = sum(len(rows) for rows in org_rows(org).values())
    assert sum(r.fetched for r in second.values()) < 0.3 * total
    # The filter is inclusive (rows share a second) and no locator outlives a run.
    assert any("SystemModstamp+%3E%3D+" in q or "SystemModstamp >= " in q for q in queries(org))
    assert not any("SystemModstamp+%3E+" in q for q in queries(org))


def test_deleted_rows_arrive_as_deleted_and_purged_ones_leave_at_the_full_refresh(org, tmp_path):
    db = tmp_path / "w.duckdb"
    sync_into(db, org)
    deal = next(d for d in org.crm.live("deals"))
    org.crm.archive("deals", deal["id"], at=datetime.now(UTC))
    sync_into(db, org)
    opportunities = raw_rows(db)["opportunities"]
    deleted = {i for i, (_, gone) in opportunities.items() if gone}
    assert deleted == {i for i, (_, gone) in org_rows(org)["opportunities"].items() if gone}
    assert len(deleted) >= 1

    assert org.purge(datetime.now(UTC) + timedelta(days=1)) > 0
    sync_into(db, org)  # incremental: the purge left no trace to see
    assert deleted <= set(raw_rows(db)["opportunities"])
    sync_into(db, org, full_refresh=True)
    assert raw_rows(db) == org_rows(org)
    assert not deleted & set(raw_rows(db)["opportunities"])


def test_an_object_not_synced_for_longer_than_the_recycle_bin_keeps_is_read_whole(org, tmp_path):
    db = tmp_path / "w.duckdb"
    sync_into(db, org, synced_at=datetime.now(UTC) - timedelta(days=16))
    results = {r.object_name: r.mode for r in sync_into(db, org)}
    assert results["opportunities"] == results["tasks"] == "full"
    sync_into(db, org, synced_at=datetime.now(UTC) - timedelta(days=14))
    assert {r.object_name: r.mode for r in sync_into(db, org)}["opportunities"] == "incremental"


def test_a_spent_allocation_stops_the_sync_cleanly_keeping_committed_objects(org, tmp_path):
    db = tmp_path / "w.duckdb"
    used, maximum = org.api_usage()
    # Room for the describes and the first objects, not for every object.
    org.set_api_usage(maximum - 16, maximum)
    make_client = factory(org, reserve=0.0)
    with pytest.raises(CrmLimitReached, match="daily API"):
        sync_into(db, org, make_client=make_client, workers=1)
    with connect(db, read_only=True) as con:
        committed = {
            n for (n,) in con.execute("select object_name from raw._sync_state").fetchall()
        }
    assert committed and committed < set(TABLES)
    for name in committed:  # what was committed is whole
        assert raw_rows(db)[name] == org_rows(org)[name]

    org.set_api_usage(0, maximum)
    sync_into(db, org)
    assert raw_rows(db) == org_rows(org)

    # Spent by someone else since our last answer: Salesforce's own 403 says so.
    org.set_api_usage(maximum, maximum)
    with pytest.raises(CrmLimitReached, match="REQUEST_LIMIT_EXCEEDED.*TotalRequests"):
        sync_into(db, org)


def test_the_reserve_stops_the_sync_before_the_allocation_runs_out(org, tmp_path):
    org.set_api_usage(880, 1000)  # 12% left; the reserve keeps 10%
    with pytest.raises(CrmLimitReached, match="CRM_KPI_SALESFORCE_API_RESERVE keeps 10%"):
        sync_into(tmp_path / "w.duckdb", org, make_client=factory(org, reserve=0.1))
    used, _ = org.api_usage()
    # It stopped at the reserve (900), not at the limit; token requests report no usage.
    assert 880 < used <= 905


def test_concurrency_limits_5xx_and_broken_bodies_are_retried(org, tmp_path):
    org.inject_faults(kind="concurrency", count=2, path_contains="/queryAll")
    org.inject_faults(kind="status", status=503, count=1, path_contains="/query")
    org.inject_faults(kind="truncate", count=1, path_contains="/query")
    org.inject_faults(kind="not_json", status=200, count=1, path_contains="/query")
    db = tmp_path / "w.duckdb"
    sync_into(db, org)
    assert org.pending_faults() == 0
    assert raw_rows(db) == org_rows(org)


def test_an_expired_session_gets_one_new_token_mid_sync(org, tmp_path):
    org.inject_faults(kind="expire_token", count=1, path_contains="/query/")  # a later page
    db = tmp_path / "w.duckdb"
    sync_into(db, org)
    assert raw_rows(db) == org_rows(org)
    assert sum(1 for _, path, _ in org.requests if path.endswith("/oauth2/token")) == 2


def test_a_ready_token_that_expires_is_a_credential_error(org, tmp_path):
    token = SalesforceSession(org.url, org.client_id, org.client_secret).token()
    ready = SalesforceSession(access_token=token, instance_url=org.url)
    org.expire_tokens()
    with pytest.raises(CrmAuthError, match="SALESFORCE_ACCESS_TOKEN.*cannot be renewed"):
        sync_into(tmp_path / "w.duckdb", org, make_client=factory(org, session=ready))


def test_wrong_client_credentials_are_one_readable_line_without_the_secret(org, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CrmAuthError) as refused:
        SalesforceSession(org.url, org.client_id, "not-" + SECRET).token()
    message = str(refused.value)
    assert "invalid_client" in message and "SALESFORCE_CLIENT_SECRET" in message
    assert "\n" not in message and SECRET not in message
    assert SECRET not in caplog.text


def test_a_single_currency_org_without_limits_access_syncs_without_currency_types(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with DemoSalesforceServer(
        seed=3,
        deals=30,
        activity_scale=0.2,
        now=DEMO_NOW,
        multi_currency=False,
        limits_visible=False,
    ) as org:
        results = {r.object_name for r in sync_into(tmp_path / "w.duckdb", org)}
        rows = raw_rows(tmp_path / "w.duckdb")
    assert "currency_types" not in results and "currency_types" not in rows
    with connect(tmp_path / "w.duckdb", read_only=True) as con:
        (with_currency,) = con.execute(
            "select count(*) from raw.opportunities where record->>'CurrencyIsoCode' is not null"
        ).fetchone()
    assert with_currency == 0 and rows["opportunities"]
    assert "/limits is not readable" in caplog.text


def test_live_counts_leave_deleted_rows_out_and_keep_archived_activities(org):
    before = datetime(2026, 11, 1, tzinfo=UTC)
    counts = count_live_records(factory(org), list(SALESFORCE_OBJECTS), before)
    with org.crm.lock:
        tasks = [r for r in org.org.rows("Task") if r["CreatedDate"] < "2026-11-01"]
        expected = sum(1 for r in tasks if not r["IsDeleted"])
        assert any(r["IsArchived"] for r in tasks if not r["IsDeleted"])
    assert counts["tasks"] == expected


@pytest.mark.parametrize("kill_after_requests", [6, 14, 30])
def test_kill_9_mid_salesforce_sync_loses_and_duplicates_nothing(
    org, tmp_path, kill_after_requests
):
    db = tmp_path / "warehouse.duckdb"
    sync_into(db, org)
    simulate_day(org.crm, change_share=0.2)
    env = {
        **os.environ,
        "CRM_KPI_CRM": "salesforce",
        "SALESFORCE_LOGIN_URL": org.url,
        "SALESFORCE_CLIENT_ID": org.client_id,
        "SALESFORCE_CLIENT_SECRET": SECRET,
        "CRM_KPI_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    # Full this time, so the kill can land inside a long object.
    with connect(db) as con:
        con.execute("delete from raw._sync_state where object_name = 'tasks'")
    kill_mid_sync(org, [str(SYNC_PROCESS)], env, tmp_path, kill_after_requests, delay=0.02)

    sync_into(db, org)

    assert raw_rows(db) == org_rows(org)


def test_a_session_a_new_token_does_not_cure_is_a_credential_error(org, tmp_path):
    # Every session ends before the request and again before its retry with the new token.
    org.inject_faults(kind="expire_token", count=2, path_contains="/queryAll")
    with pytest.raises(CrmAuthError, match="INVALID_SESSION_ID.*after a new token"):
        sync_into(tmp_path / "w.duckdb", org, workers=1)


def test_a_raw_layer_is_claimed_by_one_crm(tmp_path):
    from pipelines.settings import ConfigError
    from pipelines.warehouse import ensure_raw_schema, stored_crm

    with connect(tmp_path / "w.duckdb") as con:
        assert stored_crm(con) is None
        ensure_raw_schema(con)  # a raw layer from before Salesforce: HubSpot's
        assert stored_crm(con) == "hubspot"
        with pytest.raises(ConfigError, match="holds hubspot data but CRM_KPI_CRM is salesforce"):
            claim_for_crm(con, "salesforce")
        claim_for_crm(con, "hubspot")
        claim_for_crm(con, "hubspot")  # once is enough
        assert con.execute("select crm from raw._crm").fetchall() == [("hubspot",)]
