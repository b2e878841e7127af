"""The HubSpot CRM v3 routes the demo serves, as pure functions of a request: (status, JSON)."""

import base64
import binascii
import bisect
import itertools
import json
import re
import uuid
from urllib.parse import urlencode

from .catalog import (
    CREATED_PROPERTY,
    DEFAULT_PROPERTIES,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    SINGULAR,
)
from .data import DemoCrm
from .search import SearchError, compile_filters, order, parse_sort

LIST_LIMIT_MAX, SEARCH_LIMIT_MAX, OWNERS_LIMIT_MAX = 100, 200, 500
SEARCH_CACHE_SIZE = 16
_PLURAL = {singular: plural for plural, singular in SINGULAR.items()} | {t: t for t in SINGULAR}
_OBJECTS = "|".join(OBJECT_TYPES)
_ROUTES = (
    ("GET", re.compile(rf"/crm/v3/objects/({_OBJECTS})"), "list_objects"),
    ("GET", re.compile(rf"/crm/v3/objects/({_OBJECTS})/(\d+)"), "get_object"),
    ("POST", re.compile(rf"/crm/v3/objects/({_OBJECTS})/search"), "search"),
    ("GET", re.compile(r"/crm/v3/owners"), "list_owners"),
    ("GET", re.compile(r"/crm/v3/pipelines/deals"), "list_pipelines"),
)
Query = dict[str, list[str]]


class ApiError(Exception):
    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.status, self.message, self.category = status, message, category


def error_body(message: str, category: str | None, **extra: object) -> dict:
    """HubSpot's error envelope."""
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    if category:
        body["category"] = category
    return body | extra


def is_search(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").endswith("/search")


def encode_cursor(record_id: str) -> str:
    # Opaque on purpose, like HubSpot's: clients must hand back `after`, not do arithmetic on it.
    return base64.b64encode(f"{record_id}\n".encode()).decode()


def _decode_cursor(after: str) -> int:
    try:
        return int(base64.b64decode(after, validate=True).decode().strip())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, f"Invalid 'after' cursor: {after!r}") from None


