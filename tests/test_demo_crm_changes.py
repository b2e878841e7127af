"""The demo CRM changing over time, over real HTTP: simulated days, stage history, index lag."""

import random
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from demo_crm import DemoCrm, DemoCrmServer, generate_demo_data, simulate_day
from demo_crm.clock import from_ms, parse_instant
from demo_crm.hubspot.search import compile_filters, order, parse_sort
from tests.test_demo_crm import assert_error, list_all, search, search_all, where

NOW = datetime(2026, 10, 5, 14, 3, 11, 123000, tzinfo=UTC)
NOW_ISO = "2026-10-05T14:03:11.123Z"
DAY_END = NOW + timedelta(days=1)
DAY_END_ISO = "2026-10-06T14:03:11.123Z"
TOKEN = "demo-token"
SHARE = 0.05
TYPES = ("deals", "calls", "emails", "meetings", "tasks", "contacts", "companies")
MODIFIED = {t: "hs_lastmodifieddate" for t in TYPES} | {"contacts": "lastmodifieddate"}


@pytest.fixture(scope="module")
def http() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


@pytest.fixture(scope="module")
def day():
    """A small CRM before and after one simulated day: (crm, server, changes, before)."""
    crm = generate_demo_data(seed=5, now=NOW, deals=600, activity_scale=0.3)
    before = {t: {r["id"]: (r["updatedAt"], r["archived"]) for r in crm.objects[t]} for t in TYPES}
    changes = simulate_day(crm, DAY_END, change_share=SHARE)
    with DemoCrmServer(crm=crm) as server:
        yield crm, server, changes, before


def stage_order(pipelines: list[dict]) -> dict[str, dict[str, int]]:
    """Pipeline id → stage id → display order, from the pipelines endpoint's answer."""
    return {p["id"]: {s["id"]: s["displayOrder"] for s in p["stages"]} for p in pipelines}


def stage_path(props: dict, stages: dict[str, int]) -> list[str]:
    """Stages a deal entered, in the order it entered them (forward moves only)."""
    visited = [s for s in stages if props.get(f"hs_date_entered_{s}")]
    return sorted(visited, key=lambda s: (props[f"hs_date_entered_{s}"], stages[s]))


def assert_consistent_history(props: dict, order: dict[str, dict[str, int]], closed: set[str]):
    stages = order[props["pipeline"]]
    path = stage_path(props, stages)
    entered = [props[f"hs_date_entered_{s}"] for s in path]
    assert path and path[-1] == props["dealstage"], (path, props["dealstage"])
    assert entered[0] == props["createdate"]
    assert [stages[s] for s in path] == sorted(stages[s] for s in path), "moves go forward"
    for stage, following in zip(path, entered[1:], strict=False):
        assert props[f"hs_date_exited_{stage}"] == following
    assert props.get(f"hs_date_exited_{path[-1]}") is None
    for stage in set(stages) - set(path):
        assert props.get(f"hs_date_entered_{stage}") is None
        assert props.get(f"hs_date_exited_{stage}") is None
    if props["dealstage"] in closed:
        assert entered[-1] == props["closedate"]
    assert entered[-1] <= props["hs_lastmodifieddate"]
    return path


def history_properties(order: dict[str, dict[str, int]]) -> list[str]:
    return [
        f"hs_date_{edge}_{s}" for st in order.values() for s in st for edge in ("entered", "exited")
    ]


def test_a_simulated_day_changes_about_the_share_of_every_type_within_the_day(day):
    crm, _server, changes, before = day
    assert crm.now == DAY_END
    assert set(changes) == set(TYPES)
    for object_type in TYPES:
        kinds = changes[object_type]
        live_before = sum(not archived for _, archived in before[object_type].values())
        changed = sum(len(ids) for ids in kinds.values())
        assert 0.5 * SHARE * live_before <= changed <= 1.6 * SHARE * live_before + 2, object_type
        touched = set(kinds["updated"]) | set(kinds["archived"])
        for record in crm.objects[object_type]:
            old = before[object_type].get(record["id"])
            if old is None:
                assert record["id"] in kinds["created"]
                assert record["createdAt"] == record["updatedAt"]
            elif record["updatedAt"] != old[0]:
                assert record["id"] in touched
            else:
                assert record["id"] not in touched
            if old is None or record["id"] in touched:
                assert NOW_ISO < record["updatedAt"] <= DAY_END_ISO
                assert record["updatedAt"] == record["properties"][MODIFIED[object_type]]
    archived_types = [t for t in TYPES if changes[t]["archived"]]
    assert len(archived_types) >= 3, archived_types
    assert changes["deals"]["created"] and changes["deals"]["updated"]
    assert all(changes[t]["created"] for t in ("calls", "emails", "meetings", "tasks"))


