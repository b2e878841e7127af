"""The benchmarks' raw layer: a large HubSpot portal written straight into a warehouse.

DuckDB SQL generates JSON records of the shape the sync stores (deals with stage history, calls,
emails, meetings and tasks with their deal associations, owners in teams, the pipelines) and a
day of changes to them, without a CRM: a sync of 10 million activities would take hours against
HubSpot's rate limits. Used by dbt_build.py (which copies it into Postgres too: pg_side.py)
and checks_bench.py.
"""

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_crm.catalog import PIPELINE_STAGES, RENEWALS_PIPELINE_ID  # noqa: E402
from demo_crm.generator.org import build_pipelines  # noqa: E402
from pipelines.warehouse import (  # noqa: E402
    ensure_crm_counts_table,
    ensure_raw_schema,
    ensure_raw_table,
)

DAY_ONE = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
DAY_TWO = DAY_ONE + timedelta(days=1)
HISTORY_DAYS = 730
OWNERS, TEAMS = 200, 20
CHANGE_SHARE = 0.01
ISO = "%Y-%m-%dT%H:%M:%S.%gZ"

# Share of each activity type, its id offset and type-specific properties (SQL over `u(k)`).
ACTIVITIES = {
    "calls": (
        0.40,
        {
            "hs_call_direction": "case when u(11) < 0.85 then 'OUTBOUND' else 'INBOUND' end",
            "hs_call_status": "case when u(12) < 0.7 then 'COMPLETED' else 'NO_ANSWER' end",
            "hs_call_duration": "cast(floor(u(13) * 2400000) as bigint)::varchar",
        },
    ),
    "emails": (
        0.30,
        {
            "hs_email_direction": "case when u(11) < 0.7 then 'EMAIL' else 'INCOMING_EMAIL' end",
            "hs_email_status": "'SENT'",
        },
    ),
    "meetings": (
        0.15,
        {
            "hs_meeting_start_time": "strftime(occurred_at, '{ISO}')",
            "hs_meeting_end_time": "strftime(occurred_at + interval 45 minute, '{ISO}')",
            "hs_meeting_outcome": "case when occurred_at > as_of then 'SCHEDULED' "
            "when u(11) < 0.75 then 'COMPLETED' else 'NO_SHOW' end",
        },
    ),
    "tasks": (
        0.15,
        {
            "hs_task_status": "case when occurred_at <= as_of and u(11) < 0.8 "
            "then 'COMPLETED' else 'NOT_STARTED' end",
            "hs_task_type": "'TODO'",
            "hs_task_priority": "'MEDIUM'",
        },
    ),
}


def u(k: int, key: str = "i") -> str:
    """A uniform [0, 1) draw per row, independent for each k, reproducible per version."""
    return f"((hash({key}, {k}, version) % 1000003) / 1000003.0)"


def sql_of(text: str) -> str:
    """Expand u(k) shorthands in an SQL snippet."""
    return re.sub(r"\bu\((\d+)\)", lambda m: u(int(m.group(1))), text).replace("{ISO}", ISO)


RAW_TABLES = ["owners", "deal_pipelines", "deals", *ACTIVITIES, "contacts", "companies"]


def generate_raw(con, deals: int, activities: int, version: int, loaded_at: datetime) -> None:
    ensure_raw_schema(con)
    ensure_crm_counts_table(con)  # the reconciliation's counts stay empty: no CRM to ask
    for table in RAW_TABLES:
        ensure_raw_table(con, table)  # the sync's shape: no key, so checkpoints stay cheap
    set_clock(con, loaded_at)
    insert_owners(con)
    insert_pipelines(con)
    insert_deals(con, 0, deals, version)
    for kind in ACTIVITIES:
        insert_activities(con, kind, 0, activities, deals, version)
    for kind, prefix in (("companies", 5_100_000_000), ("contacts", 1000)):
        con.execute(
            f"""
            insert into raw.{kind}
            select id, updated, false, json_object('id', id, 'properties',
                json_object('createdate', strftime(updated, '{ISO}'), 'hs_object_id', id),
                'createdAt', strftime(updated, '{ISO}'), 'updatedAt', strftime(updated, '{ISO}'),
                'archived', false), getvariable('loaded_at')
            from (
                select ({prefix} + i)::varchar as id,
                    getvariable('as_of') - interval (i % {HISTORY_DAYS}) day as updated
                from range({max(1, deals // 10)}) as t (i)
            )
            """
        )
    record_sync_state(con, "full")


