"""The demo Salesforce org: OAuth, SOQL, query/queryAll paging, limits, faults, and that it
dresses the same sales org as the HubSpot demo (same owners, stages, amounts, activity)."""

import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests

from demo_crm import DemoSalesforceServer, generate_demo_data, simulate_day
from demo_crm.salesforce.ids import salesforce_id
from demo_crm.salesforce.reference import CURRENCY_RATES
from demo_crm.salesforce.soql import Comparison, Logical, Not, SoqlError, compile_condition, parse
from pipelines.salesforce.objects import SALESFORCE_OBJECTS

NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
API = "/services/data/v65.0"


def small_crm():
    return generate_demo_data(seed=7, now=NOW, deals=60, activity_scale=0.2)


@pytest.fixture(scope="module")
def org():
    """A server nobody changes: read-only tests share it."""
    with DemoSalesforceServer(crm=small_crm()) as server:
        yield server


@pytest.fixture
def fresh():
    with DemoSalesforceServer(crm=small_crm()) as server:
        yield server


class Client:
    def __init__(self, server: DemoSalesforceServer) -> None:
        self.url = server.url
        self.session = requests.Session()
        self.login()

    def login(self) -> None:
        answer = requests.post(
            f"{self.url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
            },
            timeout=10,
        )
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, timeout=10, **kwargs)

    def query(self, soql: str, every: bool = False, batch: int | None = None) -> requests.Response:
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        resource = "queryAll" if every else "query"
        return self.get(f"{API}/{resource}", params={"q": soql}, headers=headers)

    def records(self, soql: str, every: bool = True, batch: int | None = None) -> list[dict]:
        page = self.query(soql, every, batch).json()
        records = page["records"]
        while not page["done"]:
            page = self.session.get(self.url + page["nextRecordsUrl"], timeout=10).json()
            records += page["records"]
        return records


def by_id(records: list[dict]) -> dict[str, dict]:
    return {r["Id"]: r for r in records}


# ---------- OAuth and sessions


def test_client_credentials_give_a_bearer_token_for_the_servers_own_url(org):
    answer = requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "demo-client"}
        | {"client_secret": "demo-secret"},
        timeout=10,
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["instance_url"] == org.url and body["token_type"] == "Bearer"
    assert {"access_token", "issued_at", "id", "signature"} <= set(body)
    wrong = requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "demo-client"}
        | {"client_secret": "nope"},
        timeout=10,
    )
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
    password = requests.post(
        f"{org.url}/services/oauth2/token", data={"grant_type": "password"}, timeout=10
    )
    assert password.status_code == 400 and password.json()["error"] == "unsupported_grant_type"


def test_expired_sessions_get_401_until_the_client_logs_in_again(fresh):
    client = Client(fresh)
    assert client.query("SELECT Id FROM User").status_code == 200
    fresh.expire_tokens()
    expired = client.query("SELECT Id FROM User")
    assert expired.status_code == 401
    assert expired.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    client.login()
    assert client.query("SELECT Id FROM User").status_code == 200
    # Sessions may also time out on their own.
    fresh.token_lifetime_s = 60
    moment = [1000.0]
    fresh.clock = lambda: moment[0]
    client.login()
    assert client.query("SELECT Id FROM User").status_code == 200
    moment[0] += 61
    assert client.query("SELECT Id FROM User").status_code == 401


def test_versions_need_no_session_and_report_no_usage(org):
    answer = requests.get(f"{org.url}/services/data/", timeout=10)
    assert answer.status_code == 200 and "Sforce-Limit-Info" not in answer.headers
    assert {"version": "65.0", "label": "Winter '26", "url": API} in answer.json()
    assert requests.get(f"{org.url}{API}/sobjects/", timeout=10).status_code == 401


# ---------- describe and currencies


