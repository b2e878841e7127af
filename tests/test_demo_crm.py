"""The demo CRM over real HTTP: it must behave as HubSpot CRM v3 documents it."""

import re
import uuid
from datetime import UTC, datetime

import pytest
import requests

from demo_crm import DemoCrm, DemoCrmServer, generate_demo_data
from pipelines.hubspot.objects import CRM_OBJECTS

NOW = datetime(2026, 10, 5, 14, 3, 11, 123000, tzinfo=UTC)
NOW_ISO = "2026-10-05T14:03:11.123Z"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TOKEN = "demo-token"
FETCHED = {o.name: o for o in CRM_OBJECTS if o.searchable}


@pytest.fixture(scope="module")
def crm() -> DemoCrm:
    return generate_demo_data(seed=7, now=NOW)  # the default size, as `make demo` serves it


@pytest.fixture(scope="module")
def server(crm):
    with DemoCrmServer(crm=crm) as running:
        yield running


@pytest.fixture
def fresh(crm):
    """A server of its own, for tests that inject faults or count requests."""
    with DemoCrmServer(crm=crm, search_result_cap=250) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def list_all(http, server, object_type, **params):
    """Every page of a list endpoint, following `paging.next.after`; returns (records, pages)."""
    records, pages, after = [], [], None
    while True:
        query = {"limit": 100, **params} | ({"after": after} if after else {})
        response = http.get(f"{server.url}/crm/v3/objects/{object_type}", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        records += page["results"]
        if "paging" not in page:
            return records, pages
        after = page["paging"]["next"]["after"]


def search(http, server, object_type, **body):
    return http.post(f"{server.url}/crm/v3/objects/{object_type}/search", json=body)


def assert_error(response, status, category=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["message"]
    uuid.UUID(body["correlationId"])
    if category:
        assert body["category"] == category


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_requests_without_the_right_bearer_token_are_rejected(server, headers):
    response = requests.get(f"{server.url}/crm/v3/objects/deals", headers=headers)
    assert_error(response, 401, "INVALID_AUTHENTICATION")
    assert response.json()["message"].startswith("Authentication credentials not found")


def test_unknown_routes_answer_404_with_the_error_envelope(server, http):
    assert_error(http.get(f"{server.url}/crm/v3/objects/unicorns"), 404)
    assert_error(http.get(f"{server.url}/crm/v4/whatever"), 404)


def test_list_paging_returns_every_live_record_once_in_id_order(server, http, crm):
    records, pages = list_all(http, server, "deals")
    ids = [r["id"] for r in records]
    expected = [r["id"] for r in crm.objects["deals"] if not r["archived"]]
    assert ids == expected and len(set(ids)) == len(ids)
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert len(str(ids[0])) != len(str(ids[-1])), "ids should cross a digit boundary"
    assert all("paging" in p for p in pages[:-1]) and "paging" not in pages[-1]
    assert all(len(p["results"]) == 100 for p in pages[:-1])
    # The link is absolute and leads to the same page as `after`.
    link = pages[0]["paging"]["next"]["link"]
    assert link.startswith(server.url)
    assert http.get(link).json()["results"] == pages[1]["results"]


def test_list_limit_above_100_is_rejected(server, http):
    response = http.get(f"{server.url}/crm/v3/objects/deals", params={"limit": 101})
    assert_error(response, 400, "VALIDATION_ERROR")
    assert http.get(f"{server.url}/crm/v3/objects/deals", params={"limit": 100}).ok


def test_without_properties_only_the_defaults_come_back(server, http):
    page = http.get(f"{server.url}/crm/v3/objects/deals").json()
    assert len(page["results"]) == 10
    for record in page["results"]:
        assert set(record["properties"]) == {
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        }
        assert "associations" not in record


def test_requested_properties_without_value_are_null_and_unknown_ones_ignored(server, http, crm):
    records, _ = list_all(http, server, "deals", properties="amount,hubspot_owner_id,no_such")
    by_id = {r["id"]: r for r in records}
    empty = [r for r in crm.live("deals") if r["properties"]["amount"] is None]
    assert empty
    for record in empty:
        served = by_id[record["id"]]["properties"]
        assert "amount" in served and served["amount"] is None
    assert all("no_such" not in r["properties"] for r in records)
    assert any(r["properties"]["hubspot_owner_id"] is None for r in records)


@pytest.mark.parametrize("name", sorted(FETCHED))
def test_every_property_the_client_fetches_is_served_as_string_or_null(server, http, crm, name):
    spec = FETCHED[name]
    params = {"limit": 100, "properties": ",".join(spec.properties)}
    page = http.get(f"{server.url}{spec.path}", params=params).json()
    assert len(page["results"]) == 100
    for record in page["results"]:
        assert isinstance(record["id"], str) and record["archived"] is False
        assert ISO.match(record["createdAt"]) and ISO.match(record["updatedAt"])
        assert set(spec.properties) <= set(record["properties"])
        for value in record["properties"].values():
            assert value is None or isinstance(value, str)
    # Across the whole data set, every fetched property has values.
    for prop in spec.properties:
        assert any(r["properties"].get(prop) is not None for r in crm.objects[name]), prop


def test_archived_true_returns_only_archived_records(server, http, crm):
    records, _ = list_all(http, server, "deals", archived="true")
    expected = [r["id"] for r in crm.objects["deals"] if r["archived"]]
    assert expected and [r["id"] for r in records] == expected
    for record in records:
        assert record["archived"] is True and ISO.match(record["archivedAt"])
        assert record["updatedAt"] == record["archivedAt"] <= NOW_ISO
    live, _ = list_all(http, server, "deals")
    assert not {r["id"] for r in live} & set(expected)


def test_associations_are_listed_per_type_with_hubspot_labels(server, http, crm):
    params = {"limit": 100, "associations": "deals,contacts,companies"}
    records = http.get(f"{server.url}/crm/v3/objects/tasks", params=params).json()["results"]
    assert any("associations" not in r for r in records), "internal to-dos have none"
    with_deal = [r for r in records if "deals" in r.get("associations", {})]
    assert with_deal
    for record in records:
        stored = crm.get("tasks", record["id"])["associations"]
        for other, links in record.get("associations", {}).items():
            singular = {"deals": "deal", "contacts": "contact", "companies": "company"}[other]
            assert links["results"] == [
                {"id": i, "type": f"task_to_{singular}"}
                for i in stored[other]
                if not crm.get(other, i)["archived"]
            ]
            assert links["results"], "empty association types are left out"


def where(name, operator, value=None, **extra):
    """One search filter."""
    return {"propertyName": name, "operator": operator, "value": value, **extra}


def search_all(http, server, object_type, **body):
    """Every page of a search, following `paging.next.after`; returns (ids, last page)."""
    ids, after = [], None
    while True:
        response = search(http, server, object_type, **body, **({"after": after} if after else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [r["id"] for r in page["results"]]
        if "paging" not in page:
            return ids, page
        after = page["paging"]["next"]["after"]
        assert after == str(len(ids)), "search's `after` is the offset"


SEARCH_CASES = {
    "GTE epoch-ms on hs_lastmodifieddate": (
        [where("hs_lastmodifieddate", "GTE", "1788000000000")],  # 2026-08-29T10:40:00Z
        lambda p: p["hs_lastmodifieddate"] >= "2026-08-29T10:40:00",
    ),
    "EQ": ([where("dealstage", "EQ", "closedwon")], lambda p: p["dealstage"] == "closedwon"),
    "IN": (
        [where("dealstage", "IN", values=["1234571", "closedlost"])],
        lambda p: p["dealstage"] in ("1234571", "closedlost"),
    ),
    "BETWEEN ISO": (
        [where("createdate", "BETWEEN", "2026-07-01T00:00:00Z", highValue="2026-07-31T23:59:59Z")],
        lambda p: "2026-07-01" <= p["createdate"][:10] <= "2026-07-31",
    ),
    "GT numeric AND HAS_PROPERTY": (
        [where("amount", "GT", "20000"), where("amount", "HAS_PROPERTY")],
        lambda p: p["amount"] is not None and float(p["amount"]) > 20000,
    ),
}


@pytest.mark.parametrize("case", sorted(SEARCH_CASES))
def test_search_filters_match_an_independent_computation(server, http, crm, case):
    filters, expected = SEARCH_CASES[case]
    sorts = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    body = {"filterGroups": [{"filters": filters}], "limit": 200, "sorts": sorts}
    ids, last = search_all(http, server, "deals", **body)
    want = [r["id"] for r in crm.live("deals") if expected(r["properties"])]
    assert want and ids == want
    assert last["total"] == len(want)
    assert all("associations" not in r for r in last["results"])


def test_search_groups_are_ored_and_archived_records_never_match(server, http, crm):
    archived = [r for r in crm.objects["deals"] if r["archived"]]
    some_live = crm.live("deals")[:3]
    groups = [{"filters": [where("hs_object_id", "EQ", r["id"])]} for r in archived[:2] + some_live]
    page = search(http, server, "deals", filterGroups=groups).json()
    assert sorted(r["id"] for r in page["results"]) == sorted(r["id"] for r in some_live)


def test_search_sorts_ids_numerically_both_ways(server, http, crm):
    for direction, reverse in (("ASCENDING", False), ("DESCENDING", True)):
        body = {
            "sorts": [{"propertyName": "hs_object_id", "direction": direction}],
            "limit": 200,
            "properties": ["dealname"],
        }
        page = search(http, server, "deals", **body).json()
        expected = sorted((r["id"] for r in crm.live("deals")), key=int, reverse=reverse)
        assert [r["id"] for r in page["results"]] == expected[:200]
        assert page["total"] == len(expected)
        assert set(page["results"][0]["properties"]) >= {"dealname", "hs_object_id"}


def test_contacts_filter_and_sort_on_lastmodifieddate(server, http, crm):
    since = where("lastmodifieddate", "GTE", "2026-09-01")
    body = {"filterGroups": [{"filters": [since]}], "sorts": ["lastmodifieddate"], "limit": 200}
    page = search(http, server, "contacts", **body).json()
    want = sorted(
        (r for r in crm.live("contacts") if r["properties"]["lastmodifieddate"] >= "2026-09-01"),
        key=lambda r: r["properties"]["lastmodifieddate"],
    )
    assert page["total"] == len(want) > 0
    assert [r["id"] for r in page["results"]] == [r["id"] for r in want[:200]]


def groups(*sizes, **only):
    """filterGroups with the given number of filters each (HAS_PROPERTY amount by default)."""
    one = where("amount", "HAS_PROPERTY") | only
    return {"filterGroups": [{"filters": [one] * size} for size in sizes]}


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        groups(1, 1, 1, 1, 1, 1),  # 6 groups
        groups(11),  # 11 filters in one group
        groups(6, 6, 6, 6, 2),  # 26 filters in all
        groups(1, operator="LIKE", value="1"),
        groups(1, propertyName="nope", operator="EQ", value="1"),
        {"sorts": [{"propertyName": "amount", "direction": "SIDEWAYS"}]},
    ],
)
def test_invalid_searches_are_rejected(server, http, body):
    assert_error(search(http, server, "deals", **body), 400, "VALIDATION_ERROR")


def test_search_stops_at_the_result_cap(fresh, http):
    # `fresh` lowers the 10,000 cap to 250 so the limit is reachable with a small data set.
    ok = search(http, fresh, "calls", limit=50, after="200").json()
    assert len(ok["results"]) == 50 and ok["total"] > 250
    assert ok["paging"]["next"]["after"] == "250"
    assert_error(search(http, fresh, "calls", limit=100, after="200"), 400)
    assert_error(search(http, fresh, "calls", limit=10, after="250"), 400)


def test_owners_include_the_archived_rep_with_teams(server, http, crm):
    live = http.get(f"{server.url}/crm/v3/owners").json()
    gone = http.get(f"{server.url}/crm/v3/owners", params={"archived": "true"}).json()
    assert "paging" not in live and len(live["results"]) == 11
    assert {t["teams"][0]["name"] for t in live["results"]} == {
        "New Business East",
        "New Business West",
        "Expansion",
    }
    for owner in live["results"]:
        assert owner["type"] == "PERSON" and owner["archived"] is False
        assert isinstance(owner["userId"], int) and owner["id"] != str(owner["userId"])
        assert owner["email"] and owner["firstName"] and owner["lastName"]
    [leaver] = gone["results"]
    assert leaver["archived"] is True and leaver["userId"] is None
    assert isinstance(leaver["userIdIncludingInactive"], int) and leaver["teams"]
    # The leaver still owns deals and activities from the early months.
    owned = [r for r in crm.live("deals") if r["properties"]["hubspot_owner_id"] == leaver["id"]]
    calls = [r for r in crm.live("calls") if r["properties"]["hubspot_owner_id"] == leaver["id"]]
    assert owned and calls and max(r["properties"]["hs_timestamp"] for r in calls) < "2026-07-01"
    paged = http.get(f"{server.url}/crm/v3/owners", params={"limit": 5}).json()
    assert len(paged["results"]) == 5 and paged["paging"]["next"]["after"]
    assert_error(http.get(f"{server.url}/crm/v3/owners", params={"limit": 501}), 400)


def test_pipelines_have_string_metadata_and_a_custom_pipeline(server, http):
    body = http.get(f"{server.url}/crm/v3/pipelines/deals").json()
    assert "paging" not in body
    pipelines = {p["id"]: p for p in body["results"]}
    stages = {s["id"]: s["metadata"] for s in pipelines["default"]["stages"]}
    assert stages["appointmentscheduled"] == {"isClosed": "false", "probability": "0.2"}
    assert stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"] == {"isClosed": "true", "probability": "0.0"}
    assert len(stages) == 7
    custom = pipelines["1234567"]
    assert custom["label"] == "Renewals" and all(s["id"].isdigit() for s in custom["stages"])
    closed = {
        s["metadata"]["probability"]
        for s in custom["stages"]
        if s["metadata"]["isClosed"] == "true"
    }
    assert closed == {"1.0", "0.0"}


def test_rate_limit_headers_count_down_on_list_calls_only(fresh, http):
    first = http.get(f"{fresh.url}/crm/v3/pipelines/deals")
    second = http.get(f"{fresh.url}/crm/v3/owners")
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    remaining = [int(r.headers["X-HubSpot-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[1] == remaining[0] - 1
    assert "X-HubSpot-RateLimit-Remaining" not in search(http, fresh, "deals").headers


def test_enforced_rate_limit_answers_429_with_hubspots_body(crm, http):
    with DemoCrmServer(crm=crm, max_requests_per_10s=3) as limited:
        statuses = [http.get(f"{limited.url}/crm/v3/owners").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        body = http.get(f"{limited.url}/crm/v3/owners").json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"


@pytest.mark.parametrize("retry_after", [None, 2])
def test_injected_429s_then_success(fresh, http, retry_after):
    fresh.inject_faults(status=429, count=2, retry_after=retry_after)
    responses = [http.get(f"{fresh.url}/crm/v3/objects/deals") for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    body = responses[0].json()
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    uuid.UUID(body["correlationId"])
    assert responses[0].headers.get("Retry-After") == (None if retry_after is None else "2")
    assert len(fresh.requests) == 3 and fresh.requests[0][0] == "GET"


def test_injected_502_hits_only_the_matching_path(fresh, http):
    fresh.inject_faults(status=502, count=1, path_prefix="/crm/v3/objects/calls")
    assert http.get(f"{fresh.url}/crm/v3/objects/deals").status_code == 200
    assert_error(http.get(f"{fresh.url}/crm/v3/objects/calls"), 502)
    assert http.get(f"{fresh.url}/crm/v3/objects/calls").status_code == 200
    assert [path for _, path in fresh.requests] == [
        "/crm/v3/objects/deals",
        "/crm/v3/objects/calls",
        "/crm/v3/objects/calls",
    ]


def test_truncated_dropped_and_late_bodies(fresh, http):
    fresh.inject_faults(kind="truncate")
    cut = http.get(f"{fresh.url}/crm/v3/objects/deals")
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        cut.json()
    fresh.inject_faults(kind="disconnect")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{fresh.url}/crm/v3/objects/deals", headers=http.headers)
    fresh.inject_faults(kind="delay", delay=0.3)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(f"{fresh.url}/crm/v3/objects/deals", headers=http.headers, timeout=0.1)
    assert http.get(f"{fresh.url}/crm/v3/objects/deals").json()["results"]


def test_updates_show_up_in_incremental_search():
    small = generate_demo_data(seed=3, now=NOW, deals=60, activity_scale=0.05)
    deal = small.live("deals")[0]
    with DemoCrmServer(crm=small, token="t") as running:
        session = requests.Session()
        session.headers["Authorization"] = "Bearer t"
        body = {"filterGroups": [{"filters": [where("hs_lastmodifieddate", "GT", NOW_ISO)]}]}
        assert search(session, running, "deals", **body).json()["total"] == 0
        small.update("deals", deal["id"], {"amount": "999"})
        page = search(session, running, "deals", **body, properties=["amount"]).json()
        assert [r["properties"]["amount"] for r in page["results"]] == ["999"]
        assert page["results"][0]["updatedAt"] > NOW_ISO

        # Records edited in place are seen once the edit is reported (search caches per write).
        other = small.live("deals")[1]
        other["properties"]["hs_lastmodifieddate"] = "2026-10-06T00:00:00.000Z"
        small.changed("deals", [other])
        page = search(session, running, "deals", **body).json()
        assert {r["id"] for r in page["results"]} == {deal["id"], other["id"]}

        small.archive("deals", deal["id"])
        page = search(session, running, "deals", **body).json()
        assert [r["id"] for r in page["results"]] == [other["id"]]
        gone, _ = list_all(session, running, "deals", archived="true")
        assert deal["id"] in {r["id"] for r in gone}


def test_same_seed_and_now_give_identical_data_and_another_seed_does_not():
    first, second = (generate_demo_data(11, NOW, deals=150, activity_scale=0.1) for _ in range(2))
    other = generate_demo_data(seed=12, now=NOW, deals=150, activity_scale=0.1)
    assert first.objects == second.objects and first.owners == second.owners
    assert first.pipelines == second.pipelines
    assert first.objects["deals"] != other.objects["deals"]


def test_demo_data_is_a_coherent_sales_org(crm):
    counts = {t: len(records) for t, records in crm.objects.items()}
    assert counts["deals"] == 3000 and 900 <= counts["companies"] <= 1100
    assert 20_000 <= sum(counts[t] for t in ("calls", "emails", "meetings", "tasks")) <= 40_000
    stages = {s["id"]: s["metadata"] for p in crm.pipelines for s in p["stages"]}
    deals = [r["properties"] for r in crm.objects["deals"]]
    for p in deals:
        meta = stages[p["dealstage"]]
        assert p["hs_is_closed"] == meta["isClosed"]
        assert p["hs_is_closed_won"] == ("true" if meta["probability"] == "1.0" else "false")
        assert p["createdate"] <= p["hs_lastmodifieddate"] <= NOW_ISO
        if p["hs_is_closed"] == "true":
            assert p["createdate"] <= p["closedate"] <= NOW_ISO
        if p["deal_currency_code"] == "EUR" and p["amount"]:
            assert p["amount_in_home_currency"] == f"{float(p['amount']) * 1.08:.2f}"
        elif p["deal_currency_code"] != "EUR":
            assert p["amount_in_home_currency"] == p["amount"]
    share = {
        k: sum(f(p) for p in deals) / len(deals)
        for k, f in {
            "custom": lambda p: p["pipeline"] == "1234567",
            "eur": lambda p: p["deal_currency_code"] == "EUR",
            "no_amount": lambda p: p["amount"] is None,
            "unowned": lambda p: p["hubspot_owner_id"] is None,
            "overdue": lambda p: p["hs_is_closed"] == "false" and p["closedate"] < NOW_ISO,
            "won": lambda p: p["hs_is_closed_won"] == "true",
        }.items()
    }
    assert 0.15 < share["custom"] < 0.25 and 0.01 < share["eur"] < 0.04
    assert 0.015 < share["no_amount"] < 0.05 and 0.01 < share["unowned"] < 0.04
    assert share["overdue"] > 0.01 and 0.2 < share["won"] < 0.5
    meetings = [r["properties"] for r in crm.objects["meetings"]]
    assert {m["hs_meeting_outcome"] for m in meetings if m["hs_timestamp"] > NOW_ISO} == {
        "SCHEDULED"
    }
    assert "SCHEDULED" not in {
        m["hs_meeting_outcome"] for m in meetings if m["hs_timestamp"] <= NOW_ISO
    }
    # Activities linked to a deal belong to its owner (or to the rep who handed it over).
    leaver = next(o["id"] for o in crm.owners if o["archived"])
    for call in crm.live("calls"):
        for deal_id in call["associations"].get("deals", []):
            owner = crm.get("deals", deal_id)["properties"]["hubspot_owner_id"]
            assert call["properties"]["hubspot_owner_id"] in (owner, leaver)
