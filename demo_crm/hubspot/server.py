"""The demo CRM served as HubSpot's CRM API over HTTP on localhost, on a background thread.

The real client is pointed at `.url` and cannot tell it from HubSpot. Token checks, rate
limits, faults and the request log are the `Gateway`'s (gateway.py); admin routes under
`/_demo/` (admin.py) drive a server running in another process.
"""

from datetime import datetime

from ..generator.build import generate_demo_data
from ..serving import BackgroundServer
from ..store import DemoCrm
from .api import Api
from .gateway import Gateway
from .handler import Handler


class DemoCrmServer(Gateway, BackgroundServer):
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
        self.listen(host, port, Handler)
