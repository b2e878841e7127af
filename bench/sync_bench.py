"""Sync benchmark (issues 3 and 15), run by hand:

    .venv/bin/python bench/sync_bench.py [--records 250000] [--warehouse duckdb|postgres|both]
                                         [--postgres-url URL]

Side by side in one run, against a demo CRM serving from its own process (so it does not share
the client's interpreter lock):
  1. the floor: a bare loop that GETs and JSON-decodes every list page once, one thread;
  2. our full sync (pipelines.hubspot.sync) into a fresh DuckDB file;
  3. dlt's rest_api source loading the same endpoints into DuckDB, if a dlt venv is given
     (--dlt-python /tmp/dlt-venv/bin/python; install it there with `pip install "dlt[duckdb]"`);
  4. an incremental sync after 1% of records changed: requests and time against the full sync;
  5. deals alone under a limit of 40 requests / 10 s: time against the floor that limit allows
     for the requests made, and the share answered 429;
  6. peak memory (max RSS) of the sync process; `--memory-only --records 1000000` measures just
     the full sync's, to compare with the 250,000-record run.
`--warehouse postgres` syncs into Postgres (pipelines.warehouse.PostgresWarehouse, schema prefix
crm_kpi_, in a scratch database crm_kpi_sync_bench on the server of --postgres-url, default
$CRM_KPI_POSTGRES_URL; a role that may create databases) instead of DuckDB for 2 and 4; `both`
runs each of them on DuckDB then on Postgres, side by side against the same CRM (5 stays on
DuckDB: it measures the rate limiter, not the warehouse).
Every measurement runs in a child process so its memory is its own.
"""

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.hubspot.client import HubSpotClient  # noqa: E402
from pipelines.hubspot.objects import CRM_OBJECTS  # noqa: E402
from pipelines.hubspot.ratelimit import RateLimiter  # noqa: E402
from pipelines.hubspot.sync import sync_crm  # noqa: E402
from pipelines.warehouse import PostgresWarehouse, connect  # noqa: E402

