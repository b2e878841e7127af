"""The demo CRM served over HTTP on localhost, with fault injection and a request log.

The real client is pointed at `.url` and cannot tell it from HubSpot. Admin routes under
`/_demo/` (admin.py) drive a server running in another process; `add_demo_crm_arguments` and
`serve_from_args` are the `crm-kpi demo-crm` command.
"""

import argparse
import collections
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import ThreadingHTTPServer

from .api import Api, is_search
from .clock import from_ms, iso, parse_instant, to_ms
from .data import DemoCrm, generate_demo_data
from .handler import Handler

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


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-answer (timeouts, tests) are routine, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class DemoCrmServer:
    """HubSpot CRM v3 subset on a background thread; use as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "demo-token",
        seed: int = 7,
        now: datetime | None = None,
        deals: int = 3000,
        activity_scale: float = 1.0,
        crm: DemoCrm | None = None,
        max_requests_per_10s: int | None = None,
        max_search_requests_per_s: int | None = None,
        search_result_cap: int = 10_000,
        search_lag_s: float = 0.0,
        short_pages: bool = False,
    ) -> None:
        """`search_lag_s`: search does not see records written (wall clock) less than this long
        ago, as HubSpot's index trails writes. `short_pages`: list endpoints sometimes answer
        short or empty pages that still carry `paging.next`, as HubSpot does."""
        self.token = token
        self.crm = crm or generate_demo_data(seed, now, deals, activity_scale)
        self.api = Api(self.crm, search_result_cap, search_lag_s, short_pages)
        self.max_requests_per_10s = max_requests_per_10s
        self.max_search_requests_per_s = max_search_requests_per_s
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.search_bodies: list[tuple[str, object]] = []  # (path, parsed JSON body)
        self._faults: list[Fault] = []
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._lock = threading.Lock()
        self._window, self._search_window = _Window(WINDOW_SECONDS), _Window(1.0)
        self._connections: set[socket.socket] = set()
        self._httpd = _HttpServer((host, port), Handler)
        self._httpd.demo = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}"

    def start(self) -> "DemoCrmServer":
        if self._thread is None:
            # A short poll interval makes stop() quick; tests start and stop many servers.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="demo-crm", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        # Idle keep-alive connections would otherwise keep answering after stop.
        with self._lock:
            for connection in list(self._connections):
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._httpd.server_close()

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever()
        finally:
            self.stop()

    def __enter__(self) -> "DemoCrmServer":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

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
        with self._lock:
            if opened:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

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


def serve(
    port: int = 8765,
    host: str = "127.0.0.1",
    token: str = "demo-token",
    seed: int = 7,
    now: datetime | None = None,
    deals: int = 3000,
    **options: object,
) -> None:
    """Serve in the foreground until Ctrl-C."""
    server = DemoCrmServer(host, port, token, seed, now, deals, **options)  # type: ignore[arg-type]
    _serve_until_interrupted(server)


def _serve_until_interrupted(server: DemoCrmServer) -> None:
    # Scripts wait for this first line (and read the port from it when started with port 0).
    print(f"Demo HubSpot CRM at {server.url}  token: {server.token}  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _instant(text: str) -> datetime:
    ms = parse_instant(text)
    if ms is None:
        raise argparse.ArgumentTypeError(f"not a date or timestamp: {text!r}")
    return from_ms(ms)


def add_demo_crm_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `crm-kpi demo-crm`; `serve_from_args` takes the parsed result."""
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    add("--token", default="demo-token", help="bearer token clients must send")
    add("--seed", type=int, default=7, help="same seed and --now: same data")
    add("--now", type=_instant, default=None, help="the CRM's clock (ISO time; default: now)")
    add("--deals", type=int, default=3000, help="deals to generate (default 3000)")
    add(
        "--activity-scale",
        type=float,
        default=1.0,
        help="calls, emails, meetings and tasks per rep and day, relative to the default",
    )
    add("--rate-limit", type=int, default=None, metavar="N", help="requests per 10 s (429 above)")
    add("--search-rate-limit", type=int, default=None, metavar="N", help="searches per second")
    add("--search-lag", type=float, default=0.0, metavar="S", help="search index lag in seconds")
    add("--short-pages", action="store_true", help="serve some short or empty list pages")


def serve_from_args(args: argparse.Namespace) -> None:
    """Generate the demo CRM the arguments describe and serve it until Ctrl-C."""
    started = time.perf_counter()
    server = DemoCrmServer(
        host=args.host,
        port=args.port,
        token=args.token,
        seed=args.seed,
        now=args.now,
        deals=args.deals,
        activity_scale=args.activity_scale,
        max_requests_per_10s=args.rate_limit,
        max_search_requests_per_s=args.search_rate_limit,
        search_lag_s=args.search_lag,
        short_pages=args.short_pages,
    )
    records = sum(len(r) for r in server.crm.objects.values())
    took = time.perf_counter() - started
    print(f"{records:,} records generated in {took:.1f} s", file=sys.stderr, flush=True)
    _serve_until_interrupted(server)
