"""CRM sync benchmark against pre-rendered pages (issue 14), run by hand:

    .venv/bin/python bench/salesforce_sync_bench.py --records 250000
        [--repeats 3] [--memory-records 1000000 | 0] [--hubspot-records 250000 | 0]
        [--py-spy /path/to/py-spy] [--work-dir /tmp/crm-kpi-sf-bench] [--rerender]

The demo servers are slower than a real CRM's edge, which hides the client's own cost, so the
pages are rendered once per size (in a process of its own, cached under --work-dir) by the real
clients syncing from the demo servers, recorded answer by answer (bench/canned_server.py), then
answered from memory by a raw-socket server in another process. The clients sync from it
unchanged: token endpoint, /limits, describes, queryAll with the exact SOQL the sync sends,
nextRecordsUrl pages and the COUNT()s (for HubSpot: the list endpoints' paths and query
strings, live and archived, with associations).

Side by side in one run, repeated --repeats times (medians quoted; every measurement is a child
process, so its time and memory are its own):
  1. Salesforce full sync (sync_salesforce into a fresh DuckDB file, then the COUNT()s the
     pipeline sends) against the floor: one thread GETting and json-decoding the same answers
     with a plain requests.Session, in the order the sync asked for them;
  2. Salesforce incremental sync after a day of selling with change_share=0.01: pages rendered
     from the demo org after that day, for the incremental SOQL the sync sends;
  3. requests per 10,000 records of the full sync;
  4. peak RSS (ru_maxrss) of the sync process at --records and --memory-records;
  5. HubSpot full sync (sync_crm) against its floor, budget as client_factory builds it with
     CRM_KPI_RATE_LIMIT unset: starts at 100 per 10 s and follows the canned
     X-HubSpot-RateLimit-Max of 10,000, so the budget never waits;
  6. with --py-spy, where the full syncs spend their time (samples of every thread).
Prints one line per measurement, then a table of medians. Nothing is asserted on times.
"""

import argparse
import contextlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from canned_server import Recorder, load_order, save  # noqa: E402

from pipelines.warehouse import connect  # noqa: E402

NOW = datetime(2026, 10, 5, 14, 3, 11, tzinfo=UTC)
LOOKBACK = timedelta(minutes=15)  # CRM_KPI_SALESFORCE_LOOKBACK_MINUTES' default
CHANGE_SHARE = 0.01
CLIENT_ID, CLIENT_SECRET, TOKEN = "bench-client", "bench-secret", "bench-token"
TOKEN_PATH = "/services/oauth2/token"
# What the canned servers report on every answer: an allocation far from spent.
SALESFORCE_HEADERS = {"Sforce-Limit-Info": "api-usage=1000/5000000"}
HUBSPOT_HEADERS = {
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Max": "10000",
    "X-HubSpot-RateLimit-Remaining": "9999",
}
RENDER_VERSION = 1  # bump when what a page set holds changes


def salesforce_size(records: int) -> tuple[int, float]:
    """(deals, activity_scale) giving about `records` rows over the synced sObjects."""
    deals = round(records / 13.2)  # 2,500 deals at scale 0.875 give ~33,000 rows
    return deals, round(0.875 * deals / 2500, 3)


def hubspot_size(records: int) -> tuple[int, float]:
    deals = round(records / 10.4)  # bench/sync_bench.py: 25,000 deals at 8.75 give ~259,000
    return deals, round(8.75 * deals / 25_000, 3)


# ---------- rendering: the real clients sync from a demo server, every answer recorded


