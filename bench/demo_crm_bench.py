"""Demo CRM timings, run by hand:  .venv/bin/python bench/demo_crm_bench.py

Prints how long the in-memory demo CRM takes to generate a sales org, to give 12,000 calls one
modified time (`DemoCrm.touch`; tests/test_demo_crm_changes.py drains them by id), to simulate
a day of selling, and to answer a search after those writes. Nothing is asserted: the tests
check behaviour, this shows whether a change made any of it slow.
"""

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_crm import generate_demo_data, simulate_day  # noqa: E402
from demo_crm.hubspot.index import SearchIndex  # noqa: E402

NOW = datetime(2026, 10, 5, 14, 3, 11, 123000, tzinfo=UTC)


def timed(label: str, work: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label:<48} {time.perf_counter() - started:8.3f} s")
    return result


def main() -> None:
    crm = timed("generate the default org (3,000 deals)", lambda: generate_demo_data(7, NOW))
    busy = timed(
        "generate an org with > 12,000 calls",
        lambda: generate_demo_data(seed=6, now=NOW, deals=200, activity_scale=1.4),
    )
    ids = [r["id"] for r in busy.live("calls")[:12_000]]
    stamp = NOW + timedelta(hours=1)
    timed(f"touch {len(ids):,} calls to one millisecond", lambda: busy.touch("calls", ids, stamp))
    timed("simulate a day, 5% of records changing", lambda: simulate_day(crm, change_share=0.05))
    index = SearchIndex(crm)  # what the HubSpot API's search runs on
    since = {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "2026-10-05"}
    request = {"filterGroups": [{"filters": [since]}], "limit": 200}
    timed("first search for deals modified since a day", lambda: index.find("deals", request))
    timed("the same search again (cached)", lambda: index.find("deals", request))
    records = sum(len(r) for r in crm.objects.values())
    print(f"{records:,} records in the default org after the day")


if __name__ == "__main__":
    main()