def test_incremental_search_finds_exactly_the_days_changes(day, http):
    crm, server, changes, _before = day
    sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    for object_type in TYPES:
        since = where(MODIFIED[object_type], "GT", NOW_ISO)
        body = {"filterGroups": [{"filters": [since]}], "sorts": sorts, "limit": 200}
        ids, _ = search_all(http, server, object_type, **body)
        kinds = changes[object_type]
        assert set(ids) == set(kinds["created"]) | set(kinds["updated"]), object_type
        live, _ = list_all(http, server, object_type)
        gone, _ = list_all(http, server, object_type, archived="true")
        live_ids, gone_by_id = {r["id"] for r in live}, {r["id"]: r for r in gone}
        assert set(kinds["created"]) <= live_ids
        for record_id in kinds["archived"]:
            assert record_id not in live_ids
            shown = gone_by_id[record_id]
            assert shown["archived"] is True
            assert NOW_ISO < shown["archivedAt"] == shown["updatedAt"] <= DAY_END_ISO


def test_stage_moves_keep_history_flags_and_close_dates_consistent(day, http):
    crm, server, changes, before = day
    pipelines = http.get(f"{server.url}/crm/v3/pipelines/deals").json()["results"]
    order = stage_order(pipelines)
    closed = {
        s["id"] for p in pipelines for s in p["stages"] if s["metadata"]["isClosed"] == "true"
    }
    won = {s["id"] for p in pipelines for s in p["stages"] if s["metadata"]["probability"] == "1.0"}
    wanted = [
        "dealstage",
        "pipeline",
        "createdate",
        "closedate",
        "hs_is_closed",
        "hs_is_closed_won",
    ]
    props = ",".join(wanted + history_properties(order))
    deals, _ = list_all(http, server, "deals", properties=props)
    moved_today, closed_today = 0, {"won": 0, "lost": 0}
    for deal in deals:
        p = deal["properties"]
        path = assert_consistent_history(p, order, closed)
        assert p["hs_is_closed"] == ("true" if p["dealstage"] in closed else "false")
        assert p["hs_is_closed_won"] == ("true" if p["dealstage"] in won else "false")
        if deal["id"] in changes["deals"]["updated"]:
            last_move = p[f"hs_date_entered_{path[-1]}"]
            if last_move > NOW_ISO:
                moved_today += 1
                assert last_move == p["hs_lastmodifieddate"]
                if p["dealstage"] in closed:
                    closed_today["won" if p["dealstage"] in won else "lost"] += 1
                    assert p["closedate"] == last_move
        if deal["id"] in changes["deals"]["created"]:
            assert len(path) == 1 and p["hs_is_closed"] == "false"
    assert moved_today >= 5 and closed_today["won"] + closed_today["lost"] >= 2, closed_today


def test_over_several_days_deals_close_both_ways_with_consistent_history():
    crm = generate_demo_data(seed=8, now=NOW, deals=300, activity_scale=0.05)
    for offset in range(1, 6):
        simulate_day(crm, NOW + timedelta(days=offset), change_share=SHARE)
    order = stage_order(crm.pipelines)
    closed = {s for p in crm.pipelines for s in order[p["id"]] if s in ("closedwon", "closedlost")}
    closed |= {"1234571", "1234572"}
    outcomes = {
        r["properties"]["hs_is_closed_won"]
        for r in crm.live("deals")
        if r["properties"]["hs_is_closed"] == "true" and r["properties"]["closedate"] > NOW_ISO
    }
    assert outcomes == {"true", "false"}
    for deal in crm.objects["deals"]:
        assert_consistent_history(deal["properties"], order, closed)


def test_new_activities_are_by_active_reps_about_their_open_deals(day):
    crm, _server, changes, _before = day
    active = {o["id"] for o in crm.owners if not o["archived"]}
    linked = 0
    for kind in ("calls", "emails", "meetings", "tasks"):
        for record_id in changes[kind]["created"]:
            record = crm.get(kind, record_id)
            owner = record["properties"]["hubspot_owner_id"]
            assert owner in active
            assert record["properties"]["hs_createdate"] == record["createdAt"]
            for deal_id in record["associations"].get("deals", []):
                deal = crm.get("deals", deal_id)["properties"]
                assert deal["hubspot_owner_id"] == owner
                assert deal["createdate"] <= record["createdAt"]
                linked += 1
    assert linked >= 20


