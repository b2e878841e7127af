"""CRM search semantics: filter groups, operators and sorting as HubSpot documents them.

Comparisons are numeric when both sides parse as numbers, chronological for datetime
properties (filter values may be epoch milliseconds or ISO), else case-insensitive text.
"""

import fnmatch
import math
import operator
import re
from collections.abc import Callable

from ..catalog import DATETIME_PROPERTIES
from ..clock import iso, parse_instant

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
Predicate = Callable[[dict], bool]


class SearchError(ValueError):
    """A request HubSpot would answer with 400."""


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _datetime_key(text: str) -> tuple:
    # Stored values are canonical ISO (same width, UTC), which orders as text.
    if len(text) == 24 and text[10] == "T" and text[-1] == "Z":
        return (0, text)
    ms = parse_instant(text)
    return (0, iso(ms)) if ms is not None else _plain_key(text)


def _plain_key(text: str) -> tuple:
    number = _number(text)
    return (1, number) if number is not None else (2, text.lower())


def key_function(name: str) -> Callable[[str], tuple]:
    """Orderable form of a property's values; kinds are ranked so mixed values never raise."""
    return _datetime_key if name in DATETIME_PROPERTIES else _plain_key


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^\w@.]+", text.lower()) if t]


def compile_filters(groups: object, known: set[str]) -> Predicate:
    """One predicate over a record's properties: groups OR-ed, filters inside a group AND-ed."""
    if groups in (None, []):
        return lambda props: True
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise SearchError("filterGroups must be a list of objects")
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups: {len(groups)} (max {MAX_GROUPS})")
    compiled, total = [], 0
    for group in groups:
        filters = group.get("filters") or []
        if not isinstance(filters, list):
            raise SearchError("filters must be a list")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(f"Too many filters in a group: {len(filters)}")
        total += len(filters)
        compiled.append([_compile_filter(f, known) for f in filters])
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters: {total} (max {MAX_FILTERS})")
    return _any_of([_all_of(group) for group in compiled])


def _all_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]

    def every(props: dict) -> bool:
        return all(p(props) for p in predicates)

    return every


def _any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 1:
        return predicates[0]

    def some(props: dict) -> bool:
        return any(p(props) for p in predicates)

    return some


def _compile_filter(spec: object, known: set[str]) -> Predicate:
    if not isinstance(spec, dict):
        raise SearchError("each filter must be an object")
    name, op = spec.get("propertyName"), spec.get("operator")
    if name not in known:
        raise SearchError(f"Property {name!r} does not exist")
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        wanted = op == "HAS_PROPERTY"
        return lambda props: (props.get(name) not in (None, "")) == wanted

    key_of = key_function(name)

    def key(value: object) -> tuple:
        text = _text(value)
        if text is None:
            raise SearchError(f"Filter on {name!r} with {op} needs a value")
        return key_of(text)

    def stored(props: dict) -> tuple | None:
        value = props.get(name)
        return key_of(value) if value else None

    if op in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list) or not values:
            raise SearchError(f"{op} needs a non-empty 'values' list")
        keys = {key(v) for v in values}
        if op == "IN":
            return lambda props: stored(props) in keys
        # Records without a value are "not in" any list, as with NEQ.
        return lambda props: stored(props) not in keys
    if op == "BETWEEN":
        low, high = key(spec.get("value")), key(spec.get("highValue"))
        return lambda props: (v := stored(props)) is not None and low <= v <= high
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = (_text(spec.get("value")) or "").lower()
        wanted = op == "CONTAINS_TOKEN"

        def contains(props: dict) -> bool:
            tokens = _tokens(props.get(name) or "")
            return any(fnmatch.fnmatchcase(t, pattern) for t in tokens) == wanted

        return contains
    if op == "NEQ":
        target = key(spec.get("value"))
        return lambda props: stored(props) != target
    compare = _COMPARISONS.get(op)
    if compare is None:
        raise SearchError(f"Unknown operator {op!r}")
    target = key(spec.get("value"))
    return lambda props: (v := stored(props)) is not None and compare(v, target)


_COMPARISONS = {
    "EQ": operator.eq,
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


def parse_sort(sorts: object, known: set[str]) -> tuple[str, bool] | None:
    """(property, descending) of the first sort; HubSpot honours only one sort field."""
    if not sorts:
        return None
    if not isinstance(sorts, list):
        raise SearchError("sorts must be a list")
    first = sorts[0]
    if isinstance(first, str):
        name, descending = first.lstrip("-"), first.startswith("-")
    elif isinstance(first, dict):
        name = first.get("propertyName")
        direction = first.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise SearchError(f"Unknown sort direction {direction!r}")
        descending = direction == "DESCENDING"
    else:
        raise SearchError("each sort must be a property name or an object")
    if name not in known:
        raise SearchError(f"Cannot sort by unknown property {name!r}")
    return name, descending


def order(records: list[dict], sort: tuple[str, bool] | None) -> list[dict]:
    """Sort records (given in id order); ties keep id order, records without a value go last."""
    if sort is None:
        return records
    name, descending = sort
    key_of = key_function(name)
    present = [r for r in records if r["properties"].get(name)]
    missing = [r for r in records if not r["properties"].get(name)]
    present.sort(key=lambda r: key_of(r["properties"][name]), reverse=descending)
    return present + missing
