"""Admin routes under `/_demo/`, so a demo CRM running in another process can be driven.

Benchmarks serve the demo in its own process (it must not share the client's GIL) and use these
to simulate days, inject faults, set rate limits and read request counts. They need the same
bearer token as the API, and never count against rate limits, faults or stats.
"""

import json

from .. import selling
from ..clock import from_ms, iso, parse_instant, to_ms
from .api import error_body
from .gateway import Gateway

PREFIX = "/_demo/"
_FAULT_FIELDS = ("status", "count", "retry_after", "path_prefix", "kind", "delay", "body")
_OPTIONS = {"search_lag_s": float, "short_pages": bool, "search_result_cap": int}


class AdminError(Exception):
    pass


def handle_admin(server: Gateway, method: str, path: str, body: bytes) -> tuple[int, dict]:
    """(status, payload) for an authenticated admin request."""
    route = _ROUTES.get((method, path.rstrip("/").removeprefix(PREFIX)))
    if route is None:
        return 404, error_body(f"No admin route for {method} {path}", "OBJECT_NOT_FOUND")
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise AdminError("the body must be a JSON object")
        return 200, route(server, request)
    except KeyError as error:
        return 400, error_body(f"missing or unknown: {error}", "VALIDATION_ERROR")
    except (AdminError, ValueError, TypeError) as error:
        return 400, error_body(str(error) or "Invalid request", "VALIDATION_ERROR")


def _instant(value: object):
    ms = parse_instant(str(value))
    if ms is None:
        raise AdminError(f"not a timestamp: {value!r}")
    return from_ms(ms)


def simulate_day(server: Gateway, request: dict) -> dict:
    """`{"at": iso?, "change_share": 0.01, "ids": false}` → counts (and ids if asked) per type."""
    at = _instant(request["at"]) if request.get("at") is not None else None
    changes = selling.simulate_day(server.crm, at, float(request.get("change_share", 0.01)))
    summary: dict = {
        "now": iso(to_ms(server.crm.now)),
        "changes": {t: {kind: len(ids) for kind, ids in c.items()} for t, c in changes.items()},
    }
    if request.get("ids"):
        summary["ids"] = changes
    return summary


def faults(server: Gateway, request: dict) -> dict:
    """The same fields as `Gateway.inject_faults`; `{"clear": true}` drops pending ones."""
    if request.pop("clear", False):
        server.clear_faults()
    unknown = set(request) - set(_FAULT_FIELDS)
    if unknown:
        raise AdminError(f"unknown fault fields: {sorted(unknown)}")
    if request:
        server.inject_faults(**request)
    return {"pending": server.pending_faults()}


def rate_limit(server: Gateway, request: dict) -> dict:
    """Set either limit (null: unlimited); fields left out keep their value."""
    for name in ("max_requests_per_10s", "max_search_requests_per_s"):
        if name in request:
            value = request[name]
            setattr(server, name, None if value is None else int(value))
    return {
        "max_requests_per_10s": server.max_requests_per_10s,
        "max_search_requests_per_s": server.max_search_requests_per_s,
    }


def options(server: Gateway, request: dict) -> dict:
    """Search index lag, short list pages and the search result cap; as rate_limit."""
    for name, kind in _OPTIONS.items():
        if name in request:
            setattr(server.api, name, kind(request[name]))
    return {name: getattr(server.api, name) for name in _OPTIONS}


def touch(server: Gateway, request: dict) -> dict:
    """`{"type", "ids", "at"}`: many records, one modified time (see `DemoCrm.touch`)."""
    ids = [str(i) for i in request["ids"]]
    server.crm.touch(request["type"], ids, _instant(request["at"]))
    return {"touched": len(ids)}


def stats(server: Gateway, _request: dict) -> dict:
    return server.stats()


def reset_stats(server: Gateway, _request: dict) -> dict:
    server.reset_stats()
    return server.stats()


_ROUTES = {
    ("POST", "simulate-day"): simulate_day,
    ("POST", "faults"): faults,
    ("DELETE", "faults"): lambda server, _request: faults(server, {"clear": True}),
    ("POST", "rate-limit"): rate_limit,
    ("POST", "options"): options,
    ("POST", "touch"): touch,
    ("GET", "stats"): stats,
    ("POST", "reset-stats"): reset_stats,
}