def render_salesforce(records: int, out: Path) -> None:
    """Record a full sync, then after a day of selling an incremental one, from the demo org."""
    from demo_crm import DemoSalesforceServer, simulate_day
    from pipelines.salesforce.client import SalesforceClient, SalesforceSession
    from pipelines.salesforce.objects import DEFAULT_API_VERSION, SALESFORCE_OBJECTS
    from pipelines.salesforce.sync import count_live_records, sync_salesforce

    deals, scale = salesforce_size(records)
    started = time.monotonic()
    server = DemoSalesforceServer(
        deals=deals,
        activity_scale=scale,
        now=NOW,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        daily_api_limit=10_000_000,
    )
    print(f"  demo org built in {time.monotonic() - started:.0f}s", flush=True)
    objects = list(SALESFORCE_OBJECTS)
    session = SalesforceSession(server.url, CLIENT_ID, CLIENT_SECRET)
    recorder = [Recorder()]

    def make_client() -> SalesforceClient:
        client = SalesforceClient(session, DEFAULT_API_VERSION)
        recorder[0].attach(client.session)
        return client

    def rows() -> dict[str, int]:
        with server.crm.lock:
            return {name: len(server.org.rows(name)) for name in server.org.specs}

    def token(rec: Recorder) -> None:
        body = {"access_token": TOKEN, "instance_url": "{{BASE_URL}}", "token_type": "Bearer"}
        rec.add("POST", TOKEN_PATH, 200, json.dumps(body).encode())

    with server, tempfile.TemporaryDirectory() as tmp, connect(Path(tmp) / "r.duckdb") as con:
        token(recorder[0])
        full = sync_salesforce(make_client, con, objects, NOW, LOOKBACK)
        count_live_records(make_client, objects, NOW)
        meta = {
            "crm": "salesforce",
            "synced_at": NOW.isoformat(),
            "rows": rows(),
            "fetched": {r.object_name: r.fetched for r in full},
            "raw": {r.object_name: r.records for r in full},
        }
        save(recorder[0], out / "full.pickle", SALESFORCE_HEADERS, meta)
        day = simulate_day(server.crm, change_share=CHANGE_SHARE)
        later = server.crm.now
        recorder[0] = Recorder()
        token(recorder[0])
        incremental = sync_salesforce(make_client, con, objects, later, LOOKBACK)
        count_live_records(make_client, objects, later)
        changes = {t: {k: len(v) for k, v in c.items()} for t, c in day.items()}
        meta = {
            "crm": "salesforce",
            "synced_at": later.isoformat(),
            "previous_synced_at": NOW.isoformat(),
            "changes": changes,
            "rows": rows(),
            "fetched": {r.object_name: r.fetched for r in incremental},
            "raw": {r.object_name: r.records for r in incremental},
        }
        save(recorder[0], out / "incremental.pickle", SALESFORCE_HEADERS, meta)


def render_hubspot(records: int, out: Path) -> None:
    """Record a full sync from the demo CRM: list endpoints, live and archived."""
    from demo_crm import DemoCrmServer
    from pipelines.hubspot.client import HubSpotClient
    from pipelines.hubspot.objects import CRM_OBJECTS
    from pipelines.hubspot.sync import sync_crm

    deals, scale = hubspot_size(records)
    server = DemoCrmServer(token=TOKEN, deals=deals, activity_scale=scale, now=NOW)
    recorder = Recorder()

    def make_client() -> HubSpotClient:
        client = HubSpotClient(server.url, TOKEN)
        recorder.attach(client.session)
        return client

    with server, tempfile.TemporaryDirectory() as tmp, connect(Path(tmp) / "r.duckdb") as con:
        results = sync_crm(make_client, con, list(CRM_OBJECTS), NOW, full_refresh=True)
    meta = {
        "crm": "hubspot",
        "synced_at": NOW.isoformat(),
        "fetched": {r.object_name: r.fetched for r in results},
        "raw": {r.object_name: r.records for r in results},
    }
    save(recorder, out / "full.pickle", HUBSPOT_HEADERS, meta)


