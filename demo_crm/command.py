"""`crm-kpi demo-crm`: its options, and serving the demo CRM they describe until Ctrl-C.

pipelines/cli.py hands `demo-crm`'s arguments to `main` here, importing this package only then,
so the product's other commands never load the demo CRM.
"""

import argparse
import sys
import time
from datetime import datetime

from .clock import from_ms, parse_instant
from .hubspot.server import DemoCrmServer
from .salesforce.server import DemoSalesforceServer


def main(argv: list[str], prog: str = "crm-kpi demo-crm") -> int:
    """Parse `demo-crm`'s arguments and serve until Ctrl-C; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the demo CRM alone: a generated sales org behind HubSpot's CRM v3 API "
        "(or, with --crm salesforce, Salesforce's REST API), until interrupted.",
    )
    add_demo_crm_arguments(parser)
    serve_from_args(parser.parse_args(argv))
    return 0


def add_demo_crm_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `crm-kpi demo-crm`; `serve_from_args` takes the parsed result."""
    add = parser.add_argument
    add("--crm", choices=("hubspot", "salesforce"), default="hubspot", help="the API to serve")
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
    salesforce = parser.add_argument_group("with --crm salesforce")
    salesforce.add_argument("--client-id", default="demo-client", help="connected app's id")
    salesforce.add_argument("--client-secret", default="demo-secret", help="and its secret")
    salesforce.add_argument(
        "--daily-api-limit", type=int, default=None, metavar="N", help="requests per 24 h"
    )
    salesforce.add_argument(
        "--single-currency", action="store_true", help="no CurrencyType, all amounts in USD"
    )


def serve_from_args(args: argparse.Namespace) -> None:
    """Generate the demo CRM the arguments describe and serve it until Ctrl-C."""
    started = time.perf_counter()
    if args.crm == "salesforce":
        _serve_salesforce(args, started)
        return
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
    # Scripts wait for this first line (and read the port from it when started with port 0).
    print(f"Demo HubSpot CRM at {server.url}  token: {server.token}  (Ctrl-C to stop)", flush=True)
    _serve_until_interrupted(server)


def _serve_salesforce(args: argparse.Namespace, started: float) -> None:
    server = DemoSalesforceServer(
        host=args.host,
        port=args.port,
        seed=args.seed,
        now=args.now,
        deals=args.deals,
        activity_scale=args.activity_scale,
        client_id=args.client_id,
        client_secret=args.client_secret,
        daily_api_limit=args.daily_api_limit,
        multi_currency=not args.single_currency,
        short_pages=args.short_pages,
    )
    records = sum(len(r) for r in server.crm.objects.values())
    took = time.perf_counter() - started
    print(f"{records:,} records generated in {took:.1f} s", file=sys.stderr, flush=True)
    print(
        f"Demo Salesforce org at {server.url}  client id: {server.client_id}  "
        f"client secret: {server.client_secret}  (Ctrl-C to stop)",
        flush=True,
    )
    _serve_until_interrupted(server)


def _serve_until_interrupted(server: DemoCrmServer | DemoSalesforceServer) -> None:
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def _instant(text: str) -> datetime:
    ms = parse_instant(text)
    if ms is None:
        raise argparse.ArgumentTypeError(f"not a date or timestamp: {text!r}")
    return from_ms(ms)
