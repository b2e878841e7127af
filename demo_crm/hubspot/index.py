"""Fast search over a large demo CRM: sorted indexes, a query planner and a result cache.

Incremental syncs page through searches like "modified since T, by id, from id F" and restart
them every 10,000 results with a new T or F. So that each page costs milliseconds at a million
records, a search is answered in three steps:

1. A lower bound on the sort property (`GT`/`GTE`, or the low end of `BETWEEN`) in a single filter
   group is taken out of the query: the rest is what gets cached, and the bound becomes a bisect
   into the cached, sorted result. Restarted searches then reuse one cached list.
2. Each filter group narrows its candidates by bisecting a sorted index: records by id (the
   type's list) or live records by modified time (built lazily). Only the candidates are tested.
3. Results are cached per (type, query) until the type's next write (`DemoCrm.version`).
"""

import bisect
import itertools
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass

from ..catalog import DEFAULT_PROPERTIES, MODIFIED_PROPERTY
from .search import _plain_key, _text, compile_filters, key_function, order, parse_sort

CACHE_SIZE = 16
ID_WIDTH = 20  # ids are zero-padded to this in modified-time keys
_TOP = "\U0010ffff"  # sorts after any key character
RANGE_OPERATORS = ("EQ", "GT", "GTE", "LT", "LTE", "BETWEEN")


@dataclass
class Hits:
    """Matching records in result order: `records[start:]`, without copying the list."""

    records: list[dict]
    start: int = 0

    def __len__(self) -> int:
        return len(self.records) - self.start

    def page(self, offset: int, limit: int) -> list[dict]:
        first = self.start + offset
        return self.records[first : first + limit]


