"""Admin routes under `/_demo/`, so a demo org running in another process can be driven.

The same bearer as every admin call: the connected app's client secret. They never count
against the API allocation, faults or the request log.
"""

import json
from datetime import timedelta

from .. import selling
from ..clock import from_ms, iso, parse_instant, to_ms
from .api import errors

PREFIX = "/_demo/"
RECYCLE_BIN_DAYS = 15
_FAULT_FIELDS = ("kind", "count", "status", "path_contains", "delay", "body")
_OPTIONS = {"short_pages": bool, "limits_visible": bool}


class AdminError(Exception):
    pass


def handle_admin(server, method: str, path: str, body: bytes) -> tuple[int, object]:
    """(status, payload) for an authenticated admin request to `server` (DemoSalesforceServer)."""
    route = _ROUTES.get((method, path.rstrip("/").removeprefix(PREFIX)))
    if route is None:
        return 404, errors("NOT_FOUND", f"No admin route for {method} {path}")
    try:
        request = json.loads(body or b"{}")
        if not isinstance(request, dict):
            raise AdminError("the body must be a JSON object")
        return 200, route(server, request)
    except KeyError as error:
        return 400, errors("INVALID_INPUT", f"missing or unknown: {error}")
    except (AdminError, ValueError, TypeError) as error:
        return 400, errors("INVALID_INPUT", str(error) or "Invalid request")


def _instant(value: object):
    ms = parse_instant(str(value))
    if ms is None:
        raise AdminError(f"not a timestamp: {value!r}")
    return from_ms(ms)


def simulate_day(server, request: dict) -> dict:
    """`{"at": iso?, "change_share": 0.01, "ids": false}` → counts (and ids) per store type."""
    at = _instant(request["at"]) if request.get("at") is not None else None
    changes = selling.simulate_day(server.crm, at, float(request.get("change_share", 0.01)))
    summary: dict = {
        "now": iso(to_ms(server.crm.now)),
        "changes": {t: {kind: len(ids) for kind, ids in c.items()} for t, c in changes.items()},
    }
    if request.get("ids"):
        summary["ids"] = changes
    return summary


def faults(server, request: dict) -> dict:
    """The fields of `Gateway.inject_faults`; `{"clear": true}` drops pending ones first."""
    if request.pop("clear", False):
        server.clear_faults()
    unknown = set(request) - set(_FAULT_FIELDS)
    if unknown:
        raise AdminError(f"unknown fault fields: {sorted(unknown)}")
    if request:
        server.inject_faults(**request)
    return {"pending": server.pending_faults()}


def api_usage(server, request: dict) -> dict:
    """`{"used": n, "max": m}` starts the day over; `{"add": n}` spends n more."""
    if "used" in request or "max" in request:
        used, maximum = server.api_usage()
        server.set_api_usage(int(request.get("used", used)), int(request.get("max", maximum)))
    if "add" in request:
        server.use_api_requests(int(request["add"]))
    used, maximum = server.api_usage()
    return {"used": used, "max": maximum}


def expire_tokens(server, _request: dict) -> dict:
    server.expire_tokens()
    return {"expired": True}


def purge(server, request: dict) -> dict:
    """`{"older_than": iso?}` (default: the CRM's now minus 15 days) → how many were purged."""
    if request.get("older_than") is not None:
        older_than = _instant(request["older_than"])
    else:
        older_than = server.crm.now - timedelta(days=RECYCLE_BIN_DAYS)
    return {"purged": server.purge(older_than)}


def probability(server, request: dict) -> dict:
    """`{"deal_id": HubSpot id, "probability": 0-100 or null}`: one opportunity's own value."""
    value = request["probability"]
    server.override_probability(str(request["deal_id"]), None if value is None else float(value))
    return {"deal_id": str(request["deal_id"]), "probability": value}


def options(server, request: dict) -> dict:
    """Short query pages and whether /limits is visible; fields left out keep their value."""
    for name, kind in _OPTIONS.items():
        if name in request:
            setattr(server.api, name, kind(request[name]))
    if "token_lifetime_s" in request:
        value = request["token_lifetime_s"]
        server.token_lifetime_s = None if value is None else float(value)
    return {name: getattr(server.api, name) for name in _OPTIONS} | {
        "token_lifetime_s": server.token_lifetime_s
    }


def stats(server, _request: dict) -> dict:
    return server.stats()


def reset_stats(server, _request: dict) -> dict:
    server.clear_requests()
    return server.stats()


_ROUTES = {
    ("POST", "simulate-day"): simulate_day,
    ("POST", "faults"): faults,
    ("DELETE", "faults"): lambda server, _request: faults(server, {"clear": True}),
    ("POST", "api-usage"): api_usage,
    ("POST", "expire-tokens"): expire_tokens,
    ("POST", "purge"): purge,
    ("POST", "probability"): probability,
    ("POST", "options"): options,
    ("GET", "stats"): stats,
    ("POST", "reset-stats"): reset_stats,
}
