"""Salesforce's REST API over HTTP: OAuth 2.0 client credentials, queryAll paging, the org's
daily request allocation, and Salesforce's two shapes of error body.

The client knows nothing of the demo org; point it at anything that speaks the REST API.
"""

import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests

from ..crm_http import CrmAuthError, CrmError, CrmHttpClient
from ..raw_sync import CrmLimitReached
from ..settings import ConfigError, Settings

log = logging.getLogger(__name__)

QUERY_BATCH_SIZE = 2_000  # Salesforce's largest; a hint, pages may come back shorter
TOKEN_PATH = "/services/oauth2/token"
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def error_text(response: requests.Response) -> str:
    """Salesforce's error: `[{message, errorCode}]` from the API, `{error, error_description}`
    from the token endpoint; short, never a header."""
    try:
        body = response.json()
    except ValueError:
        return response.reason or ""
    if isinstance(body, list):
        parts = [f"{e.get('errorCode')}: {e.get('message')}" for e in body if isinstance(e, dict)]
        return "; ".join(parts)[:300]
    if isinstance(body, dict) and "error" in body:
        return f"{body['error']}: {body.get('error_description', '')}"[:300]
    return response.reason or ""


def error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode")
    return body.get("error") if isinstance(body, dict) else None


class SalesforceSession:
    """The access token every client of one sync uses, renewed when Salesforce rejects it.

    Client credentials (an External Client App's key and secret) get a token from the org's My
    Domain; a ready SALESFORCE_ACCESS_TOKEN is used as it is and cannot be renewed.
    """

    def __init__(
        self,
        login_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str | None = None,
        instance_url: str | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.login_url, self.client_id, self._secret = login_url, client_id, client_secret
        self._token, self.instance_url = access_token, instance_url
        self.renewable = access_token is None
        self.timeout_s = timeout_s
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token, self.instance_url = self._request_token()
            return self._token

    def renew(self, rejected: str) -> None:
        """A new token after `rejected` was refused (once for all the threads that saw it)."""
        if not self.renewable:
            raise CrmAuthError(
                "Salesforce rejected SALESFORCE_ACCESS_TOKEN (expired or revoked): a ready token "
                "cannot be renewed; set a new one, or SALESFORCE_CLIENT_ID and "
                "SALESFORCE_CLIENT_SECRET instead"
            )
        with self._lock:
            if self._token == rejected:
                self._token, self.instance_url = self._request_token()

    def _request_token(self) -> tuple[str, str]:
        with _TokenClient(self.login_url or "", self.timeout_s) as client:
            answer = client.request(
                "POST",
                TOKEN_PATH,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self._secret,
                },
            )
        try:
            return answer["access_token"], answer["instance_url"].rstrip("/")
        except (KeyError, TypeError, AttributeError):
            raise CrmError(f"POST {TOKEN_PATH}: the answer holds no access token") from None


class _TokenClient(CrmHttpClient):
    """The token endpoint: 400/401 mean the credentials are wrong, a user error."""

    def screen(self, method: str, path: str, response: requests.Response) -> bool:
        if response.status_code in (400, 401, 403):
            raise CrmAuthError(
                f"Salesforce refused the client credentials ({self.error_text(response)}): "
                "check SALESFORCE_LOGIN_URL, SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET"
            )
        return False

    def error_text(self, response: requests.Response) -> str:
        return error_text(response)


class ApiAllocation:
    """The org's rolling daily request allocation, as every answer's Sforce-Limit-Info tells it.

    A sync stops, cleanly, before what remains falls below `reserve` (a share of the maximum):
    the org's other integrations and its users' own API work need the rest.
    """

    def __init__(self, reserve: float) -> None:
        self.reserve = reserve
        self.used: int | None = None
        self.maximum: int | None = None
        self._lock = threading.Lock()

    def observe(self, headers: Any) -> None:
        match = _USAGE.search(headers.get("Sforce-Limit-Info", ""))
        if match:
            with self._lock:
                self.used, self.maximum = int(match[1]), int(match[2])

    def check(self) -> None:
        with self._lock:
            used, maximum = self.used, self.maximum
            if used is None or maximum is None:
                return
            if maximum - used - 1 < self.reserve * maximum:
                raise CrmLimitReached(
                    f"Salesforce's daily API allocation is nearly spent ({used:,} of "
                    f"{maximum:,} requests used; CRM_KPI_SALESFORCE_API_RESERVE keeps "
                    f"{self.reserve:.0%}): the sync stopped, keeping the objects it committed, "
                    "and the next run resumes from them"
                )
            self.used = used + 1  # this request, until the answer says better


