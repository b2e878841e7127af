"""The demo sales org served as Salesforce's REST API on localhost, on a background thread.

The same generated org as the HubSpot demo (or the `crm` given), dressed as Salesforce rows
(org.py); a client gets a token from `/services/oauth2/token` with the connected app's client
id and secret, then queries `/services/data/vXX.X/`. Admin routes under `/_demo/` (admin.py)
drive a server running in another process.
"""

from datetime import datetime

from ..clock import iso, to_ms
from ..generator.build import generate_demo_data
from ..serving import BackgroundServer
from ..store import DemoCrm
from .api import Api
from .gateway import Gateway
from .handler import Handler
from .org import Org


class DemoSalesforceServer(Gateway, BackgroundServer):
    """Salesforce REST subset on a background thread; use as a context manager."""

    thread_name = "demo-salesforce"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        now: datetime | None = None,
        deals: int = 3000,
        activity_scale: float = 1.0,
        crm: DemoCrm | None = None,
        client_id: str = "demo-client",
        client_secret: str = "demo-secret",
        daily_api_limit: int | None = None,
        token_lifetime_s: float | None = None,
        multi_currency: bool = True,
        limits_visible: bool = True,
        short_pages: bool = False,
        probability_overrides: dict[str, float] | None = None,
    ) -> None:
        """`daily_api_limit`: the rolling 24-hour request allocation (None: 100,000).
        `token_lifetime_s`: sessions end this long after login (None: never, unless
        `expire_tokens`). `multi_currency=False`: no CurrencyType and no CurrencyIsoCode, every
        amount in USD. `limits_visible=False`: /limits answers 403, as for a user without View
        Setup. `short_pages`: some query pages hold fewer records than the batch size.
        `probability_overrides`: HubSpot deal id → the opportunity's own Probability (0-100)."""
        super().__init__(client_id, client_secret, daily_api_limit, token_lifetime_s)
        self.crm = crm or generate_demo_data(seed, now, deals, activity_scale)
        self.org = Org(self.crm, multi_currency)
        for deal_id, probability in (probability_overrides or {}).items():
            self.org.dresser.probability_overrides[deal_id] = float(probability)
        self.org.warm()
        self.api = Api(self.org, short_pages)
        self.api.limits_visible = limits_visible
        self.listen(host, port, Handler)

    def purge(self, older_than: datetime) -> int:
        """Empty the recycle bin of records deleted before `older_than`, from every listing."""
        return self.org.purge(older_than)

    def override_probability(self, deal_id: str, probability: float | None) -> None:
        """Give the opportunity of HubSpot deal `deal_id` its own Probability (None: reset)."""
        self.org.override_probability(deal_id, probability)

    def stats(self) -> dict:
        used, maximum = self.api_usage()
        with self.crm.lock:
            rows = {name: len(self.org.rows(name)) for name in self.org.specs}
            now = iso(to_ms(self.crm.now))
        return {"requests": len(self.requests), "api_usage": used, "api_max": maximum} | {
            "rows": rows,
            "now": now,
        }