def rendered(crm: str, records: int, work: Path, again: bool) -> Path:
    """The page set's directory, rendered in a child process unless already there."""
    out = work / f"{crm}-{records}-v{RENDER_VERSION}"
    if again and out.exists():
        shutil.rmtree(out)
    if not (out / "full.pickle.order.json").exists():
        print(f"rendering {crm} pages for ~{records:,} records into {out} ...", flush=True)
        started = time.monotonic()
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        command = [sys.executable, __file__, "render", crm, str(records), str(partial)]
        subprocess.run(command, check=True)
        partial.rename(out)
        print(f"  rendered in {time.monotonic() - started:.0f}s", flush=True)
    return out


# ---------- measurements, each in a child process of its own


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, url: str, pages: Path, db: Path | None) -> dict:
    meta, order = load_order(pages)
    synced_at = datetime.fromisoformat(meta["synced_at"])
    before = rss_mb()
    if kind == "floor":
        return floor(url, order) | {"rss_before_mb": before, "max_rss_mb": rss_mb()}
    clients: list = []
    if meta["crm"] == "salesforce":
        from pipelines.salesforce.client import ApiAllocation, SalesforceClient, SalesforceSession
        from pipelines.salesforce.objects import DEFAULT_API_VERSION, SALESFORCE_OBJECTS
        from pipelines.salesforce.sync import count_live_records, sync_salesforce

        session = SalesforceSession(url, CLIENT_ID, CLIENT_SECRET)
        allocation = ApiAllocation(0.1)

        def make_client() -> SalesforceClient:
            clients.append(SalesforceClient(session, DEFAULT_API_VERSION, allocation))
            return clients[-1]

        objects = list(SALESFORCE_OBJECTS)
        with connect(db) as con:
            started = time.perf_counter()
            results = sync_salesforce(make_client, con, objects, synced_at, LOOKBACK)
            synced = time.perf_counter()
            count_live_records(make_client, objects, synced_at)
            ended = time.perf_counter()
        requests_sent = 1 + sum(c.requests_sent for c in clients)  # 1: the token
    else:
        from pipelines.hubspot.client import DEFAULT_RATE_LIMIT, HubSpotClient
        from pipelines.hubspot.objects import CRM_OBJECTS
        from pipelines.hubspot.ratelimit import RateLimiter
        from pipelines.hubspot.sync import sync_crm

        budget = RateLimiter(DEFAULT_RATE_LIMIT, 10.0, ceiling=None)  # CRM_KPI_RATE_LIMIT unset
        search_budget = RateLimiter(None, 1.0)

        def make_client() -> HubSpotClient:
            client = HubSpotClient(url, TOKEN, budget=budget, search_budget=search_budget)
            clients.append(client)
            return client

        with connect(db) as con:
            started = time.perf_counter()
            results = sync_crm(make_client, con, list(CRM_OBJECTS), synced_at, full_refresh=True)
            synced = ended = time.perf_counter()
        requests_sent = sum(c.requests_sent for c in clients)
    fetched = {r.object_name: r.fetched for r in results}
    raw = {r.object_name: r.records for r in results}
    return {
        "seconds": ended - started,
        "sync_seconds": synced - started,
        "records": sum(fetched.values()),
        "requests": requests_sent,
        "same_as_render": fetched == meta["fetched"] and raw == meta["raw"],
        "raw_records": sum(raw.values()),
        "rss_before_mb": before,
        "max_rss_mb": rss_mb(),
    }


def floor(url: str, order: list[tuple[str, str]]) -> dict:
    """One thread: GET (or POST, the token) every recorded request and decode its JSON."""
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    records = 0
    started = time.perf_counter()
    for method, target in order:
        response = session.request(method, url + target, timeout=60)
        body = json.loads(response.content.decode())
        if isinstance(body, dict):
            records += len(body.get("records") or body.get("results") or ())
    seconds = time.perf_counter() - started
    session.close()
    return {"seconds": seconds, "records": records, "requests": len(order)}