class SalesforceClient(CrmHttpClient):
    """A Salesforce REST session: bearer token from `session`, paths under the API version.

    Args:
        session: the token shared by the sync's clients.
        api_version: e.g. "65.0".
        allocation: the org's daily allocation, shared by the sync's clients.
        Others as `CrmHttpClient`.
    """

    def __init__(
        self,
        session: SalesforceSession,
        api_version: str,
        allocation: ApiAllocation | None = None,
        timeout_s: float = 60.0,
        max_attempts: int = 6,
        backoff_s: float = 0.5,
    ) -> None:
        session.token()  # the instance URL comes with the token
        super().__init__(session.instance_url or "", timeout_s, max_attempts, backoff_s)
        self.sf_session = session
        self.api = f"/services/data/v{api_version}"
        self.allocation = allocation or ApiAllocation(0)
        self._sent_token = ""
        self._renewed = False  # for the request being sent: one new token, then give up

    def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, str]:
        self._renewed = False
        return super().exchange(method, path, **kwargs)

    def before_send(self, path: str) -> None:
        self.allocation.check()
        self._sent_token = self.sf_session.token()
        self.session.headers["Authorization"] = f"Bearer {self._sent_token}"

    def screen(self, method: str, path: str, response: requests.Response) -> bool:
        self.allocation.observe(response.headers)
        status = response.status_code
        if status < 400:
            return False
        code = error_code(response)
        if status == 401 and code == "INVALID_SESSION_ID" and not self._renewed:
            log.info("%s %s: session expired; getting a new token", method, path)
            self._renewed = True
            self.sf_session.renew(self._sent_token)
            return True
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            if "TotalRequests" in error_text(response):
                raise CrmLimitReached(
                    f"{method} {path}: HTTP 403 REQUEST_LIMIT_EXCEEDED: the org's daily API "
                    "requests are used up (TotalRequests); the sync stopped, keeping the objects "
                    "it committed, and the next run resumes from them"
                )
            return False  # concurrent long requests: `transient` retries with backoff
        if status in (401, 403):
            hint = " (after a new token)" if status == 401 else ""
            raise CrmAuthError(f"{method} {path}: HTTP {status} {error_text(response)}{hint}")
        return False

    def transient(self, response: requests.Response) -> bool:
        return response.status_code == 403 and error_code(response) == "REQUEST_LIMIT_EXCEEDED"

    def error_text(self, response: requests.Response) -> str:
        return error_text(response)

    def query(self, soql: str, batch_size: int = QUERY_BATCH_SIZE) -> Iterator[tuple[dict, str]]:
        """Yield each page (decoded, and as text) of `queryAll`: deleted rows and archived
        activities included. Stops only on `done`: pages may be shorter than asked."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        page, text = self.exchange(
            "GET", f"{self.api}/queryAll", params={"q": soql}, headers=headers
        )
        while True:
            yield page, text
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page, text = self.exchange("GET", page["nextRecordsUrl"], headers=headers)

    def count(self, soql: str) -> int:
        """`SELECT COUNT() ...` through queryAll: its totalSize."""
        return int(self.request("GET", f"{self.api}/queryAll", params={"q": soql})["totalSize"])

    def describe(self, sobject: str) -> set[str] | None:
        """The object's field names, or None when the org has no such object (CurrencyType in a
        single-currency org) or the integration user cannot see it."""
        try:
            answer = self.request("GET", f"{self.api}/sobjects/{sobject}/describe/")
        except CrmError as exc:
            if exc.status == 404:  # NOT_FOUND / INVALID_TYPE: no such object for this user
                return None
            raise
        return {f["name"] for f in answer.get("fields", [])}

    def limits(self) -> dict | None:
        """The org's limits (`/limits`), or None without View Setup and Configuration."""
        try:
            return self.request("GET", f"{self.api}/limits/")
        except CrmAuthError:
            return None


def session_from(settings: Settings) -> SalesforceSession:
    """The credentials the settings hold: a ready token wins over client credentials."""
    token = settings.salesforce_access_token
    if token is not None and token.get_secret_value():
        if not settings.salesforce_instance_url:
            raise ConfigError("SALESFORCE_ACCESS_TOKEN needs SALESFORCE_INSTANCE_URL beside it")
        return SalesforceSession(
            access_token=token.get_secret_value(), instance_url=settings.salesforce_instance_url
        )
    secret = settings.salesforce_client_secret
    missing = [
        name
        for name, value in (
            ("SALESFORCE_LOGIN_URL", settings.salesforce_login_url),
            ("SALESFORCE_CLIENT_ID", settings.salesforce_client_id),
            ("SALESFORCE_CLIENT_SECRET", secret and secret.get_secret_value()),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} not set: create an External Client App with the client "
            "credentials flow (docs/salesforce.md) and export its URL, key and secret"
        )
    return SalesforceSession(
        settings.salesforce_login_url, settings.salesforce_client_id, secret.get_secret_value()
    )


def client_factory(settings: Settings) -> Callable[[], SalesforceClient]:
    """Clients for the fetching threads: own HTTP sessions, one token, one allocation."""
    session = session_from(settings)
    allocation = ApiAllocation(settings.salesforce_api_reserve)

    def make_client() -> SalesforceClient:
        return SalesforceClient(session, settings.salesforce_api_version, allocation)

    return make_client
