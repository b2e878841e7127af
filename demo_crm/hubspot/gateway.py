"""What stands in front of the demo's HubSpot API: its token, rate limits, faults and counters.

HubSpot's edge checks the bearer token and the rate limits before a request reaches the API;
tests and benchmarks also need faults injected there, a log of the requests and counts of what
was served. `Gateway` holds all of it. The HTTP handler (handler.py) and the admin routes
(admin.py) work against a `Gateway`; `DemoCrmServer` (server.py) is one that listens on a port.
"""

import collections
import json
import socket
import threading
import time
from dataclasses import dataclass

from ..clock import iso, to_ms
from ..serving import Connections
from ..store import DemoCrm
from .api import Api, is_search

WINDOW_SECONDS = 10.0
# Advertised as X-HubSpot-RateLimit-Max when no limit is enforced: high enough that a
# header-respecting client never slows down against the demo.
UNLIMITED_MAX = 10_000
_COUNTERS = ("requests", "search_requests", "responses_429")


@dataclass
class Fault:
    status: int
    remaining: int
    kind: str  # "status" | "truncate" | "disconnect" | "delay", see inject_faults
    retry_after: float | None
    path_prefix: str | None
    delay: float
    body: dict | None


class _Window:
    """Rolling-window request counter."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.times = seconds, collections.deque()

    def count(self, now: float) -> int:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return len(self.times)


class Gateway:
    """The demo's API behind HubSpot's token check and rate limits, with faults and a log.

    `max_requests_per_10s` and `max_search_requests_per_s` (None: unlimited) may be set at any
    time; `requests` and `search_bodies` log what was asked, oldest first.
    """

    def __init__(
        self,
        crm: DemoCrm,
        api: Api,
        token: str,
        max_requests_per_10s: int | None = None,
        max_search_requests_per_s: int | None = None,
    ) -> None:
        self.token = token
        self.crm = crm
        self.api = api
        self.max_requests_per_10s = max_requests_per_10s
        self.max_search_requests_per_s = max_search_requests_per_s
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.search_bodies: list[tuple[str, object]] = []  # (path, parsed JSON body)
        self._faults: list[Fault] = []
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._lock = threading.Lock()
        self._window, self._search_window = _Window(WINDOW_SECONDS), _Window(1.0)
        self._connections = Connections()

    def inject_faults(
        self,
        status: int = 429,
        count: int = 1,
        retry_after: float | None = None,
        path_prefix: str | None = None,
        kind: str = "status",
        delay: float = 0.0,
        body: dict | None = None,
    ) -> None:
        """Make the next `count` requests whose path starts with `path_prefix` fail.

        kind "status": answer `status` (429 with HubSpot's rate-limit body, `Retry-After` only
        if given; others a generic error envelope, or `body`). "truncate": 200 with the real
        JSON cut in half. "disconnect": the connection drops halfway through the body.
        "delay": the real answer, late. `delay` seconds pass before any answer (for timeouts).
        """
        if kind not in ("status", "truncate", "disconnect", "delay"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(Fault(status, count, kind, retry_after, path_prefix, delay, body))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()
            self.search_bodies.clear()

    def stats(self) -> dict:
        """Requests served since the last reset (admin calls excluded) and records held."""
        with self._lock:
            counts = dict(self._counts)
        with self.crm.lock:
            objects = self.crm.objects
            counts["records"] = {t: len(records) for t, records in objects.items()}
            counts["archived_records"] = {t: len(self.crm.archived_records(t)) for t in objects}
            counts["now"] = iso(to_ms(self.crm.now))
        return counts

    def reset_stats(self) -> None:
        """Zero the counters and clear the request log."""
        with self._lock:
            self._counts = dict.fromkeys(_COUNTERS, 0)
        self.clear_requests()

    def count_429(self) -> None:
        with self._lock:
            self._counts["responses_429"] += 1

    def track_connection(self, connection: socket.socket, opened: bool) -> None:
        self._connections.track(connection, opened)

    def drop_connections(self) -> None:
        """Shut down every open connection, idle keep-alive ones included."""
        self._connections.drop_all()

    def log_request(self, method: str, target: str, path: str, body: bytes) -> Fault | None:
        """Log the request and take the first matching fault, if any."""
        with self._lock:
            self.requests.append((method, target))
            self._counts["requests"] += 1
            if is_search(method, path):
                self._counts["search_requests"] += 1
                try:
                    self.search_bodies.append((path, json.loads(body or b"null")))
                except ValueError:
                    self.search_bodies.append((path, body))
            for fault in self._faults:
                if fault.remaining > 0 and path.startswith(fault.path_prefix or ""):
                    fault.remaining -= 1
                    return fault
            return None

    def admit(self, search: bool) -> tuple[bool, dict[str, str]]:
        """Count the request against the rolling windows: (allowed, rate-limit headers)."""
        now = time.monotonic()
        with self._lock:
            if search:
                # Search has its own per-second limit and no rate-limit headers.
                limit, window = self.max_search_requests_per_s, self._search_window
                if limit is not None and window.count(now) >= limit:
                    return False, {}
                window.times.append(now)
                return True, {}
            limit = self.max_requests_per_10s
            used = self._window.count(now)
            allowed = limit is None or used < limit
            if allowed:
                self._window.times.append(now)
                used += 1
            maximum = limit if limit is not None else UNLIMITED_MAX
            return allowed, {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
                "X-HubSpot-RateLimit-Max": str(maximum),
                "X-HubSpot-RateLimit-Remaining": str(max(0, maximum - used)),
            }