def test_simulated_days_are_deterministic_and_only_move_forward():
    def run(at):
        crm = generate_demo_data(seed=9, now=NOW, deals=150, activity_scale=0.1)
        return crm, simulate_day(crm, at)

    first, changes = run(None)  # a day after now, by default
    second, same = run(DAY_END)
    assert first.now == DAY_END and changes == same and first.objects == second.objects
    _, other = run(DAY_END + timedelta(hours=1))
    assert other != changes
    with pytest.raises(ValueError):
        simulate_day(first, NOW)


def test_archived_records_can_be_restored(http):
    crm = generate_demo_data(seed=4, now=NOW, deals=60, activity_scale=0.05)
    deal = crm.live("deals")[0]
    with DemoCrmServer(crm=crm) as server:
        crm.archive("deals", deal["id"], at=NOW + timedelta(hours=1))
        gone, _ = list_all(http, server, "deals", archived="true")
        assert deal["id"] in {r["id"] for r in gone}
        restored = crm.unarchive("deals", deal["id"], at=NOW + timedelta(hours=2))
        assert restored["archived"] is False and restored["archivedAt"] is None
        assert restored["updatedAt"] == "2026-10-05T16:03:11.123Z"
        live, _ = list_all(http, server, "deals")
        gone, _ = list_all(http, server, "deals", archived="true")
        assert deal["id"] in {r["id"] for r in live}
        assert deal["id"] not in {r["id"] for r in gone}
        found = search(
            http,
            server,
            "deals",
            filterGroups=[{"filters": [where("hs_object_id", "EQ", deal["id"])]}],
        )
        assert [r["id"] for r in found.json()["results"]] == [deal["id"]]


def test_generated_deals_have_stage_history_with_skips_and_late_starts(http):
    crm = generate_demo_data(seed=7, now=NOW, deals=800, activity_scale=0.05)
    order = stage_order(crm.pipelines)
    closed = {
        s["id"] for p in crm.pipelines for s in p["stages"] if s["metadata"]["isClosed"] == "true"
    }
    skipped = second_start = 0
    for deal in crm.objects["deals"]:
        p = deal["properties"]
        path = assert_consistent_history(p, order, closed)
        stages = order[p["pipeline"]]
        last_open = [s for s in path if s not in closed][-1]
        passed = [s for s in stages if stages[path[0]] < stages[s] < stages[last_open]]
        skipped += any(s not in path for s in passed)
        second_start += stages[path[0]] == 1
    assert skipped > 20 and second_start > 20
    with DemoCrmServer(crm=crm) as server:
        # Not among the defaults, but served when named, and known to search.
        page = http.get(f"{server.url}/crm/v3/objects/deals", params={"limit": 5}).json()
        assert not any(k.startswith("hs_date_") for r in page["results"] for k in r["properties"])
        params = {"limit": 100, "properties": "hs_date_entered_closedwon,hs_date_exited_1234568"}
        page = http.get(f"{server.url}/crm/v3/objects/deals", params=params).json()
        for record in page["results"]:
            stored = crm.get("deals", record["id"])["properties"]
            for name in ("hs_date_entered_closedwon", "hs_date_exited_1234568"):
                assert record["properties"][name] == stored.get(name)
        entered_won = where("hs_date_entered_closedwon", "GTE", "2026-09-01")
        ids, _ = search_all(
            http, server, "deals", filterGroups=[{"filters": [entered_won]}], limit=200
        )
        expected = [
            r["id"]
            for r in crm.live("deals")
            if (r["properties"].get("hs_date_entered_closedwon") or "") >= "2026-09-01"
        ]
        assert expected and ids == expected
        assert_error(
            search(
                http,
                server,
                "deals",
                **{
                    "filterGroups": [
                        {"filters": [where("hs_date_entered_nowhere", "HAS_PROPERTY")]}
                    ]
                },
            ),
            400,
        )
        # propertiesWithHistory: every stage the deal entered, newest first; pages of 50 at most.
        params = {"limit": 100, "propertiesWithHistory": "dealstage", "properties": "dealstage"}
        page = http.get(f"{server.url}/crm/v3/objects/deals", params=params).json()
        assert len(page["results"]) == 50 and page["paging"]["next"]["after"]
        for record in page["results"]:
            history = record["propertiesWithHistory"]["dealstage"]
            stored = crm.get("deals", record["id"])["properties"]
            path = stage_path(stored, order[stored["pipeline"]])
            assert [h["value"] for h in history] == path[::-1]
            assert history[0]["timestamp"] == stored[f"hs_date_entered_{stored['dealstage']}"]
            assert [h["timestamp"] for h in history] == sorted(
                (h["timestamp"] for h in history), reverse=True
            )