def test_a_multi_currency_org_describes_currency_fields_and_a_single_currency_org_does_not():
    crm = small_crm()
    with DemoSalesforceServer(crm=crm, multi_currency=False) as single:
        client = Client(single)
        described = client.get(f"{API}/sobjects/Opportunity/describe/").json()
        assert "CurrencyIsoCode" not in {f["name"] for f in described["fields"]}
        missing = client.get(f"{API}/sobjects/CurrencyType/describe/")
        assert missing.status_code == 404
        message = "sObject type 'CurrencyType' is not supported."
        refused = [{"message": message, "errorCode": "INVALID_TYPE"}]
        assert missing.json() == refused
        query = client.query("SELECT Id FROM CurrencyType")
        assert query.status_code == 400 and query.json() == refused
        no_column = client.query("SELECT Id, CurrencyIsoCode FROM Opportunity")
        assert no_column.status_code == 400
        assert no_column.json()[0]["errorCode"] == "INVALID_FIELD"
        assert no_column.json()[0]["message"].startswith(
            "No such column 'CurrencyIsoCode' on entity 'Opportunity'"
        )
        amounts = {
            r["Id"]: r["Amount"] for r in client.records("SELECT Id, Amount FROM Opportunity")
        }
    for deal in crm.objects["deals"]:
        home = deal["properties"]["amount_in_home_currency"]
        served = amounts[salesforce_id("Opportunity", int(deal["id"]))]
        assert served == (float(home) if home else None)


def test_describe_lists_every_field_the_pipeline_selects(org):
    client = Client(org)
    names = {s["name"] for s in client.get(f"{API}/sobjects/").json()["sobjects"]}
    for obj in SALESFORCE_OBJECTS:
        assert obj.sobject in names
        described = client.get(f"{API}/sobjects/{obj.sobject}/describe/").json()
        fields = {f["name"]: f for f in described["fields"]}
        assert set(obj.fields) <= set(fields), obj.sobject
        assert fields["SystemModstamp"]["type"] == "datetime" and fields["Id"]["filterable"]


def test_every_amount_converts_to_hubspots_home_amount_to_the_cent(org):
    client = Client(org)
    soql = "SELECT IsoCode, ConversionRate, IsCorporate FROM CurrencyType"
    rates = {r["IsoCode"]: r for r in client.records(soql)}
    assert rates["USD"]["IsCorporate"] and rates["USD"]["ConversionRate"] == 1
    assert rates["EUR"]["ConversionRate"] == CURRENCY_RATES["EUR"] == 0.925925926
    served = by_id(client.records("SELECT Id, Amount, CurrencyIsoCode FROM Opportunity"))
    currencies = Counter()
    for deal in org.crm.objects["deals"]:
        props = deal["properties"]
        row = served[salesforce_id("Opportunity", int(deal["id"]))]
        currencies[row["CurrencyIsoCode"]] += 1
        assert row["CurrencyIsoCode"] == props["deal_currency_code"]
        if props["amount"] is None:
            assert row["Amount"] is None
            continue
        rate = rates[row["CurrencyIsoCode"]]["ConversionRate"]
        assert round(row["Amount"] / rate, 2) == float(props["amount_in_home_currency"])
    assert currencies["USD"] > 0


def test_amounts_convert_to_the_cent_in_a_large_org_with_many_euro_deals():
    crm = generate_demo_data(seed=3, now=NOW, deals=4000, activity_scale=0.01)
    euro = [d for d in crm.objects["deals"] if d["properties"]["deal_currency_code"] == "EUR"]
    assert len(euro) > 40
    from demo_crm.salesforce.org import Org

    org = Org(crm)
    rows = by_id(org.rows("Opportunity"))
    for deal in euro:
        row = rows[salesforce_id("Opportunity", int(deal["id"]))]
        home = deal["properties"]["amount_in_home_currency"]
        if home is not None:
            assert round(row["Amount"] / CURRENCY_RATES["EUR"], 2) == float(home), deal["id"]
    # Queues own some tasks of their own (no rep's, so no KPI counts them).
    queue = org.dresser.shared_inbox
    assert any(
        r["OwnerId"] == queue and r["Subject"] == "Review inbound request" for r in org.rows("Task")
    )


