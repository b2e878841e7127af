"""Salesforce's REST routes under `/services/data/vXX.X/`: describe, query, queryAll, limits.

Answers are `(status, payload)`; errors are Salesforce's arrays of `{message, errorCode}`.
Auth, API limits and faults are the gateway's (gateway.py), in front of these.
"""

import itertools
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .ids import KEY_PREFIXES
from .org import Org
from .schema import CASE_INSENSITIVE_TYPES, FieldSpec, SObjectSpec, describe
from .soql import OrderItem, Query, SoqlError, compile_condition, parse

API_VERSIONS = (("62.0", "Winter '25"), ("63.0", "Spring '25"), ("64.0", "Summer '25"))
API_VERSIONS += (("65.0", "Winter '26"),)
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
MAX_CURSORS = 200  # open query locators kept; the oldest is forgotten first


def errors(code: str, message: str) -> list[dict]:
    return [{"message": message, "errorCode": code}]


NOT_FOUND = errors("NOT_FOUND", "The requested resource does not exist")
# What a user without View Setup and Configuration gets from /limits.
NO_ACCESS = errors("INSUFFICIENT_ACCESS", "The requested resource does not exist")


@dataclass
class Cursor:
    """A query's result as of its first page: the rows themselves, not copies of them."""

    rows: list[dict]
    project: Callable[[dict], dict]
    batch_size: int  # the first request's: later pages keep it