def test_search_lags_behind_writes_but_lists_do_not(http):
    crm = generate_demo_data(seed=3, now=NOW, deals=60, activity_scale=0.05)
    lag = 0.4
    with DemoCrmServer(crm=crm, search_lag_s=lag) as server:
        body = {"filterGroups": [{"filters": [where("hs_lastmodifieddate", "GT", NOW_ISO)]}]}
        deal = crm.live("deals")[0]
        crm.update("deals", deal["id"], {"amount": "4242"}, at=NOW + timedelta(minutes=5))
        written = crm.written_at("deals", deal["id"])
        page = search(http, server, "deals", **body).json()
        listed, _ = list_all(http, server, "deals", properties="amount")
        if time.time() - written < lag:  # a slow machine may already be past the lag
            assert page["total"] == 0 and page["results"] == []
        assert {r["id"]: r["properties"]["amount"] for r in listed}[deal["id"]] == "4242"
        time.sleep(lag)
        page = search(http, server, "deals", **body, properties=["amount"]).json()
        assert [r["properties"]["amount"] for r in page["results"]] == ["4242"]


def test_search_lag_hides_only_fresh_writes(http):
    crm = generate_demo_data(seed=3, now=NOW, deals=60, activity_scale=0.05)
    with DemoCrmServer(crm=crm, search_lag_s=30) as server:
        body = {"filterGroups": [{"filters": [where("hs_lastmodifieddate", "GT", NOW_ISO)]}]}
        old, fresh = crm.live("deals")[:2]
        # The first write happened a minute ago by the wall clock: only it is indexed.
        crm.wall_clock = lambda: time.time() - 60
        crm.update("deals", old["id"], {}, at=NOW + timedelta(minutes=1))
        crm.wall_clock = time.time
        crm.update("deals", fresh["id"], {}, at=NOW + timedelta(minutes=2))
        page = search(http, server, "deals", **body).json()
        assert [r["id"] for r in page["results"]] == [old["id"]]


@pytest.fixture(scope="module")
def busy() -> DemoCrm:
    """Enough calls (> 12,000) that more than 10,000 can share one millisecond."""
    return generate_demo_data(seed=6, now=NOW, deals=200, activity_scale=1.4)


def test_many_records_can_share_one_millisecond_and_be_drained_by_id(busy, http):
    stamp = datetime(2026, 10, 5, 15, 0, 0, 7000, tzinfo=UTC)
    ids = [r["id"] for r in busy.live("calls")[:12_000]]
    assert len(ids) == 12_000
    busy.touch("calls", ids, stamp)
    assert {busy.get("calls", i)["updatedAt"] for i in ids} == {"2026-10-05T15:00:00.007Z"}
    with DemoCrmServer(crm=busy) as server:
        same_ms = where("hs_lastmodifieddate", "EQ", "1791212400007")  # epoch ms of `stamp`
        sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        first = search(
            http, server, "calls", filterGroups=[{"filters": [same_ms]}], sorts=sorts, limit=200
        )
        assert first.json()["total"] == 12_000
        assert_error(
            search(
                http,
                server,
                "calls",
                filterGroups=[{"filters": [same_ms]}],
                limit=200,
                after="10000",
            ),
            400,
        )
        # Drain: the same millisecond, ids above the last one seen, restarting below the cap.
        drained, floor, after = [], "0", 0
        for _ in range(100):  # 12,000 / 200 pages; a broken search must fail, not hang
            group = [same_ms, where("hs_object_id", "GT", floor)]
            body = {"filterGroups": [{"filters": group}], "sorts": sorts, "limit": 200}
            page = search(http, server, "calls", **body, after=str(after)).json()
            drained += [r["id"] for r in page["results"]]
            if "paging" not in page:
                break
            after = int(page["paging"]["next"]["after"])
            if after + 200 > 10_000:
                floor, after = drained[-1], 0
        assert drained == sorted(ids, key=int)