def _one(query: Query, name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[-1] if values else default


def _names(query: Query, name: str) -> list[str]:
    # Both `properties=a,b` and `properties=a&properties=b` are accepted by HubSpot.
    return [n.strip() for v in query.get(name, []) for n in v.split(",") if n.strip()]


def _association_types(query: Query) -> list[str]:
    # Singular or plural names; unknown ones are ignored, as HubSpot does.
    wanted = (_PLURAL[n.lower()] for n in _names(query, "associations") if n.lower() in _PLURAL)
    return list(dict.fromkeys(wanted))


def _property_names_in(groups: object, sorts: object) -> set[str]:
    """Properties a search request filters or sorts on (malformed parts are left to validation)."""
    names = set()
    for group in groups if isinstance(groups, list) else []:
        filters = group.get("filters") if isinstance(group, dict) else None
        for spec in filters if isinstance(filters, list) else []:
            if isinstance(spec, dict) and isinstance(spec.get("propertyName"), str):
                names.add(spec["propertyName"])
    for sort in sorts if isinstance(sorts, list) else []:
        name = sort.get("propertyName") if isinstance(sort, dict) else sort
        if isinstance(name, str):
            names.add(name.lstrip("-"))
    return names


def _limit(raw: object, default: int, maximum: int, minimum: int = 1) -> int:
    if raw is None:
        return default
    try:
        limit = int(str(raw)) if not isinstance(raw, bool) else -1
    except ValueError:
        limit = -1
    if not minimum <= limit <= maximum:
        raise ApiError(400, f"limit must be between {minimum} and {maximum}, got {raw!r}")
    return limit


def _archived(query: Query) -> bool:
    raw = (_one(query, "archived", "false") or "").lower()
    if raw not in ("true", "false"):
        raise ApiError(400, f"archived must be true or false, got {raw!r}")
    return raw == "true"


class Api:
    def __init__(self, crm: DemoCrm, search_result_cap: int = 10_000) -> None:
        self.crm = crm
        self.search_result_cap = search_result_cap
        self._search_cache: dict[tuple, tuple] = {}

    def handle(self, method: str, path: str, query: Query, body: bytes, base_url: str) -> tuple:
        """(status, payload) for one authenticated request."""
        path = path.rstrip("/") or "/"
        for route_method, pattern, handler in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    with self.crm.lock:
                        args = (*match.groups(), query, body, f"{base_url}{path}")
                        return 200, getattr(self, handler)(*args)
                except ApiError as error:
                    return error.status, error_body(error.message, error.category)
        return 404, error_body(f"No route for {method} {path}", "OBJECT_NOT_FOUND")

    def _shape(self, object_type: str, record: dict, names: list[str], links: list[str]) -> dict:
        props = record["properties"]
        shaped = {
            "id": record["id"],
            "properties": {name: props.get(name) for name in names},
            "createdAt": record["createdAt"],
            "updatedAt": record["updatedAt"],
            "archived": record["archived"],
        }
        if record["archived"]:
            shaped["archivedAt"] = record["archivedAt"]
        associations = {}
        for other in links:
            label = f"{SINGULAR[object_type]}_to_{SINGULAR[other]}"
            ids = record["associations"].get(other, ())
            # Deleted records drop out of their neighbours' associations.
            live = [i for i in ids if not self.crm.get(other, i)["archived"]]
            if live:
                associations[other] = {"results": [{"id": i, "type": label} for i in live]}
        if associations:
            shaped["associations"] = associations
        return shaped

    def _properties(self, object_type: str, requested: list[str]) -> list[str]:
        if not requested:
            return list(DEFAULT_PROPERTIES[object_type])
        known = self.crm.property_names(object_type)
        # HubSpot always adds the object's id and timestamps to what was asked for.
        always = ("hs_object_id", CREATED_PROPERTY[object_type], MODIFIED_PROPERTY[object_type])
        return list(dict.fromkeys(n for n in (*requested, *always) if n in known))

    def _page(self, items: list, keep, query: Query, limit: int, link: str) -> dict:
        """Cursor paging over `items` (in numeric id order) that pass `keep`.

        `paging` is present only when another page exists.
        """
        after = _one(query, "after")
        start = 0
        if after is not None:
            start = bisect.bisect_left(items, _decode_cursor(after), key=lambda i: int(i["id"]))
        page_items = []
        for item in itertools.islice(items, start, None):
            if keep(item):
                page_items.append(item)
                if len(page_items) > limit:
                    break
        page: dict = {"results": page_items[:limit]}
        if len(page_items) > limit:
            cursor = encode_cursor(page_items[limit]["id"])
            params = [(k, v) for k, values in query.items() if k != "after" for v in values]
            url = f"{link}?{urlencode([*params, ('after', cursor)])}"
            page["paging"] = {"next": {"after": cursor, "link": url}}
        return page

    def list_objects(self, object_type: str, query: Query, _body: bytes, link: str) -> dict:
        limit = _limit(_one(query, "limit"), 10, LIST_LIMIT_MAX)
        archived = _archived(query)
        names = self._properties(object_type, _names(query, "properties"))
        links = _association_types(query)
        records = self.crm.objects[object_type]
        page = self._page(records, lambda r: r["archived"] == archived, query, limit, link)
        page["results"] = [self._shape(object_type, r, names, links) for r in page["results"]]
        return page

    def get_object(self, object_type: str, record_id: str, query: Query, *_: object) -> dict:
        record = self.crm.get(object_type, record_id)
        if record is None or record["archived"] != _archived(query):
            raise ApiError(404, f"Object {object_type}/{record_id} not found", "OBJECT_NOT_FOUND")
        names = self._properties(object_type, _names(query, "properties"))
        return self._shape(object_type, record, names, _association_types(query))

    def search(self, object_type: str, _query: Query, body: bytes, _link: str) -> dict:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "Invalid JSON in request body") from None
        if not isinstance(request, dict):
            raise ApiError(400, "The search request must be a JSON object")
        limit = _limit(request.get("limit"), 10, SEARCH_LIMIT_MAX, minimum=0)
        after = _limit(request.get("after"), 0, 1 << 62, minimum=0)
        if after + limit > self.search_result_cap:
            raise ApiError(
                400,
                f"Search results are limited to {self.search_result_cap}; "
                f"after={after} with limit={limit} pages past it.",
            )
        found = self._matches(object_type, request)
        requested = request.get("properties") or []
        if not isinstance(requested, list):
            raise ApiError(400, "properties must be a list")
        names = self._properties(object_type, [str(p) for p in requested])
        page: dict = {
            "total": len(found),
            "results": [
                self._shape(object_type, r, names, []) for r in found[after : after + limit]
            ],
        }
        if after + limit < len(found):
            page["paging"] = {"next": {"after": str(after + limit)}}
        return page

    def _matches(self, object_type: str, request: dict) -> list[dict]:
        """Live records matching the request, in its sort order.

        Paging re-runs the same search many times, so results are kept while the properties
        the search reads are unchanged; the fingerprint also catches records edited in place.
        """
        groups, sorts = request.get("filterGroups"), request.get("sorts")
        text = str(request.get("query") or "").lower()
        records = self.crm.objects[object_type]
        defaults = DEFAULT_PROPERTIES[object_type]
        read = sorted(_property_names_in(groups, sorts) | set(defaults if text else ()))
        columns = [tuple([r["archived"] for r in records])]
        columns += [tuple([r["properties"].get(name) for r in records]) for name in read]
        state = (len(records), hash(tuple(columns)))
        cache_key = (object_type, json.dumps([groups, sorts, text], sort_keys=True, default=str))
        cached = self._search_cache.get(cache_key)
        if cached is not None and cached[0] == state:
            return cached[1]
        known = self.crm.property_names(object_type)
        try:
            matches = compile_filters(groups, known)
            sort = parse_sort(sorts, known)
        except SearchError as error:
            raise ApiError(400, str(error)) from None
        found = [
            r
            for r in records
            if not r["archived"]
            and matches(r["properties"])
            and (not text or any(text in (r["properties"].get(p) or "").lower() for p in defaults))
        ]
        found = order(found, sort)
        while len(self._search_cache) >= SEARCH_CACHE_SIZE:
            self._search_cache.pop(next(iter(self._search_cache)))  # oldest first
        self._search_cache[cache_key] = (state, found)
        return found

    def list_owners(self, query: Query, _body: bytes, link: str) -> dict:
        limit = _limit(_one(query, "limit"), 100, OWNERS_LIMIT_MAX)
        archived = _archived(query)
        email = (_one(query, "email") or "").lower()

        def keep(owner: dict) -> bool:
            return owner["archived"] == archived and (not email or owner["email"].lower() == email)

        return self._page(self.crm.owners, keep, query, limit, link)

    def list_pipelines(self, *_: object) -> dict:
        return {"results": self.crm.pipelines}
