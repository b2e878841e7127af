"""What stands in front of the demo org's REST API: OAuth tokens, the daily API allocation,
injected faults and the request log.

Salesforce's edge answers 401 INVALID_SESSION_ID for an unknown or expired session, and 403
REQUEST_LIMIT_EXCEEDED once the org's rolling 24-hour request allocation is used up; every API
answer reports the usage in `Sforce-Limit-Info`. Tests and benchmarks also need faults injected
there and a log of what was asked. The handler (handler.py) works against a `Gateway`.
"""

import collections
import secrets
import threading
import time
from dataclasses import dataclass

from ..serving import Connections

DAY_SECONDS = 86_400.0
DEFAULT_DAILY_LIMIT = 100_000
FAULT_KINDS = ("status", "concurrency", "expire_token", "truncate", "not_json", "disconnect")
FAULT_KINDS += ("delay",)


@dataclass
class Fault:
    kind: str  # see Gateway.inject_faults
    remaining: int
    status: int
    path_contains: str | None
    delay: float
    body: object | None


class Gateway:
    """Tokens, API usage, faults and the request log; thread-safe."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        daily_api_limit: int | None = None,
        token_lifetime_s: float | None = None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.token_lifetime_s = token_lifetime_s
        self.requests: list[tuple[str, str, str]] = []  # (method, path, query or SOQL)
        self._max = daily_api_limit if daily_api_limit is not None else DEFAULT_DAILY_LIMIT
        self._usage: collections.deque[tuple[float, int]] = collections.deque()  # (when, count)
        self._used = 0
        self._tokens: dict[str, float] = {}  # token → monotonic time it was issued
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._connections = Connections()
        self.clock = time.monotonic  # tests may replace it to let a day pass

    # ---------- OAuth

    def issue_token(self, client_id: str, client_secret: str) -> str | None:
        """A new access token for the connected app's credentials; None if they are wrong."""
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return None
        token = "00DDm0000000001!" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = self.clock()
        return token

    def is_valid(self, token: str) -> bool:
        with self._lock:
            issued = self._tokens.get(token)
            if issued is None:
                return False
            lifetime = self.token_lifetime_s
            if lifetime is not None and self.clock() - issued >= lifetime:
                del self._tokens[token]
                return False
            return True

    def expire_tokens(self) -> None:
        """End every session, as a session timeout or an admin's revoke does."""
        with self._lock:
            self._tokens.clear()

    # ---------- the daily API request allocation

    def count_api_request(self) -> tuple[bool, int, int]:
        """Count one API request if the allocation allows it: (allowed, used, max)."""
        with self._lock:
            self._expire_usage()
            if self._used >= self._max:
                return False, self._used, self._max
            self._add_usage(1)
            return True, self._used, self._max

    def use_api_requests(self, count: int) -> None:
        """Spend `count` requests of the allocation now, as other integrations would."""
        with self._lock:
            self._add_usage(count)

    def set_api_usage(self, used: int, maximum: int | None = None) -> None:
        """Start the rolling day over with `used` requests spent (and a new maximum if given)."""
        with self._lock:
            self._usage.clear()
            self._used = 0
            if maximum is not None:
                self._max = maximum
            self._add_usage(used)

    def api_usage(self) -> tuple[int, int]:
        with self._lock:
            self._expire_usage()
            return self._used, self._max

    def _add_usage(self, count: int) -> None:
        if count > 0:
            self._usage.append((self.clock(), count))
            self._used += count

    def _expire_usage(self) -> None:
        cutoff = self.clock() - DAY_SECONDS
        while self._usage and self._usage[0][0] <= cutoff:
            self._used -= self._usage.popleft()[1]

    # ---------- faults and the request log

    def inject_faults(
        self,
        kind: str = "status",
        count: int = 1,
        status: int = 503,
        path_contains: str | None = None,
        delay: float = 0.0,
        body: object | None = None,
    ) -> None:
        """Make the next `count` requests (whose path contains `path_contains`) go wrong.

        kind "status": answer `status` with Salesforce's error body (or `body`).
        "concurrency": 403 REQUEST_LIMIT_EXCEEDED, ConcurrentPerOrgLongTxn (retry later).
        "expire_token": every session ends first, so the request gets 401 INVALID_SESSION_ID.
        "truncate": the real answer, its JSON cut in half. "not_json": `status` with an HTML
        body, as a proxy in front would send. "disconnect": the connection drops halfway
        through the body. "delay": the real answer, late. `delay` seconds pass first in every
        kind (for client timeouts).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, count, status, path_contains, delay, body))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def log_request(self, method: str, path: str, query: str) -> Fault | None:
        """Log the request and take the first fault that matches it, if any."""
        with self._lock:
            self.requests.append((method, path, query))
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path_contains or "") in path:
                    fault.remaining -= 1
                    return fault
            return None

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def track_connection(self, connection, opened: bool) -> None:
        self._connections.track(connection, opened)

    def drop_connections(self) -> None:
        """Shut down every open connection, idle keep-alive ones included."""
        self._connections.drop_all()