class SearchIndex:
    """Answers searches against one `DemoCrm`; call with its lock held."""

    def __init__(self, crm) -> None:
        self.crm = crm
        self._cache: dict[tuple, tuple[int, list[dict]]] = {}
        self._by_modified: dict[str, tuple[int, ByModified | None]] = {}

    def find(self, object_type: str, request: dict) -> Hits:
        """Live records matching a search request, in its sort order; SearchError if invalid."""
        groups, sorts = request.get("filterGroups") or [], request.get("sorts")
        text = str(request.get("query") or "").lower()
        known = self.crm.property_names(object_type)
        compile_filters(groups, known)  # validates, raising SearchError as HubSpot's 400
        sort = parse_sort(sorts, known) or ("hs_object_id", False)  # HubSpot's default: by id
        name, descending = sort
        groups, bound = (groups, None) if descending else _take_lower_bound(groups, name)
        version = self.crm.version(object_type)
        cache_key = (
            object_type,
            json.dumps([groups, sort, text, bound is not None], sort_keys=True, default=str),
        )
        cached = self._cache.get(cache_key)
        if cached is None or cached[0] != version:
            found = self._search(object_type, groups, sort, text, bound is not None)
            while len(self._cache) >= CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))  # oldest first
            cached = self._cache[cache_key] = (version, found)
        found = cached[1]
        if bound is None:
            return Hits(found)
        op, value = bound
        key_of = key_function(name)
        at = key_of(value)
        side = bisect.bisect_right if op == "GT" else bisect.bisect_left
        return Hits(found, side(found, at, key=lambda r: key_of(r["properties"][name])))

    def _search(
        self, object_type: str, groups: list, sort: tuple[str, bool], text: str, has_sort: bool
    ) -> list[dict]:
        known = self.crm.property_names(object_type)
        matches = compile_filters(groups, known)
        name = sort[0]
        candidates, exact, in_id_order = self._candidates(object_type, groups)
        defaults = DEFAULT_PROPERTIES[object_type]

        def keep(record: dict) -> bool:
            props = record["properties"]
            return (
                not record["archived"]
                and (exact or matches(props))
                and (not has_sort or bool(props.get(name)))
                and (not text or any(text in (props.get(p) or "").lower() for p in defaults))
            )

        modified = MODIFIED_PROPERTY[object_type]
        from_index = not in_id_order  # only the modified-time index is in another order
        sort_value_present = name == "hs_object_id" or (name == modified and from_index)
        if exact and not text and (not has_sort or sort_value_present):
            # Every candidate matches; those from the modified-time index are live as well.
            found = candidates if from_index else [r for r in candidates if not r["archived"]]
        else:
            found = [r for r in candidates if keep(r)]
        if name == modified and not sort[1] and from_index:
            return found  # the modified-time index is already in this order, ties by id
        if from_index:
            found = _sorted_by(found, [int(r["id"]) for r in found])  # ties keep id order
        return found if name == "hs_object_id" and not sort[1] else order(found, sort)

    def _candidates(self, object_type: str, groups: list) -> tuple[list[dict], bool, bool]:
        """(records to test, whether they all match already, whether they are in id order)."""
        records = self.crm.objects[object_type]
        if not groups:
            return records, True, True
        picked = [self._narrow(object_type, group.get("filters") or []) for group in groups]
        if any(p is None for p in picked):
            return records, False, True
        if len(picked) == 1:
            source, exact, by_id = picked[0]
            return source, exact, by_id
        union = {id(r): r for source, _exact, _by_id in picked for r in source}
        return sorted(union.values(), key=_numeric_id), False, True

    def _narrow(self, object_type: str, filters: list) -> tuple[list[dict], bool, bool] | None:
        """The smallest index slice holding a group's matches: (slice, exact, in id order)."""
        modified = MODIFIED_PROPERTY[object_type]
        spans = {}
        records = self.crm.objects[object_type]
        ranges = _ranges(filters, "hs_object_id")
        if ranges:
            spans["hs_object_id"] = (records, *_id_span(records, ranges), True)
        by_modified = self._modified_index(object_type)
        ranges = _ranges(filters, modified)
        if ranges and by_modified is not None:
            span = by_modified.span(ranges)
            spans[modified] = (by_modified.records, *span, False)
        best = None
        for name, (source, lo, hi, by_id) in spans.items():
            if best is None or hi - lo < best[0]:
                exact = all(f.get("propertyName") == name for f in filters)
                exact = exact and len(_ranges(filters, name)) == len(filters)
                best = (hi - lo, source[lo:hi] if hi > lo else [], exact, by_id)
        return None if best is None else best[1:]

    def _modified_index(self, object_type: str) -> "ByModified | None":
        """Live records by modified time, caught up with the writes since it was last used.

        None (search tests every record instead) if a value is not canonical ISO text, which
        only in-place edits produce: canonical values order as plain strings, which is fast.
        """
        version = self.crm.version(object_type)
        built = self._by_modified.get(object_type)
        if built is not None and built[0] == version:
            return built[1]
        index = None
        name = MODIFIED_PROPERTY[object_type]
        if built is not None and built[1] is not None:
            written = self.crm.changes_since(object_type, built[0])
            if written is not None and len(written) <= len(built[1].records) // 4:
                index = built[1].patched(written, name)
        if index is None:
            live = [r for r in self.crm.objects[object_type] if not r["archived"]]
            index = ByModified.build(live, name)
        self._by_modified[object_type] = (version, index)
        return index


@dataclass
class ByModified:
    """Live records sorted by (modified time, id), with their keys as one string each.

    A key is the canonical ISO time followed by the zero-padded id, so keys are unique, order
    like (time, id), and bisect at C speed; writes patch the index instead of rebuilding it.
    """

    keys: list[str]
    records: list[dict]

    @staticmethod
    def build(live: list[dict], name: str) -> "ByModified | None":
        keys = _keys(live, name)
        if keys is None:
            return None
        order = sorted(range(len(keys)), key=keys.__getitem__)
        return ByModified([keys[i] for i in order], [live[i] for i in order])

    def patched(self, written: list[dict], name: str) -> "ByModified | None":
        """The index after these records were written (created, edited, archived, restored)."""
        gone = {id(r) for r in written}
        kept = list(map(operator.not_, map(gone.__contains__, map(id, self.records))))
        keys = list(itertools.compress(self.keys, kept))
        records = list(itertools.compress(self.records, kept))
        fresh = list({id(r): r for r in written if not r["archived"]}.values())
        fresh_keys = _keys(fresh, name)
        if fresh_keys is None:
            return None
        added = sorted(zip(fresh_keys, fresh, strict=True), key=operator.itemgetter(0))
        if not added or not keys or added[0][0] > keys[-1]:
            # Writes are usually the newest changes: they go at the end.
            keys += [k for k, _ in added]
            records += [r for _, r in added]
            return ByModified(keys, records)
        merged_keys: list[str] = []
        merged: list[dict] = []
        start = 0
        for key, record in added:
            at = bisect.bisect_left(keys, key, start)
            merged_keys += keys[start:at]
            merged += records[start:at]
            merged_keys.append(key)
            merged.append(record)
            start = at
        return ByModified(merged_keys + keys[start:], merged + records[start:])

    def span(self, ranges: list[tuple]) -> tuple[int, int]:
        """(lo, hi) positions of the records within all `_range` bounds."""
        lo, hi = 0, len(self.keys)
        for low, low_inclusive, high, high_inclusive in ranges:
            if low is not None:
                text = _text_bound(low)
                lo = max(lo, bisect.bisect_left(self.keys, text if low_inclusive else text + _TOP))
            if high is not None:
                text = _text_bound(high)
                hi = min(hi, bisect.bisect_left(self.keys, text + _TOP if high_inclusive else text))
        return lo, max(lo, hi)