def record_sync_state(con, mode: str) -> None:
    """What the sync commits beside each object's records: when it synced, and how many."""
    for table in RAW_TABLES:
        con.execute(
            f"""
            insert or replace into raw._sync_state
            select $table, getvariable('loaded_at'), getvariable('loaded_at'), $mode,
                count(*), count(*) filter (archived)
            from raw.{table}
            """,
            {"table": table, "mode": mode},
        )


def store(con, raw_table: str, records_sql: str) -> None:
    """Store records as the sync's merge does: a new version replaces the stored one by id."""
    con.execute(f"create temp table batch as {records_sql}")
    con.execute(f"delete from {raw_table} where id in (select id from batch)")
    con.execute(f"insert into {raw_table} select * from batch")
    con.execute("drop table batch")


def set_clock(con, loaded_at: datetime) -> None:
    """Records are drawn as of DAY_ONE; the sync stores them at `loaded_at`."""
    con.execute("set variable as_of = $at", {"at": DAY_ONE})
    con.execute("set variable loaded_at = $at", {"at": loaded_at})


def insert_owners(con) -> None:
    con.execute(
        f"""
        insert into raw.owners
        select id, timestamptz '2024-01-01', archived, json_object(
            'id', id, 'email', 'rep' || i || '@bench.example', 'firstName', 'Rep',
            'lastName', i::varchar, 'userId', 7100000 + i, 'type', 'PERSON',
            'createdAt', '2024-01-01T00:00:00.000Z', 'updatedAt', '2024-01-01T00:00:00.000Z',
            'archived', archived, 'teams', json_array(json_object(
                'id', (5000 + i % {TEAMS})::varchar, 'name', 'Team ' || (i % {TEAMS}),
                'primary', true))),
            getvariable('loaded_at')
        from (select i, (40000000 + i)::varchar as id, i % 20 = 19 as archived
              from range({OWNERS}) as t (i))
        """
    )


def insert_pipelines(con) -> None:
    """The demo CRM's pipelines (its stage ids, including the custom pipeline's numeric ones)."""
    for record in build_pipelines(window_start=int(DAY_ONE.timestamp() * 1000)):
        con.execute(
            "insert into raw.deal_pipelines values ($id, null, false, $record, "
            "getvariable('loaded_at'))",
            {"id": record["id"], "record": json.dumps(record)},
        )


def by_pipeline(values: dict) -> str:
    """A SQL `case` on the deal's pipeline giving values[pipeline id]; Python's repr of a
    number, string or list of strings is also its DuckDB literal."""
    whens = " ".join(f"when '{p}' then {v!r}" for p, v in values.items())
    return f"case pipeline {whens} end"


def closed_stage(probability: str) -> dict[str, str]:
    """Each pipeline's won ("1.0") or lost ("0.0") stage id."""
    return {
        p: next(s for s, _, q in stages if q == probability)
        for p, stages in PIPELINE_STAGES.items()
    }


# Each pipeline's open stage ids, in order: a deal moves through them before it closes.
OPEN_STAGES = {
    p: [s for s, _, q in stages if q not in ("1.0", "0.0")] for p, stages in PIPELINE_STAGES.items()
}