# ---------- SOQL


ROWS = [
    {"Id": "a1", "Name": "Acme", "Amount": 100.0, "CloseDate": "2026-11-18", "IsWon": True}
    | {"CreatedDate": "2026-11-18T10:00:00.000+0000"},
    {"Id": "a2", "Name": "Blue 50%", "Amount": None, "CloseDate": "2026-11-19", "IsWon": False}
    | {"CreatedDate": "2026-11-18T23:30:00.000+0000"},
    {"Id": "a3", "Name": "O'Brien", "Amount": 300.0, "CloseDate": "2026-11-17", "IsWon": False}
    | {"CreatedDate": "2026-11-17T08:00:00.000+0000"},
]
TYPES = {
    "id": "id",
    "name": "string",
    "amount": "currency",
    "closedate": "date",
    "iswon": "boolean",
    "createddate": "datetime",
}
CANONICAL = {"id": "Id", "name": "Name", "amount": "Amount", "closedate": "CloseDate"}
CANONICAL |= {"iswon": "IsWon", "createddate": "CreatedDate"}


def matching(where: str) -> list[str]:
    query = parse(f"SELECT Id FROM Thing WHERE {where}")

    def resolve(name: str):
        key = name.lower()
        if key not in TYPES:
            raise SoqlError("INVALID_FIELD", f"No such column '{name}'")
        return (lambda row: row[CANONICAL[key]]), TYPES[key]

    keep = compile_condition(query.where, resolve)
    return [row["Id"] for row in ROWS if keep(row)]


@pytest.mark.parametrize(
    ("where", "ids"),
    [
        ("Amount = 100", ["a1"]),
        ("Amount != 100", ["a2", "a3"]),  # SOQL's != keeps nulls
        ("Amount <> 100", ["a2", "a3"]),
        ("Amount > 100", ["a3"]),
        ("Amount >= 100", ["a1", "a3"]),
        ("Amount < 300", ["a1"]),
        ("Amount <= 300.0", ["a1", "a3"]),
        ("Amount = null", ["a2"]),
        ("Amount != null", ["a1", "a3"]),
        ("name = 'ACME'", ["a1"]),  # text compares case-insensitively
        ("Name = 'O\\'Brien'", ["a3"]),
        ("Name IN ('acme', 'nobody')", ["a1"]),
        ("Name NOT IN ('acme')", ["a2", "a3"]),
        ("Name LIKE 'b%'", ["a2"]),
        ("Name LIKE '%50\\%'", ["a2"]),
        ("Name LIKE '_cme'", ["a1"]),
        ("IsWon = true", ["a1"]),
        ("IsWon = FALSE", ["a2", "a3"]),
        ("CloseDate = 2026-11-18", ["a1"]),
        ("CloseDate > 2026-11-17", ["a1", "a2"]),
        ("CreatedDate >= 2026-11-18T00:00:00Z", ["a1", "a2"]),
        ("CreatedDate < 2026-11-18T10:00:00.000+0000", ["a3"]),
        ("CreatedDate > 2026-11-18T11:00:00+01:00", ["a2"]),  # 10:00 UTC, an instant
        ("CreatedDate <= 2026-11-18T10:00:00.000Z", ["a1", "a3"]),
        ("IsWon = true OR Amount > 200 AND Name = 'nobody'", ["a1"]),  # AND binds first
        ("(IsWon = true OR Amount > 200) AND Name != 'nobody'", ["a1", "a3"]),
        ("NOT Amount = 100", ["a2", "a3"]),
        ("NOT (Amount = 100 OR Amount = 300)", ["a2"]),
        ("IsWon = false AND NOT Name LIKE 'b%'", ["a3"]),
    ],
)
def test_soql_conditions_select_the_right_rows(where, ids):
    assert matching(where) == ids


