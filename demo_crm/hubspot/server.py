"""The demo CRM served as HubSpot's CRM API over HTTP on localhost, on a background thread.

The real client is pointed at `.url` and cannot tell it from HubSpot. Token checks, rate
limits, faults and the request log are the `Gateway`'s (gateway.py); admin routes under
`/_demo/` (admin.py) drive a server running in another process.
"""

import sys
import threading
from datetime import datetime
from http.server import ThreadingHTTPServer

from ..generator.build import generate_demo_data
from ..store import DemoCrm
from .api import Api
from .gateway import Gateway
from .handler import Handler


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up mid-answer (timeouts, tests) are routine, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class DemoCrmServer(Gateway):
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
        crm = crm or generate_demo_data(seed, now, deals, activity_scale)
        api = Api(crm, search_result_cap, search_lag_s, short_pages)
        super().__init__(crm, api, token, max_requests_per_10s, max_search_requests_per_s)
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
        self.drop_connections()
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
