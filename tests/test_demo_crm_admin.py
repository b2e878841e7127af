"""Driving a demo CRM from outside: the `/_demo/` admin routes and the CLI entry points."""

import argparse
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import requests

from demo_crm import DemoCrmServer, add_demo_crm_arguments, generate_demo_data
from tests.test_demo_crm import assert_error, search

NOW = datetime(2026, 10, 5, 14, 3, 11, 123000, tzinfo=UTC)
TOKEN = "admin-test-token"


@pytest.fixture
def server():
    crm = generate_demo_data(seed=2, now=NOW, deals=120, activity_scale=0.05)
    with DemoCrmServer(crm=crm, token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    return session


def admin(http, server, method, route, body=None):
    response = http.request(method, f"{server.url}/_demo/{route}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_routes_need_the_token_and_valid_requests(server, http):
    for method, route in (("GET", "stats"), ("POST", "simulate-day"), ("POST", "faults")):
        response = requests.request(method, f"{server.url}/_demo/{route}", json={})
        assert_error(response, 401, "INVALID_AUTHENTICATION")
    assert_error(http.get(f"{server.url}/_demo/nothing-here"), 404)
    assert_error(http.post(f"{server.url}/_demo/faults", json={"colour": "red"}), 400)
    assert_error(http.post(f"{server.url}/_demo/simulate-day", json={"at": "2026-01-01"}), 400)
    assert_error(http.post(f"{server.url}/_demo/simulate-day", data=b"{not json"), 400)


def test_simulate_day_over_http_returns_counts_and_moves_the_clock(server, http):
    before = admin(http, server, "GET", "stats")
    summary = admin(http, server, "POST", "simulate-day", {"change_share": 0.05})
    assert summary["now"] == "2026-10-06T14:03:11.123Z"
    changes = summary["changes"]
    assert set(changes) == set(before["records"])
    assert sum(changes["calls"].values()) > 0 and changes["calls"]["created"] > 0
    after = admin(http, server, "GET", "stats")
    for object_type, counts in changes.items():
        grown = after["records"][object_type] - before["records"][object_type]
        assert grown == counts["created"]
        archived = after["archived_records"][object_type] - before["archived_records"][object_type]
        assert archived == counts["archived"]
    detailed = admin(
        http, server, "POST", "simulate-day", {"at": "2026-10-08T09:00:00Z", "ids": True}
    )
    assert detailed["now"] == "2026-10-08T09:00:00.000Z"
    created = detailed["ids"]["calls"]["created"]
    assert len(created) == detailed["changes"]["calls"]["created"]
    response = http.get(f"{server.url}/crm/v3/objects/calls/{created[0]}")
    assert response.status_code == 200


def test_faults_rate_limits_and_stats_over_http(server, http):
    admin(http, server, "POST", "reset-stats")
    limits = {"max_requests_per_10s": 2, "max_search_requests_per_s": 1}
    assert admin(http, server, "POST", "rate-limit", limits) == limits
    statuses = [http.get(f"{server.url}/crm/v3/owners").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert [search(http, server, "calls").status_code for _ in range(2)] == [200, 429]
    unlimited = {"max_requests_per_10s": None, "max_search_requests_per_s": None}
    assert admin(http, server, "POST", "rate-limit", unlimited) == unlimited

    fault = {"status": 503, "count": 1, "path_prefix": "/crm/v3/objects"}
    assert admin(http, server, "POST", "faults", fault) == {"pending": 1}
    assert_error(http.get(f"{server.url}/crm/v3/objects/deals"), 503)
    assert http.get(f"{server.url}/crm/v3/objects/deals").status_code == 200
    assert admin(http, server, "POST", "faults", {"status": 429, "count": 2}) == {"pending": 2}
    assert http.get(f"{server.url}/crm/v3/owners").status_code == 429

    stats = admin(http, server, "GET", "stats")  # admin calls are not counted
    assert stats["requests"] == 8 and stats["search_requests"] == 2
    assert stats["responses_429"] == 3
    assert stats["records"]["deals"] == 120
    assert admin(http, server, "DELETE", "faults") == {"pending": 0}
    assert http.get(f"{server.url}/crm/v3/owners").status_code == 200
    reset = admin(http, server, "POST", "reset-stats")
    assert (reset["requests"], reset["search_requests"], reset["responses_429"]) == (0, 0, 0)
    assert server.requests == []


def test_options_and_touch_over_http(server, http):
    options = admin(http, server, "POST", "options", {"short_pages": True, "search_lag_s": 0.5})
    assert options == {"search_lag_s": 0.5, "short_pages": True, "search_result_cap": 10_000}
    ids = [r["id"] for r in server.crm.live("emails")[:30]]
    assert admin(
        http, server, "POST", "touch", {"type": "emails", "ids": ids, "at": "2026-10-05T15:00:00Z"}
    ) == {"touched": 30}
    assert {server.crm.get("emails", i)["updatedAt"] for i in ids} == {"2026-10-05T15:00:00.000Z"}


def test_cli_arguments_and_a_server_in_another_process(tmp_path):
    parser = argparse.ArgumentParser()
    add_demo_crm_arguments(parser)
    args = parser.parse_args(["--port", "0", "--deals", "50", "--rate-limit", "40"])
    assert (args.port, args.deals, args.rate_limit, args.search_rate_limit) == (0, 50, 40, None)
    assert args.activity_scale == 1.0 and args.token == "demo-token" and args.seed == 7

    # The user's command, `crm-kpi demo-crm`, in a working directory of its own (no .env).
    argv = ["--port", "0", "--deals", "40", "--activity-scale", "0.02", "--token", TOKEN]
    argv += ["--now", "2026-10-05T14:03:11.123Z", "--search-rate-limit", "3"]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "demo-crm", *argv],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Demo HubSpot CRM at http://127.0.0.1:"), line
        url = line.split()[4]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        stats = session.get(f"{url}/_demo/stats", timeout=5).json()
        assert stats["records"]["deals"] == 40 and stats["now"] == "2026-10-05T14:03:11.123Z"
        day = session.post(f"{url}/_demo/simulate-day", json={}, timeout=5).json()
        assert day["now"] == "2026-10-06T14:03:11.123Z"
        statuses = [
            session.post(f"{url}/crm/v3/objects/deals/search", json={}, timeout=5).status_code
            for _ in range(4)
        ]
        assert 429 in statuses
    finally:
        # SIGKILL, not SIGTERM: a pytest started as a background job ignores SIGINT, Dagster maps
        # SIGTERM to SIGINT's handler once a run has gone through it, and children inherit the
        # ignored SIGTERM, so terminate() left this server running.
        process.kill()
        process.wait(timeout=5)


def test_associations_v4_batch_read_and_single_record_listing(server, http):
    crm = server.crm
    calls = crm.objects["calls"][:150]
    gone = next(r for r in crm.live("deals") if r["associations"].get("calls"))
    crm.archive("deals", gone["id"], at=NOW)
    inputs = [{"id": r["id"]} for r in calls] + [{"id": "1"}]
    url = f"{server.url}/crm/v4/associations/calls/deals/batch/read"
    answer = http.post(url, json={"inputs": inputs}).json()
    assert answer["status"] == "COMPLETE" and answer["startedAt"] and answer["completedAt"]
    got = {row["from"]["id"]: row["to"] for row in answer["results"]}
    for call in calls:
        live = [i for i in call["associations"].get("deals", []) if i != gone["id"]]
        if call["archived"] or not live:
            assert call["id"] not in got
            continue
        assert [to["toObjectId"] for to in got[call["id"]]] == [int(i) for i in live]
        types = got[call["id"]][0]["associationTypes"]
        assert types == [{"category": "HUBSPOT_DEFINED", "typeId": 206, "label": None}]
    assert got, "some calls are about deals"
    deals = [{"id": r["id"]} for r in crm.live("deals")[:5]]
    singular = f"{server.url}/crm/v4/associations/deal/company/batch/read"
    for row in http.post(singular, json={"inputs": deals}).json()["results"]:
        labels = [t.get("label") for t in row["to"][0]["associationTypes"]]
        assert labels == ["Primary", None]
    too_many = {"inputs": [{"id": str(i)} for i in range(1001)]}
    assert_error(http.post(url, json=too_many), 400)
    assert_error(http.post(url, json={"nope": []}), 400)

    # Exempt from the ten-secondly limit.
    admin(http, server, "POST", "rate-limit", {"max_requests_per_10s": 1})
    assert http.get(f"{server.url}/crm/v3/owners").status_code == 200
    assert http.post(url, json={"inputs": inputs[:3]}).status_code == 200
    assert http.get(f"{server.url}/crm/v3/owners").status_code == 429
    admin(http, server, "POST", "rate-limit", {"max_requests_per_10s": None})

    busy = max(crm.live("deals"), key=lambda r: len(r["associations"].get("calls", [])))
    expected = [
        int(i) for i in busy["associations"]["calls"] if not crm.get("calls", i)["archived"]
    ]
    listed, after = [], None
    for _ in range(len(expected)):
        params = {"limit": 2} | ({"after": after} if after else {})
        page = http.get(
            f"{server.url}/crm/v4/objects/deals/{busy['id']}/associations/calls", params=params
        ).json()
        listed += [r["toObjectId"] for r in page["results"]]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert len(expected) > 2 and listed == expected
    missing = http.get(f"{server.url}/crm/v4/objects/deals/{gone['id']}/associations/calls")
    assert_error(missing, 404)