def test_short_pages_still_carry_paging_and_lose_nothing(busy, http):
    with DemoCrmServer(crm=busy, short_pages=True) as server:
        records, pages = list_all(http, server, "meetings")
        expected = [r["id"] for r in busy.live("meetings")]
        assert [r["id"] for r in records] == expected
        sizes = [len(p["results"]) for p in pages[:-1]]
        assert all("paging" in p for p in pages[:-1])
        assert 0 in sizes and any(0 < s < 100 for s in sizes) and 100 in sizes


def brute_force_search(crm: DemoCrm, object_type: str, body: dict) -> list[str]:
    """Every live record tested against the filters, then sorted: no indexes, no cache."""
    known = crm.property_names(object_type)
    matches = compile_filters(body.get("filterGroups"), known)
    found = [r for r in crm.live(object_type) if matches(r["properties"])]
    return [r["id"] for r in order(found, parse_sort(body.get("sorts"), known))]


def random_search(rng: random.Random, crm: DemoCrm) -> dict:
    deals = crm.live("deals")
    stamps = sorted(r["properties"]["hs_lastmodifieddate"] for r in deals)
    ids = [r["id"] for r in deals]

    def stamp() -> str:
        value = rng.choice(stamps)
        # Filter values may be ISO or epoch milliseconds.
        return value if rng.random() < 0.5 else str(parse_instant(value))

    def one() -> dict:
        kind = rng.choice(("modified", "modified", "id", "amount", "stage"))
        op = rng.choice(("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN"))
        if kind == "modified":
            low, high = sorted((stamp(), stamp()), key=lambda v: parse_instant(v))
            return where(
                "hs_lastmodifieddate", op, low, **({"highValue": high} if op == "BETWEEN" else {})
            )
        if kind == "id":
            low, high = sorted((rng.choice(ids), rng.choice(ids)), key=int)
            return where(
                "hs_object_id", op, low, **({"highValue": high} if op == "BETWEEN" else {})
            )
        if kind == "amount":
            return where("amount", rng.choice(("GT", "LTE")), str(rng.randint(1000, 40000)))
        return where("dealstage", "IN", values=["closedwon", "appointmentscheduled", "1234569"])

    groups = [
        {"filters": [one() for _ in range(rng.choice((1, 1, 2, 3)))]}
        for _ in range(rng.choice((1, 1, 1, 2)))
    ]
    name = rng.choice(
        ("hs_object_id", "hs_lastmodifieddate", "hs_lastmodifieddate", "amount", None)
    )
    body: dict = {"filterGroups": groups, "limit": 200}
    if name:
        direction = rng.choice(("ASCENDING", "ASCENDING", "DESCENDING"))
        body["sorts"] = [{"propertyName": name, "direction": direction}]
    return body


def test_indexed_cached_search_equals_a_brute_force_search_across_writes(http):
    crm = generate_demo_data(seed=12, now=NOW, deals=400, activity_scale=0.05)
    rng = random.Random(3)
    with DemoCrmServer(crm=crm) as server:

        def check(body: dict) -> None:
            response = search(http, server, "deals", **body)
            assert response.status_code == 200, (body, response.text)
            page = response.json()
            want = brute_force_search(crm, "deals", body)
            assert page["total"] == len(want), body
            assert [r["id"] for r in page["results"]] == want[:200], body
            if want[200:]:
                deeper = search(http, server, "deals", **body, after="200").json()
                assert [r["id"] for r in deeper["results"]] == want[200:400], body

        for round_number in range(3):
            bodies = [random_search(rng, crm) for _ in range(45)]
            for body in bodies:
                check(body)
            # Writes: a day of changes, then 40 deals moved to the millisecond of an older one
            # (ties, and index entries that go in the middle). The last searches are still
            # cached: asked again, they must see the writes.
            simulate_day(crm, NOW + timedelta(days=round_number + 1), change_share=0.05)
            older = rng.choice(crm.live("deals")[:200])["properties"]["hs_lastmodifieddate"]
            tied = [r["id"] for r in rng.sample(crm.live("deals"), 40)]
            crm.touch("deals", tied, from_ms(parse_instant(older)))
            for body in bodies[-8:] + [random_search(rng, crm) for _ in range(8)]:
                check(body)