def insert_deals(con, first: int, count: int, version: int, where: str = "true") -> None:
    """Deals first..first+count (ids 10000000000 + i) as of `as_of`, with stage history."""
    history = []
    for pipeline_id, stages in PIPELINE_STAGES.items():
        for j, (stage_id, _label, p) in enumerate(stages):
            in_pipe = f"pipeline = '{pipeline_id}'"
            if p == "1.0" or p == "0.0":
                outcome = "is_won" if p == "1.0" else "is_lost"
                entered = f"case when {in_pipe} and {outcome} then strftime(closed_at, '{ISO}') end"
                exited = "null"
            else:
                at = "created_at + (last_move - created_at) * {n} / (reached + 1)"
                entered = (
                    f"case when {in_pipe} and {j} <= reached "
                    f"then strftime({at.format(n=j)}, '{ISO}') end"
                )
                exited = (
                    f"case when {in_pipe} and ({j} < reached or ({j} = reached and is_closed)) "
                    f"then strftime({at.format(n=j + 1)}, '{ISO}') end"
                )
            history.append(f"'hs_date_entered_{stage_id}', {entered}")
            history.append(f"'hs_date_exited_{stage_id}', {exited}")
    store(
        con,
        "raw.deals",
        sql_of(
            f"""
            with drawn as (
                select
                    i,
                    {version} as version,
                    (10000000000 + i)::varchar as id,
                    getvariable('as_of') as as_of,
                    case when u(1) < 0.1 then '{RENEWALS_PIPELINE_ID}' else 'default' end
                        as pipeline,
                    case when u(2) < 0.02 then null
                        else (40000000 + cast(floor(u(3) * {OWNERS}) as int))::varchar
                    end as owner_id,
                    getvariable('as_of') - interval 1 second
                        * cast(u(4) * {HISTORY_DAYS} * 86400 as bigint) as created_at,
                    interval 1 second * cast(-ln(1 - u(5) * 0.999) * 35 * 86400 as bigint)
                        + interval 1 hour as cycle,
                    case when u(6) < 0.03 then null
                        else round(300 + pow(u(7), 3) * 80000, -1) end as amount,
                    u(8) as outcome_draw,
                    u(9) < 0.015 as archived
                from range({first}, {first + count}) as t (i)
            ),
            staged as (
                select
                    *,
                    created_at + cycle as planned_close,
                    created_at + cycle <= as_of and outcome_draw >= 0.12 as is_closed,
                    {by_pipeline({p: len(ids) for p, ids in OPEN_STAGES.items()})} as open_count
                from drawn
                where {where}
            ),
            shaped as (
                select
                    *,
                    is_closed and outcome_draw < 0.5 as is_won,
                    is_closed and outcome_draw >= 0.5 as is_lost,
                    case when is_closed then planned_close end as closed_at,
                    least(open_count - 1, cast(floor(
                        least(1.0, epoch(as_of - created_at) / epoch(cycle)) * open_count
                    ) as int)) as reached,
                    case when is_closed then planned_close
                        else created_at + (as_of - created_at) / 2 end as last_move
                from staged
            ),
            staged_stage as (
                select
                    *,
                    case
                        when is_won then {by_pipeline(closed_stage("1.0"))}
                        when is_lost then {by_pipeline(closed_stage("0.0"))}
                        else list_extract({by_pipeline(OPEN_STAGES)}, reached + 1)
                    end as stage,
                    least(as_of, coalesce(closed_at, last_move) + interval 1 hour) as updated_at
                from shaped
            )
            select
                id,
                updated_at,
                archived,
                json_object(
                    'id', id,
                    'properties', json_object(
                        'dealname', 'Deal ' || id,
                        'amount', amount::varchar,
                        'amount_in_home_currency', amount::varchar,
                        'deal_currency_code', 'USD',
                        'dealstage', stage,
                        'pipeline', pipeline,
                        'createdate', strftime(created_at, '{ISO}'),
                        'closedate', strftime(coalesce(closed_at, planned_close), '{ISO}'),
                        'hs_lastmodifieddate', strftime(updated_at, '{ISO}'),
                        'hubspot_owner_id', owner_id,
                        'hs_is_closed', is_closed::varchar,
                        'hs_is_closed_won', is_won::varchar,
                        {", ".join(history)},
                        'hs_object_id', id
                    ),
                    'createdAt', strftime(created_at, '{ISO}'),
                    'updatedAt', strftime(updated_at, '{ISO}'),
                    'archived', archived
                ),
                getvariable('loaded_at')
            from staged_stage
            """
        ),
    )


