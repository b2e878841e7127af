"""Salesforce's forms of a HubSpot value (instants, dates, amounts), and the per-record dice
that choose what only Salesforce has, fixed per seed and id so re-dressing never changes them."""

import zlib

from ..clock import iso, parse_instant


def stamp(value: str | None) -> str | None:
    """A HubSpot timestamp in Salesforce's form (UTC, milliseconds, `+0000`)."""
    if not value:
        return None
    if len(value) != 24 or value[-1] != "Z":
        ms = parse_instant(value)
        if ms is None:
            return None
        value = iso(ms)
    return value[:23] + "+0000"


def modstamp(value: str | None) -> str | None:
    """SystemModstamp keeps whole seconds only, as Salesforce's does: clients meet its ties."""
    full = stamp(value)
    return full and full[:20] + "000+0000"


def calendar_date(value: str | None) -> str | None:
    full = stamp(value)
    return full and full[:10]


def share(seed: int, purpose: str, record_id: str) -> float:
    """A fixed number in [0, 1) per seed, purpose and record."""
    return zlib.crc32(f"{seed}:{purpose}:{record_id}".encode()) / 2**32


def number(text: str | None) -> float | None:
    """HubSpot keeps amounts as text; Salesforce's Amount is a number, so text is null."""
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None