def test_soql_binds_and_before_or_and_not_tighter_than_both():
    where = parse("SELECT Id FROM X WHERE A = 1 OR NOT B = 2 AND C = 3").where
    assert isinstance(where, Logical) and where.operator == "OR"
    assert isinstance(where.conditions[0], Comparison)
    conjunction = where.conditions[1]
    assert isinstance(conjunction, Logical) and conjunction.operator == "AND"
    assert isinstance(conjunction.conditions[0], Not)


def test_soql_parses_select_lists_counts_order_limit_and_offset():
    query = parse(
        "select Id, Owner.Email from Opportunity where Amount > 0 "
        "order by CloseDate desc nulls last, Name limit 10 offset 5"
    )
    assert query.sobject == "Opportunity" and query.fields == ("Id", "Owner.Email")
    assert [(o.field, o.descending, o.nulls_first) for o in query.order_by] == [
        ("CloseDate", True, False),
        ("Name", False, None),
    ]
    assert (query.limit, query.offset) == (10, 5)
    count = parse("SELECT COUNT() FROM Task")
    assert count.is_count and count.fields == ()


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Task",
        "SELECT Id Task",
        "SELECT Id FROM Task WHERE",
        "SELECT Id FROM Task WHERE Amount = ",
        "SELECT Id FROM Task WHERE Name = 'open",
        "SELECT Id FROM Task WHERE (Amount = 1",
        "SELECT Id FROM Task WHERE Amount == 1",
        "SELECT Id FROM Task LIMIT -1",
        "SELECT Id FROM Task WHERE CreatedDate > 2026-11-18T00:00:00",  # no zone
        "SELECT Id FROM Task WHERE CreatedDate > LAST_N_DAYS:7",
        "SELECT COUNT(Id) FROM Task",
        "SELECT Id FROM Task; DELETE",
        "SELECT Id, FROM Task",
        "SELECT Id FROM Task WHERE Name = 'a\\q'",
    ],
)
def test_soql_outside_the_subset_is_malformed(soql):
    with pytest.raises(SoqlError) as refused:
        parse(soql)
    assert refused.value.code == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    "where",
    [
        "CloseDate = 2026-11-18T00:00:00Z",  # a date field wants a date
        "CreatedDate > 2026-11-18",  # and a datetime field a datetime
        "Amount = '100'",
        "IsWon = 'true'",
        "Name = 5",
        "Nope = 1",
    ],
)
def test_soql_values_must_fit_their_fields(where):
    with pytest.raises(SoqlError) as refused:
        matching(where)
    assert refused.value.code == "INVALID_FIELD"


def test_queries_over_http_answer_counts_relationships_order_and_errors(org):
    client = Client(org)
    count = client.query("SELECT COUNT() FROM Opportunity").json()
    live = [d for d in org.crm.objects["deals"] if not d["archived"]]
    assert count == {"totalSize": len(live), "done": True, "records": []}
    top = client.query(
        "SELECT Id, Amount, owner.email, RecordType.Name FROM Opportunity "
        "WHERE Amount != null ORDER BY Amount DESC, Id LIMIT 3 OFFSET 1"
    ).json()["records"]
    amounts = [float(d["properties"]["amount"]) for d in live if d["properties"]["amount"]]
    amounts.sort(reverse=True)
    assert [r["Amount"] for r in top] == amounts[1:4]
    emails = {o["email"] for o in org.crm.owners} | {"integration@northpeak-software.example"}
    assert top[0]["Owner"]["Email"] in emails and top[0]["Owner"]["attributes"]["type"] == "User"
    assert top[0]["RecordType"]["Name"] in ("Sales Pipeline", "Renewals")
    url = f"{API}/sobjects/Opportunity/{top[0]['Id']}"
    assert top[0]["attributes"] == {"type": "Opportunity", "url": url}
    for soql, code in [
        ("SELECT Id FROM Nothing", "INVALID_TYPE"),
        ("SELECT Nope FROM Task", "INVALID_FIELD"),
        ("SELECT Id FROM Task WHERE Nobody.Name = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Task WHERE ActivityDate > 2026-01-01T00:00:00Z", "INVALID_FIELD"),
        ("SELECT Id FROM Task WHERE", "MALFORMED_QUERY"),
    ]:
        answer = client.query(soql)
        assert answer.status_code == 400 and answer.json()[0]["errorCode"] == code, soql
    datetimes = client.query("SELECT CreatedDate, CloseDate FROM Opportunity LIMIT 1").json()
    record = datetimes["records"][0]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", record["CreatedDate"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["CloseDate"])