def measure(kind: str, url: str, pages: Path, db: Path | None = None, spy: str | None = None):
    command = [sys.executable, __file__, "child", kind, url, str(pages), str(db or "")]
    out = None
    if spy:
        out = pages.parent / f"py-spy-{kind}.txt"
        command = [spy, "record", "-r", "200", "-f", "raw", "-t", "-o", str(out), "--", *command]
    if db is not None and kind == "full":  # a fresh file; an incremental sync's is prepared
        for old in db.parent.glob(db.name + "*"):
            old.unlink()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{kind} against {pages} failed:\n{done.stderr[-3000:]}")
    result = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
    if out is not None:
        result["profile"] = str(out)
    return result


@contextlib.contextmanager
def canned(pages: Path):
    """A canned server for `pages` in a process of its own: its URL."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "canned_server.py"), str(pages)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the canned server for {pages} did not start")
        yield url
    finally:
        server.terminate()
        server.wait()


def unknown_requests(url: str) -> int:
    stats = requests.get(f"{url}/_canned/stats", timeout=10).json()
    if stats["unknown_count"]:
        print(f"  WARNING: requests not in the page set: {stats['unknown']}", flush=True)
    return stats["unknown_count"]


# ---------- where the time goes (py-spy samples of every thread)

_CATEGORIES = (  # the first match from the innermost frame out wins
    ("waiting: fetchers blocked on a full page queue", ("Queue.put (queue.py",)),
    ("waiting: writer waiting for pages", ("Queue.get (queue.py",)),
    ("json.loads", ("json/decoder.py", "json/__init__.py")),
    ("HTTP (requests, urllib3, http.client, sockets)", ("urllib3/", "http/client.py", "socket.py")),
    ("HTTP (requests, urllib3, http.client, sockets)", ("requests/", "ssl.py")),
    ("body .decode() and the rest of exchange", ("exchange (pipelines/crm_http.py",)),
    ("DuckDB insert of pages (_flush)", ("_flush (pipelines/raw_sync.py",)),
    ("DuckDB merge and commit (_commit)", ("_commit (pipelines/raw_sync.py",)),
    ("DuckDB staging table (_begin)", ("_begin (pipelines/raw_sync.py",)),
    ("rate-limit budget", ("ratelimit.py",)),
)
_IN_SYNC = ("run_tasks", "sync_salesforce", "sync_crm", "count_live_records")


def profile_summary(path: str, seconds: float, rate: int = 200) -> list[str]:
    """Share of the sync's wall time per thread and per category, from py-spy's raw output
    (samples outside the sync, such as imports, left out)."""
    by_category: Counter = Counter()
    by_thread: Counter = Counter()
    for line in Path(path).read_text().splitlines():
        stack, _space, count = line.rpartition(" ")
        if not count.isdigit() or not any(mark in stack for mark in _IN_SYNC):
            continue
        frames = stack.split(";")
        by_thread["writer (main thread)" if "MainThread" in frames[0] else "fetchers"] += int(count)
        for frame in reversed(frames):
            category = next(
                (name for name, marks in _CATEGORIES if any(m in frame for m in marks)), None
            )
            if category:
                break
        else:
            category = f"other: {frames[-1][:70]}"
        by_category[category] += int(count)
    wall = seconds * rate
    lines = [f"    {role}: sampled {n / wall:.0%} of wall time" for role, n in by_thread.items()]
    lines += [
        f"    {n / wall:5.2f} threads' worth of wall time: {name}"
        for name, n in by_category.most_common(10)
    ]
    return lines


# ---------- the run


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-records", type=int, default=1_000_000, help="0: skip")
    parser.add_argument("--hubspot-records", type=int, default=250_000, help="0: skip")
    parser.add_argument("--py-spy", help="py-spy executable: profile one full sync of each CRM")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/crm-kpi-sf-bench"))
    parser.add_argument("--rerender", action="store_true", help="render the pages again")
    args = parser.parse_args()
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    sf = rendered("salesforce", args.records, work, args.rerender)
    hs = (
        rendered("hubspot", args.hubspot_records, work, args.rerender)
        if args.hubspot_records
        else None
    )
    big = None
    if args.memory_records:
        big = rendered("salesforce", args.memory_records, work, args.rerender)
    sf_meta, _ = load_order(sf / "full.pickle")
    incr_meta, _ = load_order(sf / "incremental.pickle")
    synced_rows = {k: v for k, v in sf_meta["rows"].items() if k != "Group"}
    print(f"demo org: {sum(synced_rows.values()):,} rows in synced sObjects {synced_rows}")
    print(f"a day of selling (change_share={CHANGE_SHARE}): {incr_meta['changes']}")

    runs: dict[str, list[dict]] = {k: [] for k in ("sf_floor", "sf_full", "sf_incr", "hs_floor")}
    runs["hs_full"] = []
    db, incr_db = work / "full.duckdb", work / "incremental.duckdb"
    with contextlib.ExitStack() as stack:
        sf_url = stack.enter_context(canned(sf / "full.pickle"))
        incr_url = stack.enter_context(canned(sf / "incremental.pickle"))
        hs_url = stack.enter_context(canned(hs / "full.pickle")) if hs else None
        for repeat in range(args.repeats):
            # Alternate which goes first, so a drift of the machine's load favours neither.
            pairs = [("sf_floor", "floor", None), ("sf_full", "full", db)]
            for name, kind, path in pairs if repeat % 2 == 0 else pairs[::-1]:
                runs[name].append(measure(kind, sf_url, sf / "full.pickle", path))
            for old in work.glob(incr_db.name + "*"):
                old.unlink()
            shutil.copy(db, incr_db)
            runs["sf_incr"].append(
                measure("incremental", incr_url, sf / "incremental.pickle", incr_db)
            )
            if hs:
                pairs = [("hs_floor", "floor", None), ("hs_full", "full", work / "hs.duckdb")]
                for name, kind, path in pairs if repeat % 2 == 0 else pairs[::-1]:
                    runs[name].append(measure(kind, hs_url, hs / "full.pickle", path))
            line = [f"repeat {repeat + 1}:"]
            for name, results in runs.items():
                if results:
                    line.append(f"{name} {results[-1]['seconds']:.2f}s")
            print(" ".join(line), flush=True)
        for url in (sf_url, incr_url, hs_url):
            if url:
                unknown_requests(url)
        profiles = {}
        if args.py_spy:
            profiles["salesforce"] = measure("full", sf_url, sf / "full.pickle", db, args.py_spy)
            if hs:
                hs_db = work / "hs.duckdb"
                profiles["hubspot"] = measure(
                    "full", hs_url, hs / "full.pickle", hs_db, args.py_spy
                )
    big_runs: dict[str, dict] = {}
    if big:
        big_db = work / "big.duckdb"
        with canned(big / "full.pickle") as url:
            big_runs["floor"] = measure("floor", url, big / "full.pickle")
            big_runs["full"] = measure("full", url, big / "full.pickle", big_db)
            unknown_requests(url)
        for old in work.glob(big_db.name + "*"):
            old.unlink()

    report(runs, big_runs, profiles, incr_meta)


def report(runs: dict, big_runs: dict, profiles: dict, incr_meta: dict) -> None:
    sf_floor, sf_full, sf_incr = runs["sf_floor"], runs["sf_full"], runs["sf_incr"]
    for name, results in runs.items():
        if results and not all(r.get("same_as_render", True) for r in results):
            print(f"WARNING: {name} fetched or kept other records than the rendering sync did")
    ratios = [f["seconds"] / b["seconds"] for f, b in zip(sf_full, sf_floor, strict=True)]
    full_s, floor_s = median(sf_full, "seconds"), median(sf_floor, "seconds")
    records, full_requests = sf_full[0]["records"], sf_full[0]["requests"]
    incr_s, incr_records = median(sf_incr, "seconds"), sf_incr[0]["records"]
    print(f"\nmedians of {len(sf_full)} repeats (side by side, same canned servers):")
    print(
        f"{'measurement':<44}{'wall s':>9}{'ratio':>8}{'requests':>10}{'records':>11}{'RSS MB':>8}"
    )

    def row(label, seconds, ratio, requests_, records_, rss):
        ratio_text = f"{ratio:.2f}x" if ratio is not None else ""
        rss_text = f"{rss:.0f}" if rss is not None else ""
        print(
            f"{label:<44}{seconds:>9.2f}{ratio_text:>8}{requests_:>10,}{records_:>11,}{rss_text:>8}"
        )

    row(
        "Salesforce floor (GET + json.loads, 1 thread)",
        floor_s,
        None,
        sf_floor[0]["requests"],
        sf_floor[0]["records"],
        None,
    )
    row(
        "Salesforce full sync (+ COUNT()s)",
        full_s,
        statistics.median(ratios),
        full_requests,
        records,
        median(sf_full, "max_rss_mb"),
    )
    row(
        "Salesforce incremental after 1% changed",
        incr_s,
        incr_s / full_s,
        sf_incr[0]["requests"],
        incr_records,
        median(sf_incr, "max_rss_mb"),
    )
    if runs["hs_full"]:
        hs_floor, hs_full = runs["hs_floor"], runs["hs_full"]
        hs_ratios = [f["seconds"] / b["seconds"] for f, b in zip(hs_full, hs_floor, strict=True)]
        row(
            "HubSpot floor (GET + json.loads, 1 thread)",
            median(hs_floor, "seconds"),
            None,
            hs_floor[0]["requests"],
            hs_floor[0]["records"],
            None,
        )
        row(
            "HubSpot full sync",
            median(hs_full, "seconds"),
            statistics.median(hs_ratios),
            hs_full[0]["requests"],
            hs_full[0]["records"],
            median(hs_full, "max_rss_mb"),
        )
    if big_runs:
        b_floor, b_full = big_runs["floor"], big_runs["full"]
        row(
            "Salesforce floor, large org (1 run)",
            b_floor["seconds"],
            None,
            b_floor["requests"],
            b_floor["records"],
            None,
        )
        row(
            "Salesforce full sync, large org (1 run)",
            b_full["seconds"],
            b_full["seconds"] / b_floor["seconds"],
            b_full["requests"],
            b_full["records"],
            b_full["max_rss_mb"],
        )
    print(f"\nSalesforce full/floor per repeat: {', '.join(f'{r:.2f}x' for r in ratios)}")
    if runs["hs_full"]:
        print(f"HubSpot full/floor per repeat: {', '.join(f'{r:.2f}x' for r in hs_ratios)}")
    print(f"Salesforce requests per 10,000 records (full): {full_requests / records * 10_000:.1f}")
    print(
        f"incremental: {incr_records:,} records fetched = {incr_records / records:.1%} of the "
        f"full sync's, {incr_s / full_s:.1%} of its time, {sf_incr[0]['requests']} requests "
        f"(fetched per object: {incr_meta['fetched']})"
    )
    rss_before = median(sf_full, "rss_before_mb")
    print(f"sync process RSS after imports, before syncing: {rss_before:.0f} MB")
    for crm, result in profiles.items():
        print(f"\n{crm} full sync under py-spy ({result['seconds']:.1f}s, slower than unprofiled):")
        print("\n".join(profile_summary(result["profile"], result["seconds"])))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "render":
        crm, records, out = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
        (render_salesforce if crm == "salesforce" else render_hubspot)(records, out)
    elif len(sys.argv) > 1 and sys.argv[1] == "child":
        kind, url, pages, db = sys.argv[2], sys.argv[3], Path(sys.argv[4]), sys.argv[5]
        if kind == "incremental":
            kind = "full"  # the same sync; the page set and the database make it incremental
        print(json.dumps(child(kind, url, pages, Path(db) if db else None)))
    else:
        main()