class Api:
    """The org's REST API; call `handle` with the store's lock free (it takes it)."""

    def __init__(self, org: Org, short_pages: bool = False) -> None:
        self.org = org
        self.short_pages = short_pages
        self.limits_visible = True
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._locator_numbers = itertools.count(1)

    def versions(self) -> list[dict]:
        return [
            {"version": v, "label": label, "url": f"/services/data/v{v}"}
            for v, label in API_VERSIONS
        ]

    def handle(
        self, version: str, route: str, params: dict, batch_size: int, limits: dict
    ) -> tuple[int, object]:
        """`route` is the path after `/services/data/vXX.X/`, without its trailing slash."""
        base = f"/services/data/v{version}"
        parts = route.split("/") if route else []
        try:
            if not parts:
                names = ("sobjects", "query", "queryAll", "limits")
                return 200, {name: f"{base}/{name}" for name in names}
            if parts[0] == "limits" and len(parts) == 1:
                if not self.limits_visible:
                    return 403, NO_ACCESS
                return 200, limits
            if parts[0] == "sobjects":
                return self._sobjects(base, parts[1:])
            if parts[0] in ("query", "queryAll"):
                include_deleted = parts[0] == "queryAll"
                if len(parts) == 1:
                    return 200, self.query(base, params, include_deleted, batch_size)
                if len(parts) == 2:
                    return 200, self.next_page(base, parts[1])
        except SoqlError as error:
            return 400, errors(error.code, error.message)
        return 404, NOT_FOUND

    def _sobjects(self, base: str, parts: list[str]) -> tuple[int, object]:
        specs = self.org.specs
        if not parts:
            return 200, {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {
                        "name": name,
                        "label": spec.label,
                        "keyPrefix": KEY_PREFIXES[name],
                        "queryable": True,
                        "urls": {
                            "sobject": f"{base}/sobjects/{name}",
                            "describe": f"{base}/sobjects/{name}/describe",
                        },
                    }
                    for name, spec in specs.items()
                ],
            }
        spec = _spec(specs, parts[0])
        if spec is None:
            return 404, errors("INVALID_TYPE", f"sObject type '{parts[0]}' is not supported.")
        if parts[1:] == ["describe"]:
            return 200, describe(spec, KEY_PREFIXES[spec.name])
        if len(parts) == 1:
            summary = {"name": spec.name, "label": spec.label, "keyPrefix": KEY_PREFIXES[spec.name]}
            return 200, {"objectDescribe": summary, "recentItems": []}
        return 404, NOT_FOUND

    # ---------- query

    def query(self, base: str, params: dict, include_deleted: bool, batch_size: int) -> dict:
        text = (params.get("q") or [""])[0]
        if not text.strip():
            raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
        query = parse(text)
        spec = _spec(self.org.specs, query.sobject)
        if spec is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        with self.org.crm.lock:
            rows, project = self._run(base, spec, query, include_deleted)
        if query.is_count:
            return {"totalSize": len(rows), "done": True, "records": []}
        locator = f"01gDm0{next(self._locator_numbers):09d}AAA"
        self._cursors[locator] = Cursor(rows, project, batch_size)
        while len(self._cursors) > MAX_CURSORS:
            self._cursors.popitem(last=False)
        return self._page(base, locator, 0)

    def next_page(self, base: str, locator_and_start: str) -> dict:
        locator, _dash, start = locator_and_start.rpartition("-")
        if locator not in self._cursors or not start.isdigit():
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursors.move_to_end(locator)
        return self._page(base, locator, int(start))

    def _page(self, base: str, locator: str, start: int) -> dict:
        cursor = self._cursors[locator]
        size = cursor.batch_size
        if self.short_pages and zlib.crc32(f"{locator}-{start}".encode()) % 3 == 0:
            size = max(1, size // 4)  # "no guarantee that the requested batch size is..."
        end = min(start + size, len(cursor.rows))
        with self.org.crm.lock:  # relationship fields look rows up
            records = [cursor.project(row) for row in cursor.rows[start:end]]
        page = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows), "records": records}
        if page["done"]:
            del self._cursors[locator]
        else:
            page["nextRecordsUrl"] = f"{base}/query/{locator}-{end}"
        return page

    def _run(
        self, base: str, spec: SObjectSpec, query: Query, include_deleted: bool
    ) -> tuple[list[dict], Callable[[dict], dict]]:
        resolve = self._resolver(spec)
        rows = self.org.rows(spec.name)
        if not include_deleted:
            # query leaves out the recycle bin and archived activities; queryAll shows both.
            rows = [r for r in rows if not r.get("IsDeleted") and not r.get("IsArchived")]
        if query.where is not None:
            keep = compile_condition(query.where, lambda name: resolve(name)[:2])
            rows = [r for r in rows if keep(r)]
        for item in reversed(query.order_by):
            rows = _ordered(rows, item, *resolve(item.field)[:2])
        rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        return rows, self._projection(base, spec, query, resolve)

    def _resolver(self, spec: SObjectSpec) -> Callable[[str], tuple]:
        """Field path → (value of a row, describe type, (relationship, field) names)."""
        org = self.org

        def resolve(path: str) -> tuple:
            if "." not in path:
                field = spec.field(path) or _no_column(path, spec)
                name = field.name
                return (lambda row: row.get(name)), field.type, (None, name)
            relationship_name, field_name = path.split(".")
            reference = spec.relationship(relationship_name)
            if reference is None:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{relationship_name}' in field path. "
                    f"If you are attempting to use a custom relationship, be sure to append "
                    f"the '__r' after the custom relationship name.",
                )
            targets = [org.specs[t] for t in reference.references if t in org.specs]
            field = next((f for t in targets if (f := t.field(field_name))), None)
            if field is None:
                _no_column(field_name, targets[0])
            key, name = reference.name, field.name

            def get(row: dict) -> object:
                target = org.lookup(row.get(key))
                return target.get(name) if target is not None else None

            return get, field.type, (reference.relationship, name)

        return resolve

    def _projection(
        self, base: str, spec: SObjectSpec, query: Query, resolve: Callable
    ) -> Callable[[dict], dict]:
        plain: list[str] = []
        related: dict[str, tuple[str, list[str]]] = {}  # relationship → (id field, fields)
        for path in dict.fromkeys(query.fields):
            _get, _type, (relationship, name) = resolve(path)
            if relationship is None:
                plain.append(name)
            else:
                id_field = spec.relationship(relationship).name  # type: ignore[union-attr]
                related.setdefault(relationship, (id_field, []))[1].append(name)
        org, sobject = self.org, spec.name

        def project(row: dict) -> dict:
            record: dict = {
                "attributes": {"type": sobject, "url": f"{base}/sobjects/{sobject}/{row['Id']}"}
            }
            for name in plain:
                record[name] = row.get(name)
            for relationship, (id_field, names) in related.items():
                target = org.lookup(row.get(id_field))
                if target is None:
                    record[relationship] = None
                    continue
                kind = org.sobject_of(target["Id"])
                nested: dict = {
                    "attributes": {"type": kind, "url": f"{base}/sobjects/{kind}/{target['Id']}"}
                }
                for name in names:
                    nested[name] = target.get(name)
                record[relationship] = nested
            return record

        return project


def _spec(specs: dict[str, SObjectSpec], name: str) -> SObjectSpec | None:
    return next((s for n, s in specs.items() if n.lower() == name.lower()), None)


def _no_column(name: str, spec: SObjectSpec) -> FieldSpec:
    raise SoqlError(
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{spec.name}'. If you are attempting to use a custom "
        f"field, be sure to append the '__c' after the custom field name. Please reference your "
        f"WSDL or the describe call for the appropriate names.",
    )


def _ordered(rows: list[dict], item: OrderItem, get: Callable, field_type: str) -> list[dict]:
    """Stable sort by one key; nulls first when ascending unless told, as Salesforce does."""
    present = [r for r in rows if get(r) is not None]
    missing = [r for r in rows if get(r) is None]
    text = field_type in CASE_INSENSITIVE_TYPES
    present.sort(key=(lambda r: get(r).lower()) if text else get, reverse=item.descending)
    nulls_first = item.nulls_first if item.nulls_first is not None else not item.descending
    return missing + present if nulls_first else present + missing