def insert_activities(
    con, kind: str, first: int, total: int, deals: int, version: int, where: str = "true"
) -> None:
    """This type's share of activities first..first+total: ids 41000000000 + i, one id space."""
    _share, extra = ACTIVITIES[kind]
    # Interleave the types in one id space: the type of activity i follows its hash.
    bounds, lo = {}, 0.0
    for name in ACTIVITIES:
        bounds[name] = (lo, lo + ACTIVITIES[name][0])
        lo += ACTIVITIES[name][0]
    low, high = bounds[kind]
    singular = kind[:-1]
    properties = ", ".join(f"'{name}', {sql_of(expr)}" for name, expr in extra.items())
    store(
        con,
        f"raw.{kind}",
        sql_of(
            f"""
            with drawn as (
                select
                    i,
                    {version} as version,
                    (41000000000 + i)::varchar as id,
                    getvariable('as_of') as as_of,
                    ((hash(i, 0) % 1000003) / 1000003.0) as kind_draw,
                    case when u(1) < 0.03 then null
                        else (40000000 + cast(floor(u(2) * {OWNERS}) as int))::varchar
                    end as owner_id,
                    -- meetings and tasks reach two weeks ahead; calls and emails are logged
                    getvariable('as_of') - interval 1 second * cast(
                        (u(3) * ({HISTORY_DAYS} + 14) - 14 * {int(kind in ("meetings", "tasks"))})
                        * 86400 as bigint
                    ) as occurred_at,
                    case when u(4) < 0.8
                        then (10000000000 + cast(floor(u(5) * {deals}) as bigint))::varchar
                    end as deal_id,
                    u(6) < 0.015 as archived
                from range({first}, {first + total}) as t (i)
            ),
            typed as (
                select * from drawn
                where kind_draw >= {low} and kind_draw < {high} and ({where})
            )
            select
                id,
                least(occurred_at, as_of),
                archived,
                json_object(
                    'id', id,
                    'properties', json_object(
                        'hs_timestamp', strftime(occurred_at, '{ISO}'),
                        'hubspot_owner_id', owner_id,
                        {properties},
                        'hs_lastmodifieddate', strftime(least(occurred_at, as_of), '{ISO}'),
                        'hs_object_id', id
                    ),
                    'createdAt', strftime(least(occurred_at, as_of), '{ISO}'),
                    'updatedAt', strftime(least(occurred_at, as_of), '{ISO}'),
                    'archived', archived,
                    'associations', case when deal_id is not null then json_object(
                        'deals', json_object('results', json_array(json_object(
                            'id', deal_id, 'type', '{singular}_to_deal'))))
                    end
                ),
                getvariable('loaded_at')
            from typed
            """
        ),
    )


def change_a_day(con, deals: int, activities: int) -> int:
    """1% of deals and activities change overnight: 0.8% edited (drawn anew), 0.2% new."""
    set_clock(con, DAY_TWO)
    edited = f"hash(i, 'edit') % {round(1 / (CHANGE_SHARE * 0.8))} = 0"
    insert_deals(con, 0, deals, version=1, where=edited)
    insert_deals(con, deals, int(deals * CHANGE_SHARE * 0.2), version=1)
    for kind in ACTIVITIES:
        insert_activities(con, kind, 0, activities, deals, version=1, where=edited)
        insert_activities(
            con, kind, activities, int(activities * CHANGE_SHARE * 0.2), deals, version=1
        )
    record_sync_state(con, "incremental")
    return sum(
        con.execute(
            f"select count(*) from raw.{table} where loaded_at = getvariable('loaded_at')"
        ).fetchone()[0]
        for table in ["deals", *ACTIVITIES]
    )


def write_quotas(data_dir: Path) -> Path:
    path = data_dir / "quotas.csv"
    lines = ["owner_email,quarter,quota_amount"]
    for i in range(OWNERS):
        for period in ("2026-Q3", "2026-Q4", "2027-Q1"):
            lines.append(f"rep{i}@bench.example,{period},{150000 + 1000 * (i % 50)}")
    path.write_text("\n".join(lines) + "\n")
    return path