def test_ids_are_18_characters_with_key_prefixes_and_salesforces_checksum():
    opportunity = salesforce_id("Opportunity", 9_999_995_001)
    assert len(opportunity) == 18 and opportunity.startswith("006")
    assert salesforce_id("User", 40_000_001).startswith("005")
    for start, check in zip((0, 5, 10), opportunity[15:], strict=True):
        bits = sum(1 << i for i, ch in enumerate(opportunity[start : start + 5]) if ch.isupper())
        assert check == "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    assert salesforce_id("Task", 41_000_000_001) < salesforce_id("Task", 41_000_000_002)


# ---------- query and queryAll, paging


def test_query_hides_deleted_and_archived_rows_and_query_all_shows_them(fresh):
    client = Client(fresh)
    deal = next(d for d in fresh.crm.objects["deals"] if not d["archived"])
    fresh.crm.archive("deals", deal["id"], NOW)
    opportunity_id = salesforce_id("Opportunity", int(deal["id"]))
    soql = f"SELECT Id, IsDeleted FROM Opportunity WHERE Id = '{opportunity_id}'"
    assert client.query(soql).json()["totalSize"] == 0
    assert client.query(soql, every=True).json()["records"][0]["IsDeleted"] is True
    history = "SELECT Id, IsDeleted FROM OpportunityHistory"
    history += f" WHERE OpportunityId = '{opportunity_id}'"
    rows = client.records(history)
    assert rows and all(r["IsDeleted"] for r in rows)
    tasks = client.records("SELECT Id, IsArchived, IsClosed, IsDeleted FROM Task")
    archived = {r["Id"] for r in tasks if r["IsArchived"]}
    assert archived and all(r["IsClosed"] for r in tasks if r["IsArchived"])
    visible = {r["Id"] for r in client.records("SELECT Id FROM Task", every=False)}
    assert not visible & archived
    assert visible == {r["Id"] for r in tasks if not r["IsArchived"] and not r["IsDeleted"]}


def test_paging_follows_next_records_url_through_short_pages_to_done(fresh):
    fresh.api.short_pages = True
    client = Client(fresh)
    first = client.query("SELECT Id FROM Task ORDER BY Id", every=True, batch=200).json()
    total, pages, ids = first["totalSize"], [first], []
    assert total > 1000 and not first["done"]
    assert re.fullmatch(rf"{API}/query/01g\w+-\d+", first["nextRecordsUrl"])
    # A change after the first page does not move the snapshot.
    simulate_day(fresh.crm, NOW + timedelta(days=1), change_share=0.05)
    while not pages[-1]["done"]:
        pages.append(client.get(pages[-1]["nextRecordsUrl"]).json())
    for page in pages:
        ids += [r["Id"] for r in page["records"]]
        assert page["totalSize"] == total and len(page["records"]) <= 200
    assert any(len(p["records"]) < 200 for p in pages[:-1])
    assert len(ids) == len(set(ids)) == total and ids == sorted(ids)
    assert "nextRecordsUrl" not in pages[-1]
    gone = client.get(pages[0]["nextRecordsUrl"])  # finished cursors are closed
    assert gone.status_code == 400 and gone.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert client.get(f"{API}/query/01gNOPE-200").status_code == 400


