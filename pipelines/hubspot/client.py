"""HubSpot CRM v3 over HTTP: one session, one retry policy, one pagination loop.

The client knows nothing of the demo CRM; point `base_url` anywhere that speaks the API.
"""

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from ..settings import Settings
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# Resets, timeouts, and connections dropped halfway through a body.
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class CrmError(Exception):
    """The CRM could not be read; the message names the request, never the token."""


class CrmAuthError(CrmError):
    """The token is missing, wrong, expired or lacks a scope: a user error, not a bug."""


class HubSpotClient:
    """A HubSpot API session with timeouts, retries and cursor paging.

    Args:
        base_url: e.g. ``https://api.hubapi.com``.
        access_token: a private-app token; kept only in the session's headers.
        timeout_s: connect and read timeout of every request.
        max_attempts: tries per request before giving up on failures (5xx, resets, bad bodies).
        max_throttled: 429 answers waited out per request before giving up.
        backoff_s: first wait between tries; doubles each time, with jitter.
        rate_limit_wait_s: least wait after a 429 that carries no Retry-After (HubSpot omits it
            for some policies; public connectors wait 3-10 s).
        budget: the account's request budget, shared with other clients of the same sync.
        search_budget: search's own, smaller budget (search is exempt from the 10 s one).
    """

    def __init__(
        self,
        base_url: str,
        access_token: str,
        timeout_s: float = 30.0,
        max_attempts: int = 6,
        max_throttled: int = 30,
        backoff_s: float = 0.5,
        rate_limit_wait_s: float = 3.0,
        budget: RateLimiter | None = None,
        search_budget: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.max_throttled = max_throttled
        self.backoff_s = backoff_s
        self.rate_limit_wait_s = rate_limit_wait_s
        self.budget = budget or RateLimiter(None, 10)
        self.search_budget = search_budget or RateLimiter(None, 1)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {access_token}"
        self.session.headers["Accept"] = "application/json"
        self.requests_sent = 0
        self.responses_429 = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "HubSpotClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request, retrying throttling, server errors, resets and broken bodies.

        Throttling (429) is the budget doing its job, not a failure: it is waited out up to
        `max_throttled` times, apart from the `max_attempts` allowed for real failures.
        """
        return self.exchange(method, path, **kwargs)[0]

    def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, str]:
        """`request`, answering the body both decoded and as the text received.

        Bulk loaders hand the text to DuckDB, which parses it faster than Python re-encodes it.
        """
        url = f"{self.base_url}{path}"
        budget = self.search_budget if path.endswith("/search") else self.budget
        failures = throttled = 0
        while True:
            budget.acquire()
            self.requests_sent += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except TRANSPORT_ERRORS as exc:
                failure = type(exc).__name__
            else:
                status = response.status_code
                budget.observe(response.headers)
                if status == 429:
                    self.responses_429 += 1
                    throttled += 1
                    if _policy(response) == "DAILY":
                        raise CrmError(
                            f"{method} {path}: HTTP 429 the account's daily API limit is used up; "
                            "it resets at midnight in the portal's time zone"
                        )
                    if throttled > self.max_throttled:
                        raise CrmError(f"{method} {path}: HTTP 429 still after {throttled} waits")
                    wait = _retry_after(response, self.rate_limit_wait_s)
                    budget.pause(wait)
                    log.warning("%s %s: HTTP 429, waiting %.1fs", method, path, wait)
                    time.sleep(wait)
                    continue
                if status in (401, 403):
                    raise CrmAuthError(f"{method} {path}: HTTP {status} {_error_text(response)}")
                if status < 400:
                    try:
                        # JSON is UTF-8 (RFC 8259): decode it so, rather than guess the encoding.
                        text = response.content.decode()
                        return json.loads(text), text
                    except ValueError:  # UnicodeDecodeError included
                        # A truncated or non-JSON body: the server or a proxy cut it short.
                        failure = f"HTTP {status} with a body that is not valid JSON"
                elif status in RETRYABLE_STATUSES:
                    failure = f"HTTP {status} {_error_text(response)}"
                else:
                    raise CrmError(f"{method} {path}: HTTP {status} {_error_text(response)}")
            failures += 1
            if failures >= self.max_attempts:
                raise CrmError(f"{method} {path}: gave up after {failures} tries: {failure}")
            wait = self.backoff_s * 2 ** (failures - 1) * (1 + random.random() / 2)
            log.warning("%s %s: %s; retry %d in %.1fs", method, path, failure, failures, wait)
            time.sleep(wait)

    def paginate(
        self, path: str, params: dict[str, Any] | None = None
    ) -> Iterator[tuple[dict, str]]:
        """Yield each page of a list endpoint (decoded, and as text), following the cursor
        `paging.next.after`.

        HubSpot can return short or empty pages that still carry `paging.next`, so the loop
        stops only when `paging` is absent.
        """
        params = dict(params or {})
        while True:
            page, text = self.exchange("GET", path, params=params)
            yield page, text
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            params["after"] = after


def _policy(response: requests.Response) -> str | None:
    try:
        return response.json().get("policyName")
    except (ValueError, AttributeError):
        return None


def _retry_after(response: requests.Response, default_s: float) -> float:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return default_s


def _error_text(response: requests.Response) -> str:
    """HubSpot's error message (category and message), short; never request headers."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("category", "errorType", "message") if body.get(k)]
        return ": ".join(parts)[:300]
    return response.reason or ""


def client_factory(settings: Settings) -> Callable[[], HubSpotClient]:
    """Clients for the fetching threads: own sessions, one shared request budget."""
    budget = RateLimiter(settings.rate_limit, 10.0)
    search_budget = RateLimiter(settings.search_rate_limit, 1.0)
    token = settings.access_token()

    def make_client() -> HubSpotClient:
        return HubSpotClient(
            settings.hubspot_base_url, token, budget=budget, search_budget=search_budget
        )

    return make_client
