"""The sync against the demo CRM over real HTTP: incremental equals full equals the CRM, and
faults (429 storms, 5xx, broken bodies, kill -9) lose and duplicate nothing."""

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from demo_crm import simulate_day
from pipelines.hubspot.client import CrmError, HubSpotClient
from pipelines.hubspot.objects import CRM_OBJECTS
from pipelines.hubspot.sync import sync_crm
from pipelines.warehouse import connect

from .conftest import TOKEN
from .sync_process import kill_mid_sync, sync_env


def sync_into(db, crm, full_refresh=False, extra_properties=None, **client_options):
    options = {"backoff_s": 0.01, "rate_limit_wait_s": 0.05, **client_options}
    with connect(db) as con:
        return {
            r.object_name: r
            for r in sync_crm(
                lambda: HubSpotClient(crm.url, TOKEN, **options),
                con,
                list(CRM_OBJECTS),
                synced_at=datetime.now(UTC),
                full_refresh=full_refresh,
                extra_properties=extra_properties,
            )
        }


def raw_versions(db) -> dict[str, dict[str, tuple]]:
    """{object: {id: (archived, updatedAt)}} as stored in raw."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            obj.name: {
                row_id: (archived, json.loads(record).get("updatedAt"))
                for row_id, archived, record in con.execute(
                    f"select id, archived, record from raw.{obj.name}"
                ).fetchall()
            }
            for obj in CRM_OBJECTS
        }
    finally:
        con.close()


def crm_versions(crm) -> dict[str, dict[str, tuple]]:
    """The same, from the demo CRM's own records."""
    data = crm.crm
    versions = {
        name: {r["id"]: (bool(r["archived"]), r["updatedAt"]) for r in records}
        for name, records in data.objects.items()
    }
    versions["owners"] = {o["id"]: (bool(o["archived"]), o["updatedAt"]) for o in data.owners}
    versions["deal_pipelines"] = {p["id"]: (False, p["updatedAt"]) for p in data.pipelines}
    return versions


def test_incremental_after_a_day_of_selling_equals_a_full_sync_and_the_crm(fresh_crm, tmp_path):
    first = sync_into(tmp_path / "a.duckdb", fresh_crm)
    assert {r.mode for r in first.values()} == {"full"}
    full_requests = len(fresh_crm.requests)

    changed = simulate_day(fresh_crm.crm, change_share=0.05)
    assert changed["deals"]["updated"] and any(c["archived"] for c in changed.values())
    fresh_crm.clear_requests()
    second = sync_into(tmp_path / "a.duckdb", fresh_crm)
    incremental_requests = len(fresh_crm.requests)
    sync_into(tmp_path / "b.duckdb", fresh_crm, full_refresh=True)

    assert second["deals"].mode == "incremental" and second["owners"].mode == "full"
    assert raw_versions(tmp_path / "a.duckdb") == raw_versions(tmp_path / "b.duckdb")
    assert raw_versions(tmp_path / "a.duckdb") == crm_versions(fresh_crm)
    assert incremental_requests < full_requests / 3


def test_more_than_10000_records_sharing_one_millisecond_are_all_fetched_once(fresh_crm, tmp_path):
    db = tmp_path / "w.duckdb"
    sync_into(db, fresh_crm)
    calls = [r["id"] for r in fresh_crm.crm.live("calls")][:10_500]
    assert len(calls) == 10_500, "the demo CRM needs more calls for this test"
    same_instant = datetime.now(UTC).replace(microsecond=123_000)
    fresh_crm.crm.touch("calls", calls, same_instant)

    result = sync_into(db, fresh_crm)["calls"]

    assert result.mode == "incremental" and result.fetched >= 10_500
    stamp = same_instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    stored = raw_versions(db)["calls"]
    assert all(stored[i][1] == stamp for i in calls)
    assert stored == crm_versions(fresh_crm)["calls"]


def test_a_record_modified_exactly_at_the_watermark_is_not_lost(fresh_crm, tmp_path):
    db = tmp_path / "w.duckdb"
    sync_into(db, fresh_crm)
    with connect(db, read_only=True) as con:
        (watermark,) = con.execute(
            "select watermark from raw._sync_state where object_name = 'deals'"
        ).fetchone()
    deal = fresh_crm.crm.live("deals")[0]["id"]
    fresh_crm.crm.update("deals", deal, {"amount": "4242.00"}, at=watermark)

    sync_into(db, fresh_crm)

    with connect(db, read_only=True) as con:
        (amount,) = con.execute(
            "select record->'properties'->>'amount' from raw.deals where id = $id", {"id": deal}
        ).fetchone()
    assert amount == "4242.00"


