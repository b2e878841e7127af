"""The HubSpot client against the demo CRM over real HTTP: paging, retries, errors, secrecy."""

import logging

import pytest

from pipelines.hubspot.client import CrmAuthError, CrmError, HubSpotClient
from pipelines.hubspot.objects import DEALS

from .conftest import TOKEN


def client_for(crm, **kwargs) -> HubSpotClient:
    kwargs = {"backoff_s": 0.01, "rate_limit_wait_s": 0.05, **kwargs}
    return HubSpotClient(crm.url, TOKEN, **kwargs)


def test_paginate_returns_every_live_record_once(fresh_crm):
    with client_for(fresh_crm) as client:
        pages = [p for p, _ in client.paginate(DEALS.path, {"limit": 37, "properties": "amount"})]
    ids = [r["id"] for page in pages for r in page["results"]]
    live = [d["id"] for d in fresh_crm.crm.objects["deals"] if not d["archived"]]
    assert sorted(ids) == sorted(live)
    assert len(pages) == -(-len(live) // 37)
    assert all(set(r["properties"]) >= {"amount"} for page in pages for r in page["results"])
    assert "paging" not in pages[-1] and all("paging" in page for page in pages[:-1])


@pytest.mark.parametrize("retry_after", [None, 0])
def test_429_without_or_with_retry_after_is_retried(fresh_crm, retry_after):
    fresh_crm.inject_faults(status=429, count=3, retry_after=retry_after)
    with client_for(fresh_crm) as client:
        page = client.request("GET", DEALS.path, params={"limit": 5})
        assert len(page["results"]) == 5
        assert client.requests_sent == 4


def test_5xx_and_truncated_bodies_are_retried(fresh_crm):
    fresh_crm.inject_faults(status=502, count=2)
    fresh_crm.inject_faults(kind="truncate", count=1)
    with client_for(fresh_crm) as client:
        assert len(client.request("GET", DEALS.path, params={"limit": 3})["results"]) == 3
        assert client.requests_sent == 4


def test_gives_up_with_a_clear_message_that_never_shows_the_token(fresh_crm, caplog):
    fresh_crm.inject_faults(status=503, count=10)
    caplog.set_level(logging.DEBUG)
    with client_for(fresh_crm, max_attempts=3) as client, pytest.raises(CrmError) as failure:
        client.request("GET", DEALS.path)
    message = str(failure.value)
    assert "GET /crm/v3/objects/deals" in message and "HTTP 503" in message
    assert "3 tries" in message
    assert TOKEN not in message and TOKEN not in caplog.text


def test_a_rejected_token_is_an_auth_error_without_the_token(fresh_crm):
    with HubSpotClient(fresh_crm.url, "wrong-token-123") as client:
        with pytest.raises(CrmAuthError) as failure:
            client.request("GET", DEALS.path)
    assert "HTTP 401" in str(failure.value)
    assert "wrong-token-123" not in str(failure.value)


def test_an_unreachable_crm_fails_after_retries():
    with HubSpotClient("http://127.0.0.1:9", TOKEN, max_attempts=2, backoff_s=0.01) as client:
        with pytest.raises(CrmError, match="ConnectionError"):
            client.request("GET", DEALS.path)


@pytest.mark.parametrize(
    ("setting", "reported", "expected"),
    # Unset: the budget follows the account's limit up (a Pro portal's 190) and down; set, it
    # is a ceiling the account's answers can only lower.
    [(None, 190, 190), (None, 40, 40), ("100", 190, 100), ("100", 40, 40)],
)
def test_the_request_budget_follows_the_limit_hubspot_reports(
    fresh_crm, monkeypatch, setting, reported, expected
):
    from pipelines.hubspot.client import client_factory
    from pipelines.settings import load_settings

    fresh_crm.max_requests_per_10s = reported  # enforced, and reported in X-HubSpot-RateLimit-Max
    monkeypatch.setenv("HUBSPOT_BASE_URL", fresh_crm.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    if setting is None:
        monkeypatch.delenv("CRM_KPI_RATE_LIMIT", raising=False)
    else:
        monkeypatch.setenv("CRM_KPI_RATE_LIMIT", setting)
    make_client = client_factory(load_settings())
    with make_client() as client:
        assert client.budget.max_requests == int(setting or 100)
        client.request("GET", DEALS.path, params={"limit": 1})
        assert client.budget.max_requests == expected
        assert client.responses_429 == 0
