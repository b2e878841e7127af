"""Where a Postgres build's time goes, run by hand (not a test) on a database dbt_build.py kept
(`--keep`: `crm_kpi_bench`, or its snapshots `crm_kpi_bench_raw` / `crm_kpi_bench_changed`):

    .venv/bin/python bench/pg_profile.py explain MODEL --database DB --target DIR [-c work_mem=64MB]
    .venv/bin/python bench/pg_profile.py json-type --database DB --target DIR [--rounds 3]
    .venv/bin/python bench/pg_profile.py records --database DB

`explain` prints EXPLAIN (ANALYZE, BUFFERS) of a model's compiled SELECT (from dbt's target dir,
e.g. /tmp/crm-kpi-bench/target-postgres; an incremental model's filter on its own table dropped
with --full, so it reads every raw row as a first build does), with server settings given by -c
for that session.

`json-type` times the incremental staging models' first build (CREATE TEMP TABLE AS their
compiled SELECT) three ways over the same raw rows: `record` as jsonb (the raw layer's type), as
text cast to jsonb where the model reads it (Postgres inlines the source CTE, so every property
read parses the text again), and as text parsed once per row (a MATERIALIZED CTE: the parse alone,
plus a copy of the rows). The text tables are made once, untimed, in schema crm_kpi_raw_text.

`records` shows the stored size of the raw records per table and how many are TOASTed (stored
out of line and compressed, so every read of a property decompresses the whole record again).

The URL is --postgres-url or $CRM_KPI_POSTGRES_URL (any database of the server; DB replaces it).
"""

import argparse
import os
import re
import statistics
import sys
import time
from contextlib import closing
from pathlib import Path

import psycopg2

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from pg_side import database_url  # noqa: E402

RAW, TEXT = "crm_kpi_raw", "crm_kpi_raw_text"
STAGING = {
    "stg_hubspot__deals": "deals",
    "stg_hubspot__deal_stage_history": "deals",
    "stg_hubspot__calls": "calls",
    "stg_hubspot__emails": "emails",
    "stg_hubspot__meetings": "meetings",
    "stg_hubspot__tasks": "tasks",
}


def compiled_sql(target: Path, model: str, full: bool) -> str:
    (path,) = target.glob(f"compiled/**/{model}.sql")
    # dbt names relations with their database; a kept snapshot is another database.
    sql = re.sub(r'"crm_kpi_bench[a-z_]*"\.', "", path.read_text())
    if full:  # as a first build: every raw row (raw_rows_to_stage without its filter)
        sql = re.sub(r"\n\s*where loaded_at > \(select coalesce\(max\(loaded_at\).*\)\n", "\n", sql)
    return sql


def connect(args, options: list[str] = ()):
    url = database_url(args.postgres_url, args.database)
    con = psycopg2.connect(url, options=" ".join(f"-c {o}" for o in options))
    con.autocommit = True
    return con


def explain(args) -> None:
    sql = compiled_sql(args.target, args.model, args.full)
    with closing(connect(args, args.c)) as con, con.cursor() as cur:
        started = time.perf_counter()
        cur.execute(f"explain (analyze, buffers, verbose false) {sql}")
        for (line,) in cur.fetchall():
            print(line)
        print(f"-- {time.perf_counter() - started:.1f} s with {args.c or 'the server defaults'}")


def json_type(args) -> None:
    with closing(connect(args)) as con, con.cursor() as cur:
        cur.execute(f"create schema if not exists {TEXT}")
        for table in sorted(set(STAGING.values())):
            cur.execute(f"drop table if exists {TEXT}.{table}")
            cur.execute(
                f"create table {TEXT}.{table} as select id, updated_at, archived, "
                f"record::text as record, loaded_at from {RAW}.{table}"
            )
            cur.execute(f"vacuum analyze {TEXT}.{table}")
        times: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.rounds):
            for model, table in STAGING.items():
                sql = compiled_sql(args.target, model, full=True)
                raw = re.compile(rf'"{RAW}"\."{table}"')
                assert raw.search(sql), f"{model} does not read {RAW}.{table}"
                text = f"{TEXT}.{table}"
                variants = {
                    "jsonb": sql,
                    "text, cast per read": raw.sub(
                        f"(select id, updated_at, archived, record::jsonb as record, loaded_at "
                        f"from {text}) as raw_text",
                        sql,
                    ),
                    "text, parsed once": "with raw_text as materialized (select id, "
                    f"updated_at, archived, record::jsonb as record, loaded_at from {text})\n"
                    + raw.sub("raw_text", sql).replace("\nwith\n", ",\n", 1),
                }
                for name, variant in variants.items():
                    cur.execute("drop table if exists bench_staged")
                    started = time.perf_counter()
                    cur.execute(f"create temp table bench_staged as {variant}")
                    seconds = time.perf_counter() - started
                    times.setdefault(model, {}).setdefault(name, []).append(seconds)
        cur.execute(f"select count(*) from {RAW}.calls")
        print(f"{args.database}: {cur.fetchone()[0]:,} calls; median of {args.rounds} rounds")
        totals: dict[str, float] = {}
        for model, by_variant in times.items():
            medians = {name: statistics.median(s) for name, s in by_variant.items()}
            for name, seconds in medians.items():
                totals[name] = totals.get(name, 0) + seconds
            print(f"{model}: " + ", ".join(f"{n} {s:.1f} s" for n, s in medians.items()))
        print("staging in all: " + ", ".join(f"{n} {s:.1f} s" for n, s in totals.items()))
        cur.execute(f"drop schema {TEXT} cascade")


def records(args) -> None:
    with closing(connect(args)) as con, con.cursor() as cur:
        for table in sorted(set(STAGING.values())):
            cur.execute(
                f"""
                select count(*), avg(pg_column_size(record)), avg(octet_length(record::text)),
                    count(*) filter (where pg_column_size(record) < octet_length(record::text)
                        and pg_column_size(record) > 0
                        and octet_length(record::text) > 2000)
                from {RAW}.{table}
                """
            )
            n, stored, text, toasted = cur.fetchone()
            cur.execute(
                "select pg_size_pretty(pg_table_size(%s)), "
                "pg_size_pretty(pg_total_relation_size(%s) - pg_relation_size(%s))",
                (f"{RAW}.{table}",) * 3,
            )
            size, toast = cur.fetchone()
            print(
                f"{table}: {n:,} records, {stored:.0f} bytes stored per record (jsonb), "
                f"{text:.0f} as JSON text; {toasted / n:.0%} over 2 kB as text and compressed; "
                f"table {size}, TOAST {toast}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=os.environ.get("CRM_KPI_POSTGRES_URL"))
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("explain")
    one.add_argument("model")
    one.add_argument("--full", action="store_true", help="read every raw row (a first build)")
    one.add_argument("-c", action="append", default=[], metavar="NAME=VALUE")
    two = sub.add_parser("json-type")
    two.add_argument("--rounds", type=int, default=3)
    three = sub.add_parser("records")
    for p in (one, two, three):
        p.add_argument("--database", required=True)
    for p in (one, two):
        p.add_argument("--target", type=Path, required=True)
    args = parser.parse_args()
    if not args.postgres_url:
        parser.error("needs --postgres-url or CRM_KPI_POSTGRES_URL")
    {"explain": explain, "json-type": json_type, "records": records}[args.command](args)


if __name__ == "__main__":
    main()
