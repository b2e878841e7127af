"""HubSpot CRM v3 over HTTP: the shared session and retries, HubSpot's throttling and paging.

The client knows nothing of the demo CRM; point `base_url` anywhere that speaks the API.
"""

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from ..crm_http import CrmAuthError, CrmError, CrmHttpClient
from ..settings import Settings
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT = 100  # requests per 10 s of HubSpot's Free and Starter apps

# Importers of the HubSpot client name the errors from here too.
__all__ = ["CrmAuthError", "CrmError", "HubSpotClient", "client_factory"]


class HubSpotClient(CrmHttpClient):
    """A HubSpot API session with timeouts, retries, throttling and cursor paging.

    Args:
        base_url: e.g. ``https://api.hubapi.com``.
        access_token: a private-app token; kept only in the session's headers.
        max_throttled: 429 answers waited out per request before giving up.
        rate_limit_wait_s: least wait after a 429 that carries no Retry-After (HubSpot omits it
            for some policies; public connectors wait 3-10 s).
        budget: the account's request budget, shared with other clients of the same sync.
        search_budget: search's own, smaller budget (search is exempt from the 10 s one).
        Others as `CrmHttpClient`.
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
        super().__init__(base_url, timeout_s, max_attempts, backoff_s)
        self.max_throttled = max_throttled
        self.rate_limit_wait_s = rate_limit_wait_s
        self.budget = budget or RateLimiter(None, 10)
        self.search_budget = search_budget or RateLimiter(None, 1)
        self.session.headers["Authorization"] = f"Bearer {access_token}"
        self.responses_429 = 0
        self._throttled = 0  # 429s waited out for the request being sent

    def _budget(self, path: str) -> RateLimiter:
        return self.search_budget if path.endswith("/search") else self.budget

    def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, str]:
        self._throttled = 0
        return super().exchange(method, path, **kwargs)

    def before_send(self, path: str) -> None:
        self._budget(path).acquire()

    def screen(self, method: str, path: str, response: requests.Response) -> bool:
        """Throttling (429) is the budget doing its job, not a failure: it is waited out up to
        `max_throttled` times, apart from the `max_attempts` allowed for real failures."""
        budget = self._budget(path)
        budget.observe(response.headers)
        status = response.status_code
        if status in (401, 403):
            raise CrmAuthError(f"{method} {path}: HTTP {status} {self.error_text(response)}")
        if status != 429:
            return False
        self.responses_429 += 1
        self._throttled += 1
        if _policy(response) == "DAILY":
            raise CrmError(
                f"{method} {path}: HTTP 429 the account's daily API limit is used up; "
                "it resets at midnight in the portal's time zone"
            )
        if self._throttled > self.max_throttled:
            raise CrmError(f"{method} {path}: HTTP 429 still after {self._throttled} waits")
        wait = _retry_after(response, self.rate_limit_wait_s)
        budget.pause(wait)
        log.warning("%s %s: HTTP 429, waiting %.1fs", method, path, wait)
        time.sleep(wait)
        return True

    def error_text(self, response: requests.Response) -> str:
        """HubSpot's error message (category and message), short; never request headers."""
        try:
            body = response.json()
        except ValueError:
            return response.reason or ""
        if isinstance(body, dict):
            parts = [str(body.get(k)) for k in ("category", "errorType", "message") if body.get(k)]
            return ": ".join(parts)[:300]
        return response.reason or ""

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


def client_factory(settings: Settings) -> Callable[[], HubSpotClient]:
    """Clients for the fetching threads: own sessions, one shared request budget.

    With CRM_KPI_RATE_LIMIT unset the budget starts at HubSpot's smallest (100 per 10 s) and
    follows what the account reports; set, it never exceeds it.
    """
    limit = settings.rate_limit or DEFAULT_RATE_LIMIT
    budget = RateLimiter(limit, 10.0, ceiling=settings.rate_limit)
    search_budget = RateLimiter(settings.search_rate_limit, 1.0)
    token = settings.access_token()

    def make_client() -> HubSpotClient:
        return HubSpotClient(
            settings.hubspot_base_url, token, budget=budget, search_budget=search_budget
        )

    return make_client