def test_the_default_batch_is_2000_and_the_header_is_clamped(org):
    client = Client(org)
    assert len(client.query("SELECT Id FROM Task").json()["records"]) == 2000
    assert len(client.query("SELECT Id FROM Task", batch=50).json()["records"]) == 200


# ---------- limits and faults


def test_every_api_answer_reports_usage_and_the_daily_allocation_stops_requests(fresh):
    client = Client(fresh)
    first = client.query("SELECT Id FROM User")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    limits = client.get(f"{API}/limits/").json()
    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - 2}
    fresh.set_api_usage(99, 100)
    assert client.query("SELECT Id FROM User").headers["Sforce-Limit-Info"] == "api-usage=100/100"
    refused = client.query("SELECT Id FROM User")
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=100/100"
    # The allocation rolls: a day later the requests have aged out.
    moment = [fresh.clock() + 86_401]
    fresh.clock = lambda: moment[0]
    assert client.query("SELECT Id FROM User").status_code == 200
    fresh.use_api_requests(500)
    assert fresh.api_usage() == (501, 100)


def test_limits_are_hidden_from_a_user_without_view_setup():
    with DemoSalesforceServer(crm=small_crm(), limits_visible=False) as server:
        answer = Client(server).get(f"{API}/limits/")
    assert answer.status_code == 403
    assert answer.json() == [
        {"message": "The requested resource does not exist", "errorCode": "INSUFFICIENT_ACCESS"}
    ]


def test_faults_fail_the_next_requests_and_then_clear(fresh):
    client = Client(fresh)
    fresh.clear_requests()
    fresh.inject_faults("status", count=2, status=503)
    assert [client.query("SELECT Id FROM User").status_code for _ in range(3)] == [503, 503, 200]
    fresh.inject_faults("concurrency", path_contains="/queryAll")
    assert client.query("SELECT Id FROM User").status_code == 200  # not a queryAll
    busy = client.query("SELECT Id FROM User", every=True)
    assert busy.status_code == 403 and "ConcurrentPerOrgLongTxn" in busy.json()[0]["message"]
    fresh.inject_faults("expire_token")
    assert client.query("SELECT Id FROM User").status_code == 401
    client.login()
    fresh.inject_faults("not_json", status=200)
    with pytest.raises(ValueError):
        client.query("SELECT Id FROM User").json()
    fresh.inject_faults("truncate")
    with pytest.raises(ValueError):
        client.query("SELECT Id FROM User").json()
    fresh.inject_faults("disconnect")
    with pytest.raises(requests.RequestException):
        client.query("SELECT Id FROM User")
    fresh.inject_faults("delay", delay=0.5)
    with pytest.raises(requests.Timeout):
        client.session.get(f"{fresh.url}{API}/limits/", timeout=0.1)
    assert fresh.pending_faults() == 0
    logged = [(m, p) for m, p, _q in fresh.requests]
    assert logged.count(("GET", f"{API}/query")) == 8
    assert ("GET", f"{API}/queryAll", "SELECT Id FROM User") in fresh.requests


def test_admin_routes_drive_a_server_in_another_process(fresh):
    admin = requests.Session()
    admin.headers["Authorization"] = "Bearer demo-secret"
    client = Client(fresh)
    assert admin.post(f"{fresh.url}/_demo/faults", json={"status": 500}).json() == {"pending": 1}
    assert client.query("SELECT Id FROM User").status_code == 500
    usage = admin.post(f"{fresh.url}/_demo/api-usage", json={"used": 10, "max": 10}).json()
    assert usage == {"used": 10, "max": 10}
    assert client.query("SELECT Id FROM User").status_code == 403
    admin.post(f"{fresh.url}/_demo/api-usage", json={"used": 0, "max": 1000})
    admin.post(f"{fresh.url}/_demo/expire-tokens")
    assert client.query("SELECT Id FROM User").status_code == 401
    client.login()
    day = admin.post(f"{fresh.url}/_demo/simulate-day", json={"change_share": 0.02}).json()
    assert day["changes"]["deals"]["updated"] > 0
    assert admin.post(f"{fresh.url}/_demo/purge", json={}).json()["purged"] >= 0
    assert admin.get(f"{fresh.url}/_demo/stats").json()["requests"] > 0
    refused = requests.post(f"{fresh.url}/_demo/purge", json={}, timeout=10)
    assert refused.status_code == 401