TOKEN = "bench-token"
PG_DATABASE, PG_PREFIX = "crm_kpi_sync_bench", "crm_kpi_"
# Demo sizes: (deals, activity_scale) that give about this many records in all.
SIZES = {250_000: (25_000, 8.75), 1_000_000: (100_000, 35.0)}


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    started = time.monotonic()
    objects = [o for o in CRM_OBJECTS if not args.only or o.name == args.only]
    budget = RateLimiter(args.rate_limit, 10.0) if args.rate_limit else None
    sent = []

    def make_client() -> HubSpotClient:
        client = HubSpotClient(args.url, TOKEN, budget=budget)
        sent.append(client)
        return client

    if args.what == "floor":
        with HubSpotClient(args.url, TOKEN) as client:
            from pipelines.hubspot.fetch import all_records

            records = sum(
                page.count
                for obj in objects
                for archived in (False, True)
                for page in all_records(client, obj, obj.properties, archived)
            )
        requests_sent, responses_429 = client.requests_sent, client.responses_429
    else:
        with open_warehouse(args) as con:
            results = sync_crm(
                make_client, con, objects, datetime.now(UTC), full_refresh=args.what == "full"
            )
        records = sum(r.fetched for r in results)
        requests_sent = sum(c.requests_sent for c in sent)
        responses_429 = sum(c.responses_429 for c in sent)
    print(
        json.dumps(
            {
                "seconds": time.monotonic() - started,
                "records": records,
                "requests": requests_sent,
                "responses_429": responses_429,
                "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


@contextlib.contextmanager
def open_warehouse(args: argparse.Namespace):
    """The child's warehouse: the DuckDB file --db, or Postgres at --postgres-url."""
    if args.postgres_url:
        wh = PostgresWarehouse(args.postgres_url, PG_PREFIX, application_name="crm-kpi-bench")
        try:
            yield wh
        finally:
            wh.close()
    else:
        with connect(Path(args.db)) as con:
            yield con


def postgres_database(admin_url: str) -> str:
    """A fresh scratch database for the sync, on the server of `admin_url`: its URL."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg2

    con = psycopg2.connect(admin_url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f"drop database if exists {PG_DATABASE} with (force)")
        cur.execute(f"create database {PG_DATABASE}")
    con.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{PG_DATABASE}"))


def measure(url: str, what: str, db: Path | str | None = None, **options) -> dict:
    """One measurement in a child process; `db` a DuckDB file or a postgresql:// URL."""
    command = [sys.executable, __file__, "child", what, "--url", url]
    if isinstance(db, str) and db.startswith("postgresql://"):
        command += ["--postgres-url", db]
    elif db:
        command += ["--db", str(db)]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(url: str, path: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if body is None:
        return requests.get(f"{url}/_demo/{path}", headers=headers, timeout=600).json()
    return requests.post(f"{url}/_demo/{path}", json=body, headers=headers, timeout=600).json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, choices=sorted(SIZES), default=250_000)
    parser.add_argument("--dlt-python", help="python of a venv with dlt[duckdb] installed")
    parser.add_argument("--work-dir", default="/tmp/crm-kpi-bench")
    parser.add_argument("--memory-only", action="store_true", help="only the full sync's peak RSS")
    parser.add_argument("--warehouse", choices=["duckdb", "postgres", "both"], default="duckdb")
    parser.add_argument("--postgres-url", default=os.environ.get("CRM_KPI_POSTGRES_URL"))
    args = parser.parse_args()
    engines = ["duckdb", "postgres"] if args.warehouse == "both" else [args.warehouse]
    if "postgres" in engines and not args.postgres_url:
        parser.error("Postgres needs --postgres-url or CRM_KPI_POSTGRES_URL")
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("*.duckdb*"):
        old.unlink()
    targets: dict[str, Path | str] = {"duckdb": work / "full.duckdb"}
    if "postgres" in engines:
        targets["postgres"] = postgres_database(args.postgres_url)

    with serve_demo_crm(args.records) as (url, stats):
        print(f"demo CRM: {sum(stats['records'].values()):,} records {stats['records']}")

        if args.memory_only:
            for engine in engines:
                full = measure(url, "full", targets[engine])
                print(
                    f"{engine} full sync: {full['seconds']:.1f}s, {full['records']:,} records, "
                    f"peak RSS {full['max_rss_mb']:.0f} MB"
                )
            return
        floor = measure(url, "floor")
        print(
            f"floor (GET + JSON decode, 1 thread): {floor['seconds']:.1f}s, "
            f"{floor['requests']} requests, {floor['records']:,} records"
        )
        fulls = {}
        for engine in engines:
            full = fulls[engine] = measure(url, "full", targets[engine])
            print(
                f"{engine} full sync: {full['seconds']:.1f}s = "
                f"{full['seconds'] / floor['seconds']:.2f}x the floor, {full['requests']} "
                f"requests, {full['records']:,} records, peak RSS {full['max_rss_mb']:.0f} MB"
            )
        full = fulls[engines[0]]

        if args.dlt_python:
            started = time.monotonic()
            subprocess.run(
                [
                    args.dlt_python,
                    str(ROOT / "bench" / "dlt_rest_api.py"),
                    url,
                    TOKEN,
                    str(work / "dlt.duckdb"),
                ],
                check=True,
            )
            dlt_s = time.monotonic() - started
            print(f"dlt rest_api: {dlt_s:.1f}s; ours is {dlt_s / full['seconds']:.1f}x faster")

        changed = admin(url, "simulate-day", {"change_share": 0.01})
        print(f"a day of selling: {changed}")
        incrementals = {}
        for engine in engines:
            full = fulls[engine]
            incremental = incrementals[engine] = measure(url, "incremental", targets[engine])
            print(
                f"{engine} incremental sync: {incremental['seconds']:.1f}s "
                f"({incremental['seconds'] / full['seconds']:.1%} of full), "
                f"{incremental['requests']} requests "
                f"({incremental['requests'] / full['requests']:.1%} of full), "
                f"{incremental['records']:,} records, peak RSS {incremental['max_rss_mb']:.0f} MB"
            )
        if len(engines) == 2:
            print(
                f"postgres / duckdb: full sync {fulls['postgres']['seconds']:.1f}s / "
                f"{fulls['duckdb']['seconds']:.1f}s = "
                f"{fulls['postgres']['seconds'] / fulls['duckdb']['seconds']:.2f}x, "
                f"incremental {incrementals['postgres']['seconds']:.1f}s / "
                f"{incrementals['duckdb']['seconds']:.1f}s = "
                f"{incrementals['postgres']['seconds'] / incrementals['duckdb']['seconds']:.2f}x"
            )
        if engines == ["postgres"]:
            return

        admin(url, "rate-limit", {"max_requests_per_10s": 40})
        limited = measure(url, "full", work / "limited.duckdb", only="deals", rate_limit=40)
        sent = limited["requests"]
        # HubSpot's window is rolling: request k (from 0) can leave no earlier than
        # floor(k / 40) windows after the first, so the last one no earlier than this.
        allowed = (sent - 1) // 40 * 10
        fluid = (sent - 40) / 40 * 10  # a smooth 4/s after a first burst of 40: a looser floor
        print(
            f"deals under 40 requests/10 s: {limited['seconds']:.1f}s for {sent} requests; "
            f"the rolling window allows {allowed:.1f}s ({limited['seconds'] / allowed:.2f}x; "
            f"{limited['seconds'] / fluid:.2f}x a smooth 4/s after 40 at once); "
            f"429s: {limited['responses_429']} ({limited['responses_429'] / sent:.1%})"
        )


@contextlib.contextmanager
def serve_demo_crm(records: int):
    """A demo CRM of about `records` records in a process of its own: (url, its stats)."""
    deals, scale = SIZES[records]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "pipelines.cli", "demo-crm", "--port", str(port)]
    command += ["--token", TOKEN, "--deals", str(deals), "--activity-scale", str(scale)]
    server = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(600):
            try:
                stats = admin(url, "stats")
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        yield url, stats
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        parser = argparse.ArgumentParser()
        parser.add_argument("child")
        parser.add_argument("what", choices=["floor", "full", "incremental"])
        parser.add_argument("--url", required=True)
        parser.add_argument("--db")
        parser.add_argument("--postgres-url")
        parser.add_argument("--only")
        parser.add_argument("--rate-limit", type=int)
        child(parser.parse_args())
    else:
        main()
