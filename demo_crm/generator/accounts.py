"""Companies and their contacts: the accounts deals and activities are about."""

import unicodedata
from collections.abc import Callable, Iterator

from ..catalog import (
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LIFECYCLE_STAGES,
)
from ..clock import MS_DAY, Dice, iso, parse_instant
from ..store import new_record

# First id per type. Contacts cross a digit boundary, which exposes ids sorted as strings.
ID_BASES = {"companies": 5_100_000_001, "contacts": 871}


def id_sequence(rng: Dice, base: int) -> Iterator[str]:
    # Real ids are increasing but not contiguous.
    current = base
    while True:
        yield str(current)
        current += rng.randint(1, 3)


def _unique(taken: set[str], make: Callable[[int], str]) -> str:
    """make(attempt) → candidate; later attempts should add a distinguishing suffix."""
    attempt = 0
    while (candidate := make(attempt)) in taken:
        attempt += 1
    taken.add(candidate)
    return candidate


def company_name(rng: Dice, attempt: int) -> str:
    words = (rng.choice(COMPANY_WORDS), rng.choice(COMPANY_WORDS), rng.choice(COMPANY_SUFFIXES))
    # Big benchmark builds run out of word combinations; numbering keeps names unique.
    return " ".join(words) + (f" {attempt}" if attempt >= 20 else "")


def build_companies(rng: Dice, count: int, window_start: int, now_ms: int) -> list[dict]:
    # Most customers predate the window, so early deals have companies to attach to.
    created = sorted(
        rng.randint(window_start - 730 * MS_DAY, window_start)
        if rng.random() < 0.7
        else rng.randint(window_start, now_ms)
        for _ in range(count)
    )
    taken: set[str] = set()
    records = []
    ids = id_sequence(rng, ID_BASES["companies"])
    for created_ms, company_id in zip(created, ids, strict=False):
        name = _unique(taken, lambda attempt: company_name(rng, attempt))
        updated = created_ms + int((now_ms - created_ms) * rng.random())
        props = {
            "name": name,
            "domain": name.lower().replace(" ", "") + ".example",
            "industry": rng.choice(INDUSTRIES) if rng.random() < 0.9 else None,
            "hubspot_owner_id": None,
            "createdate": iso(created_ms),
            "hs_lastmodifieddate": iso(updated),
            "hs_object_id": company_id,
        }
        records.append(new_record(company_id, props, iso(created_ms), iso(updated)))
    return records


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def build_contacts(rng: Dice, companies: list[dict], now_ms: int) -> list[dict]:
    drafts = []
    taken: set[str] = set()
    for company in companies:
        company_created = parse_instant(company["createdAt"])
        for _ in range(rng.choices((1, 2, 3), weights=(3, 4, 3))[0]):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            domain = company["properties"]["domain"]
            local = f"{_ascii(first)}.{_ascii(last)}"
            email = _unique(taken, lambda n, p=local, d=domain: f"{p}{n or ''}@{d}")
            created = company_created + rng.randint(0, min(60 * MS_DAY, now_ms - company_created))
            updated = created + int((now_ms - created) * rng.random())
            stage = rng.choices(LIFECYCLE_STAGES, weights=(5, 25, 15, 15, 15, 20, 3, 2))[0]
            props = {
                "firstname": first,
                "lastname": last,
                "email": email,
                "lifecyclestage": stage,
                "hubspot_owner_id": None,
                "createdate": iso(created),
                "lastmodifieddate": iso(updated),
            }
            drafts.append((created, updated, props, company["id"]))
    drafts.sort(key=lambda d: d[0])
    records = []
    for (created, updated, props, company_id), contact_id in zip(
        drafts, id_sequence(rng, ID_BASES["contacts"]), strict=False
    ):
        props["hs_object_id"] = contact_id
        record = new_record(contact_id, props, iso(created), iso(updated))
        record["associations"]["companies"] = [company_id]
        records.append(record)
    return records