# ---------- the same org as HubSpot's, and it changes with it


def test_simulated_days_add_history_rows_and_bump_system_modstamp(fresh):
    client = Client(fresh)
    history = "SELECT Id, OpportunityId, StageName, CreatedDate FROM OpportunityHistory"
    before = by_id(client.records(history))
    changes = simulate_day(fresh.crm, NOW + timedelta(hours=20), change_share=0.05)
    after = by_id(client.records(history))
    new_rows = [r for i, r in after.items() if i not in before]
    moved = {
        salesforce_id("Opportunity", int(d))
        for d in changes["deals"]["updated"] + changes["deals"]["created"]
    }
    assert new_rows and {r["OpportunityId"] for r in new_rows} <= moved
    assert all(r["CreatedDate"] > "2026-11-18T15:00:00.000+0000" for r in new_rows)
    changed_deals = client.records(
        "SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-11-18T15:00:00Z"
    )
    everything = set(changes["deals"]["updated"] + changes["deals"]["created"])
    everything |= set(changes["deals"]["archived"])
    assert {r["Id"] for r in changed_deals} == {
        salesforce_id("Opportunity", int(d)) for d in everything
    }
    changed_tasks = {
        r["Id"]
        for r in client.records("SELECT Id FROM Task WHERE SystemModstamp >= 2026-11-18T15:00:00Z")
    }
    created_calls = {salesforce_id("Task", int(i)) for i in changes["calls"]["created"]}
    assert created_calls and created_calls <= changed_tasks


def test_purge_empties_the_recycle_bin_of_records_deleted_before_a_time(fresh):
    client = Client(fresh)
    deal, later = [d for d in fresh.crm.objects["deals"] if not d["archived"]][:2]
    fresh.crm.archive("deals", deal["id"], NOW - timedelta(days=20))
    fresh.crm.archive("deals", later["id"], NOW - timedelta(days=2))
    soql = "SELECT Id FROM Opportunity WHERE IsDeleted = true"
    deleted = {r["Id"] for r in client.records(soql)}
    old, recent = (salesforce_id("Opportunity", int(d["id"])) for d in (deal, later))
    assert {old, recent} <= deleted
    assert fresh.purge(NOW - timedelta(days=15)) >= 1
    remaining = {r["Id"] for r in client.records(soql)}
    assert old not in remaining and recent in remaining
    history = client.records(f"SELECT Id FROM OpportunityHistory WHERE OpportunityId = '{old}'")
    assert history == []


