"""The HubSpot CRM v3 routes the demo serves, as pure functions of a request: (status, JSON)."""

import base64
import binascii
import bisect
import json
import re
import uuid
import zlib
from collections.abc import Sequence
from urllib.parse import urlencode

from ..catalog import (
    CREATED_PROPERTY,
    DEFAULT_PROPERTIES,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    SINGULAR,
)
from ..generator.stages import stage_history
from ..store import DemoCrm
from . import associations
from .index import Hits, SearchIndex
from .search import SearchError

LIST_LIMIT_MAX, SEARCH_LIMIT_MAX, OWNERS_LIMIT_MAX = 100, 200, 500
HISTORY_LIMIT_MAX = 50  # per list page with propertiesWithHistory (DLT's figure; undocumented)
_PLURAL = {singular: plural for plural, singular in SINGULAR.items()} | {t: t for t in SINGULAR}
_OBJECTS = "|".join(OBJECT_TYPES)
_ANY = "|".join(_PLURAL)  # v4 paths take singular or plural names
_ROUTES = (
    ("GET", re.compile(rf"/crm/v3/objects/({_OBJECTS})"), "list_objects"),
    ("GET", re.compile(rf"/crm/v3/objects/({_OBJECTS})/(\d+)"), "get_object"),
    ("POST", re.compile(rf"/crm/v3/objects/({_OBJECTS})/search"), "search"),
    (
        "POST",
        re.compile(rf"/crm/v4/associations/({_ANY})/({_ANY})/batch/read"),
        "read_associations",
    ),
    (
        "GET",
        re.compile(rf"/crm/v4/objects/({_ANY})/(\d+)/associations/({_ANY})"),
        "list_associations",
    ),
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


def encode_cursor(record_id: str, tag: str = "") -> str:
    # Opaque on purpose, like HubSpot's: clients must hand back `after`, not do arithmetic on it.
    return base64.b64encode(f"{record_id}\n{tag}".encode()).decode()


def _decode_cursor(after: str) -> tuple[int, str]:
    """(first id of the page, tag)."""
    try:
        first, _, tag = base64.b64decode(after, validate=True).decode().partition("\n")
        return int(first), tag.strip()
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
    def __init__(
        self,
        crm: DemoCrm,
        search_result_cap: int = 10_000,
        search_lag_s: float = 0.0,
        short_pages: bool = False,
    ) -> None:
        self.crm = crm
        self.search_result_cap = search_result_cap
        # Search only sees records written (wall clock) at least this long ago; see `search`.
        self.search_lag_s = search_lag_s
        self.short_pages = short_pages
        self.index = SearchIndex(crm)

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

    def _shape(
        self,
        object_type: str,
        record: dict,
        names: list[str],
        links: list[str],
        history: Sequence[str] = (),
    ) -> dict:
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
        if history:
            shaped["propertiesWithHistory"] = {n: self._history(record, n) for n in history}
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

    @staticmethod
    def _history(record: dict, name: str) -> list[dict]:
        props = record["properties"]
        if name == "dealstage":
            return stage_history(props)
        # Only stage moves are tracked; other properties show their current value, dated by
        # the record's last modification (the latest it can have been set).
        if props.get(name) is None:
            return []
        return [{"value": props[name], "timestamp": record["updatedAt"], "sourceType": "CRM_UI"}]

    def _properties(self, object_type: str, requested: list[str]) -> list[str]:
        if not requested:
            return list(DEFAULT_PROPERTIES[object_type])
        known = self.crm.property_names(object_type)
        # HubSpot always adds the object's id and timestamps to what was asked for.
        always = ("hs_object_id", CREATED_PROPERTY[object_type], MODIFIED_PROPERTY[object_type])
        return list(dict.fromkeys(n for n in (*requested, *always) if n in known))

    def _page(self, items: list, keep, query: Query, limit: int, link: str) -> dict:
        """Cursor paging over `items` (in numeric id order) that pass `keep`.

        The cursor names the next page's first id, so a page seeks by bisection. `paging` is
        present only when another page exists (with `short_pages`, also on some short or empty
        pages, as HubSpot does: clients must page until `paging` is absent).
        """
        after = _one(query, "after")
        start, tag = 0, ""
        if after is not None:
            first, tag = _decode_cursor(after)
            start = bisect.bisect_left(items, first, key=_numeric_id)
        page_items: list = []
        while len(page_items) <= limit and start < len(items):
            # Slices, not islice: islice would walk the list from its head on every page.
            chunk = items[start : start + limit + 1 - len(page_items)]
            start += len(chunk)
            page_items += [item for item in chunk if keep(item)]
        page_items = page_items[: limit + 1]
        served = limit
        if self.short_pages and tag != "full" and len(page_items) > limit:
            # Deterministic per page: one in four empty, one in four half full.
            served = (0, limit // 2, limit, limit)[zlib.crc32((after or "").encode()) % 4]
        page: dict = {"results": page_items[:served]}
        if len(page_items) > served:
            # The page after a short one is served whole, so paging always moves on.
            cursor = encode_cursor(page_items[served]["id"], "full" if served < limit else "")
            params = [(k, v) for k, values in query.items() if k != "after" for v in values]
            url = f"{link}?{urlencode([*params, ('after', cursor)])}"
            page["paging"] = {"next": {"after": cursor, "link": url}}
        return page

    def list_objects(self, object_type: str, query: Query, _body: bytes, link: str) -> dict:
        history = _names(query, "propertiesWithHistory")
        # HubSpot serves fewer records per page when histories are asked for.
        maximum = HISTORY_LIMIT_MAX if history else LIST_LIMIT_MAX
        limit = min(_limit(_one(query, "limit"), 10, LIST_LIMIT_MAX), maximum)
        archived = _archived(query)
        names = self._properties(object_type, _names(query, "properties"))
        history = [n for n in history if n in self.crm.property_names(object_type)]
        links = _association_types(query)
        if archived:
            records = self.crm.archived_records(object_type)
        else:
            records = self.crm.objects[object_type]
        page = self._page(records, lambda r: r["archived"] == archived, query, limit, link)
        page["results"] = [
            self._shape(object_type, r, names, links, history) for r in page["results"]
        ]
        return page

    def get_object(self, object_type: str, record_id: str, query: Query, *_: object) -> dict:
        record = self.crm.get(object_type, record_id)
        if record is None or record["archived"] != _archived(query):
            raise ApiError(404, f"Object {object_type}/{record_id} not found", "OBJECT_NOT_FOUND")
        names = self._properties(object_type, _names(query, "properties"))
        history = _names(query, "propertiesWithHistory")
        history = [n for n in history if n in self.crm.property_names(object_type)]
        return self._shape(object_type, record, names, _association_types(query), history)

    def search(self, object_type: str, _query: Query, body: bytes, _link: str) -> dict:
        """POST search. Records written less than `search_lag_s` ago (wall clock, see
        `DemoCrm.written_at`) are not in the index yet: search skips them, lists do not."""
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
        requested = request.get("properties") or []
        if not isinstance(requested, list):
            raise ApiError(400, "properties must be a list")
        try:
            found = self.index.find(object_type, request)
        except SearchError as error:
            raise ApiError(400, str(error)) from None
        if self.search_lag_s > 0:
            pending = self.crm.recently_written(object_type, self.search_lag_s)
            if pending:
                rest = found.records[found.start :]
                found = Hits([r for r in rest if r["id"] not in pending])
        names = self._properties(object_type, [str(p) for p in requested])
        page: dict = {
            "total": len(found),
            "results": [self._shape(object_type, r, names, []) for r in found.page(after, limit)],
        }
        if after + limit < len(found):
            page["paging"] = {"next": {"after": str(after + limit)}}
        return page

    def read_associations(
        self, from_type: str, to_type: str, _query: Query, body: bytes, _link: str
    ):
        try:
            request = json.loads(body or b"{}")
            ids = [str(item["id"]) for item in request["inputs"]]
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, 'The body must be {"inputs": [{"id": ...}, ...]}') from None
        if len(ids) > associations.BATCH_INPUTS_MAX:
            raise ApiError(400, f"At most {associations.BATCH_INPUTS_MAX} inputs per batch")
        return associations.batch_read(self.crm, _PLURAL[from_type], _PLURAL[to_type], ids)

    def list_associations(
        self, from_type: str, record_id: str, to_type: str, query: Query, _body: bytes, link: str
    ) -> dict:
        from_type, to_type = _PLURAL[from_type], _PLURAL[to_type]
        record = self.crm.get(from_type, record_id)
        if record is None or record["archived"]:
            raise ApiError(404, f"Object {from_type}/{record_id} not found", "OBJECT_NOT_FOUND")
        limit = _limit(_one(query, "limit"), 500, associations.LIST_LIMIT_MAX)
        entries = sorted(associations.linked(self.crm, from_type, record, to_type), key=_to_id)
        start = _decode_cursor(_one(query, "after"))[0] if _one(query, "after") else 0
        first = bisect.bisect_left(entries, start, key=_to_id)
        page: dict = {"results": entries[first : first + limit]}
        if first + limit < len(entries):
            cursor = encode_cursor(str(entries[first + limit]["toObjectId"]))
            page["paging"] = {"next": {"after": cursor, "link": f"{link}?after={cursor}"}}
        return page

    def list_owners(self, query: Query, _body: bytes, link: str) -> dict:
        limit = _limit(_one(query, "limit"), 100, OWNERS_LIMIT_MAX)
        archived = _archived(query)
        email = (_one(query, "email") or "").lower()

        def keep(owner: dict) -> bool:
            return owner["archived"] == archived and (not email or owner["email"].lower() == email)

        return self._page(self.crm.owners, keep, query, limit, link)

    def list_pipelines(self, *_: object) -> dict:
        return {"results": self.crm.pipelines}


def _numeric_id(item: dict) -> int:
    return int(item["id"])


def _to_id(entry: dict) -> int:
    return entry["toObjectId"]
