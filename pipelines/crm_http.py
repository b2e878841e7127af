"""What every CRM client shares: one session, timeouts, retries with backoff, JSON bodies.

A CRM's client subclasses `CrmHttpClient` and says only what differs: which request budget a
request spends, how its API answers throttling and expired sessions (`screen`), which refusals
are worth retrying (`transient`), and how its error bodies read (`error_text`). Messages name the
request, never a credential.
"""

import logging
import random
import time
from typing import Any

import orjson
import requests

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})
# Resets, timeouts, and connections dropped halfway through a body.
TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


class CrmError(Exception):
    """The CRM could not be read; the message names the request, never the token. `status` is
    the HTTP status of a refused request, None for other failures."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CrmAuthError(CrmError):
    """The credential is missing, wrong, expired or lacks a permission: a user error, not a bug."""


class CrmHttpClient:
    """An HTTP session with timeouts and retries of server errors, resets and broken bodies.

    Args:
        base_url: where paths are resolved (absolute URLs are used as they are).
        timeout_s: connect and read timeout of every request.
        max_attempts: tries per request before giving up on failures (5xx, resets, bad bodies).
        backoff_s: first wait between tries; doubles each time, with jitter.
    """

    def __init__(
        self, base_url: str, timeout_s: float = 30.0, max_attempts: int = 6, backoff_s: float = 0.5
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.requests_sent = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # What a CRM's client overrides.
    def before_send(self, path: str) -> None:
        """Wait for the request budget, if the CRM has one."""

    def screen(self, method: str, path: str, response: requests.Response) -> bool:
        """Deal with the CRM's own answers (throttling, expired sessions); True re-sends the
        request at once, without counting a failure. Raise to give up."""
        return False

    def transient(self, response: requests.Response) -> bool:
        """A refusal other than 5xx that a later try may not get."""
        return False

    def error_text(self, response: requests.Response) -> str:
        """The error body, short and readable."""
        return response.reason or ""

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request, retrying server errors, resets and broken bodies; the decoded body."""
        return self.exchange(method, path, **kwargs)[0]

    def exchange(self, method: str, path: str, **kwargs: Any) -> tuple[Any, str]:
        """`request`, answering the body both decoded and as the text received.

        Bulk loaders hand the text to DuckDB, which parses it faster than Python re-encodes it.
        """
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        failures = 0
        while True:
            self.before_send(path)
            self.requests_sent += 1
            try:
                response = self.session.request(method, url, timeout=self.timeout_s, **kwargs)
            except TRANSPORT_ERRORS as exc:
                failure = type(exc).__name__
            else:
                if self.screen(method, path, response):
                    continue
                status = response.status_code
                if status < 400:
                    try:
                        # JSON is UTF-8 (RFC 8259): decode it so, rather than guess the encoding.
                        return orjson.loads(response.content), response.content.decode()
                    except ValueError:  # orjson's JSONDecodeError and UnicodeDecodeError
                        # A truncated or non-JSON body: the server or a proxy cut it short.
                        failure = f"HTTP {status} with a body that is not valid JSON"
                elif status in RETRYABLE_STATUSES or self.transient(response):
                    failure = f"HTTP {status} {self.error_text(response)}"
                else:
                    raise CrmError(
                        f"{method} {path}: HTTP {status} {self.error_text(response)}", status
                    )
            failures += 1
            if failures >= self.max_attempts:
                raise CrmError(f"{method} {path}: gave up after {failures} tries: {failure}")
            wait = self.backoff_s * 2 ** (failures - 1) * (1 + random.random() / 2)
            log.warning("%s %s: %s; retry %d in %.1fs", method, path, failure, failures, wait)
            time.sleep(wait)