def test_a_storm_of_429s_without_retry_after_is_waited_out(fresh_crm, tmp_path):
    fresh_crm.inject_faults(status=429, count=25, path_prefix="/crm/v3/objects/calls")
    fresh_crm.inject_faults(status=429, count=10)
    results = sync_into(tmp_path / "w.duckdb", fresh_crm, max_attempts=2)
    assert raw_versions(tmp_path / "w.duckdb") == crm_versions(fresh_crm)
    assert results["calls"].fetched > 0


def test_5xx_resets_and_broken_bodies_are_retried(fresh_crm, tmp_path):
    # At most max_attempts - 1 failures land on any one request.
    for status, objects in ((500, "deals"), (502, "calls"), (503, "emails"), (504, "owners")):
        fresh_crm.inject_faults(status=status, count=2, path_prefix=f"/crm/v3/{objects}")
    fresh_crm.inject_faults(kind="truncate", count=3, path_prefix="/crm/v3/objects/meetings")
    fresh_crm.inject_faults(kind="disconnect", count=3, path_prefix="/crm/v3/objects/tasks")
    sync_into(tmp_path / "w.duckdb", fresh_crm)
    assert raw_versions(tmp_path / "w.duckdb") == crm_versions(fresh_crm)


def test_a_failure_past_the_retry_budget_names_the_object_and_commits_nothing(fresh_crm, tmp_path):
    db = tmp_path / "w.duckdb"
    sync_into(db, fresh_crm)
    before = raw_versions(db)
    simulate_day(fresh_crm.crm, change_share=0.05)
    fresh_crm.inject_faults(status=502, count=50, path_prefix="/crm/v3/objects/deals")

    with pytest.raises(CrmError) as failure:
        sync_into(db, fresh_crm, max_attempts=3)

    assert "syncing deals" in str(failure.value) and "HTTP 502" in str(failure.value)
    assert raw_versions(db)["deals"] == before["deals"]
    with connect(db, read_only=True) as con:
        assert con.execute("select count(*) from raw._sync_state").fetchone()[0] == len(CRM_OBJECTS)


def test_properties_the_portal_lacks_are_ignored_and_custom_ones_arrive(fresh_crm, tmp_path):
    deal = fresh_crm.crm.live("deals")[0]["id"]
    fresh_crm.crm.update("deals", deal, {"region": "EMEA"})
    db = tmp_path / "w.duckdb"
    sync_into(db, fresh_crm, extra_properties={"deals": ["region", "no_such_property"]})
    with connect(db, read_only=True) as con:
        (properties,) = con.execute(
            "select record->'properties' from raw.deals where id = $id", {"id": deal}
        ).fetchone()
    assert json.loads(properties)["region"] == "EMEA"


def test_the_budget_keeps_a_sync_under_the_servers_limit(fresh_crm, tmp_path):
    fresh_crm.max_search_requests_per_s = 10
    db = tmp_path / "w.duckdb"
    sync_into(db, fresh_crm)
    simulate_day(fresh_crm.crm, change_share=0.05)
    from pipelines.hubspot.ratelimit import RateLimiter

    search_budget = RateLimiter(10, 1.0)
    client_429s = []

    def make_client():
        client = HubSpotClient(fresh_crm.url, TOKEN, search_budget=search_budget)
        client_429s.append(client)
        return client

    with connect(db) as con:
        sync_crm(make_client, con, list(CRM_OBJECTS), synced_at=datetime.now(UTC))
    searches = [p for _, p in fresh_crm.requests if p.endswith("/search")]
    assert len(searches) > 10
    assert sum(c.responses_429 for c in client_429s) == 0
    assert raw_versions(db) == crm_versions(fresh_crm)


SYNC_PROCESS = Path(__file__).with_name("sync_process.py")


@pytest.mark.parametrize(
    ("incremental", "kill_after_requests", "command"),
    # A full sync of this CRM takes about 310 requests, the incremental one about 80. One case
    # kills a user's `crm-kpi sync`; the others the same sync without Dagster's start-up.
    [
        (False, 40, [str(SYNC_PROCESS)]),
        (False, 250, ["-m", "pipelines.cli", "sync"]),
        (True, 30, [str(SYNC_PROCESS)]),
        (True, 70, [str(SYNC_PROCESS)]),
    ],
    ids=["full-early", "full-late-cli", "incremental-early", "incremental-late"],
)
def test_kill_9_mid_sync_loses_and_duplicates_nothing(
    fresh_crm, tmp_path, incremental, kill_after_requests, command
):
    env = sync_env(fresh_crm, tmp_path)
    db = tmp_path / "warehouse.duckdb"
    if incremental:
        sync_into(db, fresh_crm)
        simulate_day(fresh_crm.crm, change_share=0.2)
    kill_mid_sync(fresh_crm, command, env, tmp_path, kill_after_requests)

    sync_into(db, fresh_crm)

    assert raw_versions(db) == crm_versions(fresh_crm)