def _keys(records: list[dict], name: str) -> list[str] | None:
    """(modified time + zero-padded id) per record; None if a time is not canonical ISO."""
    times = [r["properties"].get(name) for r in records]
    if not _all_canonical(times):
        return None
    return [t + r["id"].zfill(ID_WIDTH) for t, r in zip(times, records, strict=True)]


def _id_span(records: list[dict], ranges: list[tuple]) -> tuple[int, int]:
    lo, hi = 0, len(records)
    for low, low_inclusive, high, high_inclusive in ranges:
        if low is not None:
            side = bisect.bisect_left if low_inclusive else bisect.bisect_right
            lo = max(lo, side(records, low, key=_id_key))
        if high is not None:
            side = bisect.bisect_right if high_inclusive else bisect.bisect_left
            hi = min(hi, side(records, high, key=_id_key))
    return lo, max(lo, hi)


def _ranges(filters: list, name: str) -> list[tuple]:
    key_of = key_function(name)
    wanted = (_range(f, key_of) for f in filters if f.get("propertyName") == name)
    return [r for r in wanted if r is not None]


def _sorted_by(records: list[dict], keys: list) -> list[dict]:
    """Records stably sorted by precomputed keys (a C-level key function: fast)."""
    return [records[i] for i in sorted(range(len(records)), key=keys.__getitem__)]


def _numeric_id(record: dict) -> int:
    return int(record["id"])


def _id_key(record: dict) -> tuple:
    return _plain_key(record["id"])


def _all_canonical(values: list) -> bool:
    """All `YYYY-MM-DDTHH:MM:SS.mmmZ` (checked with C-level loops: this runs on every rebuild)."""
    if not values:
        return True
    if None in values or not all(map(isinstance, values, itertools.repeat(str))):
        return False
    return (
        set(map(len, values)) == {24}
        and set(map(operator.itemgetter(10), values)) == {"T"}
        and all(map(str.endswith, values, itertools.repeat("Z")))
    )


def _text_bound(key: tuple) -> str:
    # Datetime keys are (0, canonical ISO); any other value sorts after every datetime.
    return key[1] if key[0] == 0 else _TOP


def _range(spec: dict, key_of: Callable[[str], tuple]) -> tuple | None:
    """(low, low inclusive, high, high inclusive) keys of a range filter; None if not one."""
    op = spec.get("operator")
    if op not in RANGE_OPERATORS:
        return None
    value = key_of(_text(spec.get("value")) or "")
    if op == "EQ":
        return value, True, value, True
    if op == "BETWEEN":
        return value, True, key_of(_text(spec.get("highValue")) or ""), True
    if op in ("GT", "GTE"):
        return value, op == "GTE", None, False
    return None, False, value, op == "LTE"


def _take_lower_bound(groups: list, name: str) -> tuple[list, tuple[str, str] | None]:
    """Split a single group's first lower bound on `name` off the query: (rest, (op, value))."""
    if len(groups) != 1:
        return groups, None
    filters = list(groups[0].get("filters") or [])
    for index, spec in enumerate(filters):
        op = spec.get("operator")
        if spec.get("propertyName") != name or op not in ("GT", "GTE", "BETWEEN"):
            continue
        value = _text(spec.get("value"))
        if op == "BETWEEN":
            filters[index] = {"propertyName": name, "operator": "LTE", "value": spec["highValue"]}
            op = "GTE"
        else:
            del filters[index]
        return [{"filters": filters}], (op, value)
    return groups, None