def test_the_org_dresses_the_same_owners_stages_and_activity_as_hubspot(org):
    client = Client(org)
    crm = org.crm
    users = by_id(client.records("SELECT Id, Email, IsActive, UserType, UserRole.Name FROM User"))
    reps = {u["Email"]: u for u in users.values() if u["UserType"] == "Standard"}
    assert set(reps) == {o["email"] for o in crm.owners}
    for owner in crm.owners:
        assert reps[owner["email"]]["IsActive"] is not owner["archived"]
        assert reps[owner["email"]]["UserRole"]["Name"] == owner["teams"][0]["name"]
    assert any(u["UserType"] != "Standard" for u in users.values())
    stages = client.records("SELECT ApiName, SortOrder, IsClosed, IsWon FROM OpportunityStage")
    assert [s["SortOrder"] for s in stages] == list(range(1, 13))
    assert {s["ApiName"] for s in stages if s["IsWon"]} == {"Closed Won", "Renewed"}
    soql = "SELECT Id, StageName, CloseDate, Owner.Email FROM Opportunity"
    opportunities = by_id(client.records(soql))
    labels = {s["id"]: s["label"] for p in crm.pipelines for s in p["stages"]}
    email = {o["id"]: o["email"] for o in crm.owners}
    entered = 0
    for deal in crm.objects["deals"]:
        props = deal["properties"]
        row = opportunities[salesforce_id("Opportunity", int(deal["id"]))]
        assert row["StageName"] == labels[props["dealstage"]]
        assert row["CloseDate"] == props["closedate"][:10]
        if props["hubspot_owner_id"]:
            assert row["Owner"]["Email"] == email[props["hubspot_owner_id"]]
        entered += sum(1 for k, v in props.items() if k.startswith("hs_date_entered_") and v)
    history = client.records("SELECT Id, OpportunityId, StageName FROM OpportunityHistory")
    assert len(history) > entered  # every entry, plus repeats after edits
    distinct = {(r["OpportunityId"], r["StageName"]) for r in history}
    assert len(distinct) == entered
    tasks = client.records("SELECT TaskSubtype, Subject, Owner.Email FROM Task")
    kinds = Counter(r["TaskSubtype"] for r in tasks)
    assert kinds["Call"] == len(crm.objects["calls"])
    assert kinds["Email"] + kinds["ListEmail"] == len(crm.objects["emails"])
    queue_tasks = sum(1 for r in tasks if r["Owner"]["attributes"]["type"] == "Group")
    shared_inbox = sum(1 for e in crm.objects["emails"] if not e["properties"]["hubspot_owner_id"])
    own = sum(1 for r in tasks if r["Subject"] == "Review inbound request")
    assert queue_tasks == shared_inbox + own
    events = client.records("SELECT Id, IsChild, Subject, EndDateTime FROM Event")
    assert sum(not e["IsChild"] for e in events) == len(crm.objects["meetings"])
    assert any(e["IsChild"] for e in events)
    # Held in HubSpot (outcome COMPLETED) = ended by now and not marked as not held.
    served = by_id(events)
    as_of = "2026-11-18T15:00:00.000+0000"
    for meeting in crm.objects["meetings"]:
        event = served[salesforce_id("Event", int(meeting["id"]))]
        marked = event["Subject"].split(": ")[0] in ("Canceled", "No-show", "Rescheduled")
        held = event["EndDateTime"] <= as_of and not marked
        assert held is (meeting["properties"]["hs_meeting_outcome"] == "COMPLETED"), meeting["id"]


def test_a_deal_can_carry_its_own_probability(fresh):
    client = Client(fresh)
    deal = fresh.crm.objects["deals"][0]
    opportunity_id = salesforce_id("Opportunity", int(deal["id"]))
    soql = f"SELECT Probability FROM Opportunity WHERE Id = '{opportunity_id}'"
    stage_default = float(deal["properties"]["hs_deal_stage_probability"]) * 100
    assert client.records(soql)[0]["Probability"] == stage_default
    fresh.override_probability(deal["id"], 42)
    assert client.records(soql)[0]["Probability"] == 42


# ---------- the command


def test_the_demo_crm_command_serves_salesforce_and_prints_where(tmp_path):
    command = [sys.executable, "-m", "pipelines.cli", "demo-crm", "--crm", "salesforce"]
    command += ["--port", "0", "--deals", "30", "--activity-scale", "0.05"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(
            r"Demo Salesforce org at (http://127\.0\.0\.1:\d+)  client id: demo-client  "
            r"client secret: demo-secret  \(Ctrl-C to stop\)\n",
            line,
        )
        assert match, line
        answer = requests.post(
            f"{match.group(1)}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "demo-client"}
            | {"client_secret": "demo-secret"},
            timeout=10,
        )
        assert answer.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
