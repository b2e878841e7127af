"""Salesforce end to end: the demo org over real HTTP -> Dagster sync -> dbt -> GX -> kpi.duckdb.

One generated sales org is served at once as a Salesforce org and as a HubSpot portal. The
shared runs (module fixture `runs`), all in UTC with CRM_KPI_AS_OF at the org's clock:
A) a full Salesforce run, a day of selling (plus a deletion), an incremental run in the same
   data directory; B) after the recycle bin is emptied, a full-refresh run in a fresh one;
C) a HubSpot run of the same store. `zone_runs` rebuilds copies of A in two other zones, with
one opportunity's probability overridden. Expected figures come from tests/salesforce_oracle.py
(plain Python over the org's served rows), never from the warehouse.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from demo_crm import DemoCrmServer, generate_demo_data, simulate_day
from demo_crm.salesforce.ids import salesforce_id
from demo_crm.salesforce.server import DemoSalesforceServer
from pipelines.runner import ExitCode, RunOutcome, run_pipeline
from pipelines.settings import load_settings
from pipelines.warehouse import claim_for_crm, connect

from . import salesforce_oracle as oracle
from .conftest import TOKEN, point_at

pytestmark = pytest.mark.pipeline

ROOT = Path(__file__).resolve().parent.parent
DBT_DIR = ROOT / "dbt_project"
SECRET = "sf-e2e-secret-5b81c0d3"  # distinctive, so the tests can search for leaks of it
OVERRIDE = 35.0  # an opportunity's own Probability, unlike any stage's default
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# A phone number stands apart: not a run of digits inside an id or a UUID.
PHONE = re.compile(r"(?<![\w-])\+?\(?\d{2,4}\)?[\s./-]\d{3,4}[\s./-]?\d{3,4}(?![\w-])")
# Ids that differ between the CRMs; the cross-CRM comparison replaces them by what is the same.
ID_COLUMNS = {"owner_id", "team_id", "pipeline_id", "stage_id", "record_id"}
# Differences between the CRMs by design (issue 14), left out of the cross-CRM comparison:
BY_DESIGN = {
    # HubSpot: the meeting's outcome is COMPLETED; Salesforce: its EndDateTime is at or before
    # as_of (events have no outcome). Checked on its own against the org's events.
    "meetings_held",
    # HubSpot closes at an instant, Salesforce on a CloseDate (a day): days to close are
    # (close instant - create instant) against (CloseDate - create day), whole days.
    "avg_days_to_close",
    # HubSpot orders stages within each pipeline; Salesforce's SortOrder is org-wide. Checked on
    # its own against OpportunityStage.SortOrder.
    "stage_display_order",
}
MARTS = sorted(p.stem for p in (DBT_DIR / "models" / "marts").glob("*.sql"))


def per_mart():
    """The published marts as parameters."""
    return pytest.mark.parametrize("table", MARTS)


HUBSPOT_OBJECTS = {"deals": ("Opportunity", "opportunities"), "meetings": ("Event", "events")}
HUBSPOT_OBJECTS |= {kind: ("Task", "tasks") for kind in ("calls", "emails", "tasks")}


# ---------- the shared runs


@dataclass(frozen=True)
class Planted:
    """Records put on a Sunday for the time-zone runs (Salesforce ids)."""

    sunday: date
    call: str  # a Task (TaskSubtype Call) with ActivityDate = sunday
    event: str  # an Event starting at 23:30 UTC on sunday
    won: str  # a won Opportunity with CloseDate = sunday
    ids: frozenset[str]


@dataclass(frozen=True)
class Runs:
    store: object  # the HubSpot-shaped DemoCrm both servers serve
    org: DemoSalesforceServer
    a: Path  # Salesforce: full, a day, incremental
    b: Path  # Salesforce: full refresh after the recycle bin was emptied
    c: Path  # HubSpot, the same store
    day_one: Path  # a copy of A's kpi.duckdb after its first run
    as_of: datetime
    day_one_rows: dict  # the org's rows at the first run
    rows: dict  # the org's rows at as_of (before the purge)
    incremental: RunOutcome
    deleted_deal: str  # an Opportunity deleted during the day, counted before
    purged: set[str]  # Opportunity ids emptied from the recycle bin before B
    planted: Planted


def snapshot(server: DemoSalesforceServer) -> dict[str, list[dict]]:
    """The org's rows now; rows are replaced, never edited, so the lists are a snapshot."""
    with server.crm.lock:
        return {name: list(server.org.rows(name)) for name in oracle.SOBJECTS}


def start_of_store() -> datetime:
    """The org's clock: the wall clock (the sync's SystemModstamp watermark follows it) a minute
    ago, so the day of selling lands after the first sync's watermark; the runs of the fixture
    stay on one UTC day, so that A and B hold the same daily snapshot."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    if (now + timedelta(minutes=5)).date() != now.date():
        now = datetime.combine(now.date(), time(23, 54), UTC)
    return now


def hubspot_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def plant_sunday_records(store) -> Planted:
    """A call, a meeting at 23:30 UTC and a won deal's close date, all on a past Sunday."""
    now = store.now
    sunday = (now - timedelta(days=now.weekday() + 8)).date()
    night = datetime.combine(sunday, time(23, 30), UTC)
    edited = now - timedelta(minutes=1)
    reps = {o["id"] for o in store.owners if not o["archived"] and o.get("teams")}

    def owned(kind: str, extra=lambda r: True) -> dict:
        return next(
            r
            for r in store.live(kind)
            if r["properties"].get("hubspot_owner_id") in reps and extra(r)
        )

    call = owned("calls")
    store.update("calls", call["id"], {"hs_timestamp": hubspot_time(night)}, at=edited)
    meeting = owned("meetings")
    store.update(
        "meetings",
        meeting["id"],
        {
            "hs_timestamp": hubspot_time(night),
            "hs_meeting_start_time": hubspot_time(night),
            "hs_meeting_end_time": hubspot_time(night + timedelta(minutes=45)),
            "hs_meeting_outcome": "COMPLETED",
        },
        at=edited,
    )
    deal = owned(
        "deals",
        lambda d: (
            d["properties"].get("hs_is_closed_won") == "true"
            and datetime.fromisoformat(d["createdAt"]) < night - timedelta(days=3)
        ),
    )
    store.update("deals", deal["id"], {"closedate": hubspot_time(night)}, at=edited)
    ids = (
        salesforce_id("Task", int(call["id"])),
        salesforce_id("Event", int(meeting["id"])),
        salesforce_id("Opportunity", int(deal["id"])),
    )
    return Planted(sunday, *ids, ids=frozenset(ids))


CONFIG_PREFIXES = ("CRM_KPI_", "SALESFORCE_", "HUBSPOT_")


def salesforce_env(org, data_dir: Path, as_of: datetime, zone: str = "UTC") -> dict[str, str]:
    return {
        "CRM_KPI_CRM": "salesforce",
        "SALESFORCE_LOGIN_URL": org.url,
        "SALESFORCE_CLIENT_ID": org.client_id,
        "SALESFORCE_CLIENT_SECRET": SECRET,
        "CRM_KPI_DATA_DIR": str(data_dir),
        "CRM_KPI_TIMEZONE": zone,
        "CRM_KPI_AS_OF": as_of.isoformat(),
    }


def hubspot_env(crm, data_dir: Path, as_of: datetime) -> dict[str, str]:
    with pytest.MonkeyPatch.context() as mp:
        point_at(mp, crm, data_dir, timezone="UTC")
        env = {k: os.environ[k] for k in os.environ if k.startswith(CONFIG_PREFIXES)}
    return env | {"CRM_KPI_CRM": "hubspot", "CRM_KPI_AS_OF": as_of.isoformat()}


def run_here(env: dict[str, str], full_refresh: bool = False) -> RunOutcome:
    """One run in this process (its outcome says what the sync did), in exactly `env`."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith(CONFIG_PREFIXES)]:
            mp.delenv(name)
        for name, value in env.items():
            mp.setenv(name, value)
        outcome = run_pipeline(load_settings(), full_refresh=full_refresh)
    assert outcome.exit_code == ExitCode.PUBLISHED, outcome.reason
    return outcome


def run_side_by_side(*runs: tuple[dict[str, str], list[str]], timeout: float = 300) -> None:
    """`crm-kpi run` processes at once (one run leaves the second core idle much of the time).

    Their output goes to files beside the data directories: pipes left unread would stall them.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(CONFIG_PREFIXES)}
    started = []
    for env, args in runs:
        data_dir = Path(env["CRM_KPI_DATA_DIR"])
        output = data_dir.with_name(data_dir.name + ".out")
        with output.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "pipelines.cli", "run", *args],
                env=base | {"PYTHONPATH": str(ROOT)} | env,
                cwd=data_dir.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append((process, output))
    for process, output in started:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()  # not left running, holding its warehouse, after the test
            raise
        assert process.returncode == 0, output.read_text()[-3000:]


def sync_modes(data_dir: Path) -> dict[str, str]:
    last_run = json.loads((data_dir / "last_run.json").read_text())
    return {s["object_name"]: s["mode"] for s in last_run["sync_state"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    root = tmp_path_factory.mktemp("salesforce_e2e")
    a, b, c = root / "a", root / "b", root / "c"
    store = generate_demo_data(seed=5, now=start_of_store(), deals=120, activity_scale=0.3)
    planted = plant_sunday_records(store)
    with (
        DemoSalesforceServer(crm=store, client_secret=SECRET) as org,
        DemoCrmServer(crm=store, token=TOKEN) as hubspot,
    ):
        first = run_here(salesforce_env(org, a, store.now))
        assert set(first.modes.values()) == {"full"}
        day_one_rows = snapshot(org)
        shutil.copy(a / "kpi.duckdb", root / "day_one.duckdb")

        # A day of selling, a minute long on the org's clock (after the first sync's watermark:
        # the sync's own start minus the lookback), and one more open deal deleted: one day one
        # counted, so that its deletion has something to take back.
        simulate_day(store, store.now + timedelta(seconds=60), change_share=0.05)
        counted = {r["Id"] for r in day_one_rows["Opportunity"]}
        doomed = next(
            d
            for d in store.live("deals")
            if d["properties"]["hs_is_closed"] == "false"
            and float(d["properties"].get("amount") or 0) > 0
            and salesforce_id("Opportunity", int(d["id"])) in counted - planted.ids
        )
        store.archive("deals", doomed["id"], at=store.now)
        as_of = store.now
        incremental = run_here(salesforce_env(org, a, as_of))
        assert incremental.modes["opportunities"] == incremental.modes["tasks"] == "incremental"
        rows = snapshot(org)

        # Records deleted before now leave the recycle bin: the full refresh no longer sees them.
        assert org.purge(as_of + timedelta(seconds=1)) > 0
        purged = {r["Id"] for r in rows["Opportunity"] if r["IsDeleted"]}
        run_side_by_side(
            (salesforce_env(org, b, as_of), ["--full-refresh"]),
            (hubspot_env(hubspot, c, as_of), []),
        )

        yield Runs(
            store,
            org,
            a,
            b,
            c,
            root / "day_one.duckdb",
            as_of,
            day_one_rows,
            rows,
            incremental,
            salesforce_id("Opportunity", int(doomed["id"])),
            purged,
            planted,
        )


@dataclass(frozen=True)
class ZoneRuns:
    dirs: dict[str, Path]  # zone -> data directory (a copy of A, rebuilt there)
    rows: dict  # the org's rows at these runs
    overridden: str  # the Opportunity with its own Probability (OVERRIDE)
    stage_default: float  # that opportunity's stage's DefaultProbability


ZONES = ("America/Los_Angeles", "Asia/Kolkata")


@pytest.fixture(scope="module")
def zone_runs(runs, tmp_path_factory) -> ZoneRuns:
    """A's warehouse copied and run again (incrementally) in two other reporting zones, after a
    rep gave one open opportunity a probability of its own."""
    store, org = runs.store, runs.org
    deal = next(
        d
        for d in store.live("deals")
        if d["properties"]["hs_is_closed"] == "false"
        and float(d["properties"].get("amount") or 0) > 0
        and float(d["properties"]["hs_deal_stage_probability"]) * 100 != OVERRIDE
    )
    org.override_probability(deal["id"], OVERRIDE)  # moves SystemModstamp, as a rep's edit
    dirs = {zone: tmp_path_factory.mktemp(zone.replace("/", "_")) for zone in ZONES}
    for data_dir in dirs.values():
        shutil.copy(runs.a / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    run_side_by_side(
        *((salesforce_env(org, data_dir, runs.as_of, zone), []) for zone, data_dir in dirs.items())
    )
    for data_dir in dirs.values():
        assert sync_modes(data_dir)["opportunities"] == "incremental"
    opportunity = salesforce_id("Opportunity", int(deal["id"]))
    rows = snapshot(org)
    row = next(r for r in rows["Opportunity"] if r["Id"] == opportunity)
    assert row["Probability"] == OVERRIDE
    stage = next(s for s in rows["OpportunityStage"] if s["ApiName"] == row["StageName"])
    return ZoneRuns(dirs, rows, opportunity, stage["DefaultProbability"])


# ---------- reading what was published


def published(data_dir: Path, table: str, db: str = "kpi.duckdb") -> list[dict]:
    con = duckdb.connect(str(data_dir / db if data_dir.is_dir() else data_dir), read_only=True)
    try:
        cursor = con.execute(f'select * from "{table}"')
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def table_names(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by 1"
        ).fetchall()
        return [n for (n,) in names]
    finally:
        con.close()


def normal(value):
    if isinstance(value, float | Decimal):
        return round(float(value), 6)
    return value


def multiset(rows: list[dict], drop=()) -> Counter:
    return Counter(
        tuple(sorted((k, normal(v)) for k, v in row.items() if k not in drop)) for row in rows
    )


def non_zero(values: dict) -> dict:
    return {k: float(v) for k, v in values.items() if v}


def assert_same_non_zero(got: dict, expected: dict) -> None:
    """Keyed rows equal in their non-zero values; rows of zeros only are no rows."""
    got = {k: v for k, v in ((k, non_zero(v)) for k, v in got.items()) if v}
    expected = {k: v for k, v in ((k, non_zero(v)) for k, v in expected.items()) if v}
    assert got.keys() == expected.keys(), got.keys() ^ expected.keys()
    for key, want in expected.items():
        assert got[key] == pytest.approx(want, abs=0.011), key


WEEKLY = (
    *("calls", "emails", "meetings", "meetings_held", "tasks", "tasks_completed"),
    *("deals_created", "pipeline_created_amount", "deals_won", "deals_lost"),
    *("won_amount", "lost_amount"),
)


def weekly(data_dir: Path) -> dict:
    return {
        (r["owner_id"], r["week_start"]): {c: r[c] for c in WEEKLY}
        for r in published(data_dir, "kpi_rep_weekly")
    }


def open_pipeline(data_dir: Path) -> dict:
    """kpi_open_pipeline by (pipeline, stage), as floats like the oracle's (pytest.approx cannot
    subtract a float from a Decimal)."""
    return {
        (r["pipeline_label"], r["stage_label"]): {
            c: float(r[c]) for c in ("open_deals", "open_amount", "weighted_amount")
        }
        for r in published(data_dir, "kpi_open_pipeline")
    }


# ---------- 10. the command's one-line refusals


@pytest.fixture(scope="module")
def small_org():
    with DemoSalesforceServer(seed=3, deals=20, activity_scale=0.05, client_secret=SECRET) as org:
        yield org


def crm_kpi_run(org, data_dir: Path, secret: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CRM_KPI_CRM": "salesforce",
        "CRM_KPI_DATA_DIR": str(data_dir),
        "SALESFORCE_LOGIN_URL": org.url,
        "SALESFORCE_CLIENT_ID": org.client_id,
        "SALESFORCE_CLIENT_SECRET": secret,
        "SALESFORCE_ACCESS_TOKEN": "",
        "CRM_KPI_TIMEZONE": "UTC",
    }
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run"],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_hubspot_data_directory_refuses_salesforce_in_one_line(small_org, tmp_path):
    data_dir = tmp_path / "data"
    with connect(data_dir / "warehouse.duckdb") as con:
        claim_for_crm(con, "hubspot")
    done = crm_kpi_run(small_org, data_dir, SECRET)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "hubspot" in lines[0] and "salesforce" in lines[0]
    assert not (data_dir / "kpi.duckdb").exists()
    assert not any(
        path.endswith("/query") or "/queryAll" in path for _, path, _ in small_org.requests
    )


def test_a_rejected_client_secret_exits_2_in_one_line(small_org, tmp_path):
    wrong = "not-" + SECRET
    done = crm_kpi_run(small_org, tmp_path / "data", wrong)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid_client" in lines[0], done.stderr
    assert wrong not in done.stdout + done.stderr and SECRET not in done.stdout + done.stderr
    assert not (tmp_path / "data" / "kpi.duckdb").exists()


# ---------- 2. incremental = full


def test_incremental_and_full_publish_the_same_tables(runs):
    tables = table_names(runs.a / "kpi.duckdb")
    assert tables == table_names(runs.b / "kpi.duckdb") == sorted([*MARTS, "kpi_publication"])
    # The incremental run read the day's changes only, and they changed what was published.
    assert sum(runs.incremental.fetched.values()) < sum(runs.incremental.records.values()) / 2
    assert multiset(published(runs.day_one, "kpi_rep_weekly")) != multiset(
        published(runs.a, "kpi_rep_weekly")
    )


@per_mart()
def test_incremental_after_a_day_equals_a_full_refresh(runs, table):
    # kpi_publication (this run's id, times and counts) is no mart and is not compared.
    assert multiset(published(runs.a, table)) == multiset(published(runs.b, table))


# ---------- 3. Salesforce = HubSpot


def id_names(data_dir: Path) -> dict:
    """What each id stands for in both CRMs: owners by e-mail, teams by name, pipelines and
    stages by label (from the warehouse's contract models; published tables hold no e-mails)."""
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        owners = dict(con.execute("select owner_id, lower(email) from crm.crm_owners").fetchall())
        teams = dict(con.execute("select team_id, team_name from crm.crm_teams").fetchall())
        stages = con.execute(
            "select pipeline_id, pipeline_label, stage_id, stage_label from crm.crm_pipeline_stages"
        ).fetchall()
    finally:
        con.close()
    return {
        "owner_id": owners,
        "team_id": teams,
        "pipeline_id": {p: label for p, label, _, _ in stages},
        "stage_id": {(p, s): label for p, _, s, label in stages},
    }


def comparable(data_dir: Path, table: str, crm: str) -> Counter:
    names = id_names(data_dir)
    rows = []
    for row in published(data_dir, table):
        if "stage_id" in row:
            row["stage_id"] = names["stage_id"][row["pipeline_id"], row["stage_id"]]
        for column in ("owner_id", "team_id", "pipeline_id"):
            if row.get(column) is not None:
                row[column] = names[column][row[column]]
        if table == "kpi_data_issues" and crm == "hubspot":
            sobject, object_type = HUBSPOT_OBJECTS[row["object_type"]]
            row["object_type"] = object_type
            row["record_id"] = salesforce_id(sobject, int(row["record_id"]))
        rows.append(row)
    return multiset(rows, drop=BY_DESIGN)


@per_mart()
def test_salesforce_and_hubspot_publish_the_same_kpis(runs, table):
    salesforce = comparable(runs.a, table, "salesforce")
    hubspot = comparable(runs.c, table, "hubspot")
    assert salesforce == hubspot, (
        list((salesforce - hubspot).elements())[:3],
        list((hubspot - salesforce).elements())[:3],
    )
    assert sum(salesforce.values()) > 0 or table == "kpi_data_issues"


def test_meetings_held_are_events_ended_by_as_of(runs):
    expected = oracle.meetings_held(runs.rows, runs.as_of)
    got: dict = defaultdict(int)
    for row in published(runs.a, "kpi_rep_weekly"):
        got[row["owner_id"]] += row["meetings_held"]
    assert {k: v for k, v in got.items() if v} == expected
    # Some events have not ended yet (planned ahead): held is not every meeting.
    meetings = sum(r["meetings"] for r in published(runs.a, "kpi_rep_weekly"))
    assert sum(expected.values()) < meetings


def test_stage_orders_are_the_org_wide_sort_order(runs):
    sort_order = {s["MasterLabel"]: s["SortOrder"] for s in runs.rows["OpportunityStage"]}
    seen = set()
    for table in ("kpi_open_pipeline", "kpi_pipeline_daily", "kpi_stage_conversion"):
        for row in published(runs.a, table):
            assert row["stage_display_order"] == sort_order[row["stage_label"]], (table, row)
            seen.add((row["pipeline_label"], row["stage_display_order"]))
    # One order over every record type: the second pipeline's stages do not start at 1 again.
    assert len({p for p, _ in seen}) > 1
    assert len({order for _, order in seen}) == len(seen)


# ---------- 4. the marts = the org's rows


def test_rep_weekly_equals_the_orgs_rows(runs):
    expected = oracle.rep_weekly(runs.rows, runs.as_of, "UTC")
    assert_same_non_zero(weekly(runs.a), expected)


def test_open_pipeline_equals_the_orgs_open_opportunities(runs):
    expected = oracle.open_pipeline(runs.rows)
    got = open_pipeline(runs.a)
    assert_same_non_zero(got, expected)
    assert len({p for p, _ in got}) > 1  # both record types


def test_rep_quarterly_equals_the_orgs_rows(runs):
    expected = oracle.rep_quarterly(runs.rows, "UTC")
    columns = [
        *("won_amount", "lost_amount", "deals_won", "deals_lost", "deals_created"),
        *("pipeline_created_amount", "open_deals", "open_pipeline_amount"),
        "weighted_forecast_amount",
    ]
    got = {
        (r["owner_id"], r["quarter"]): {c: r[c] for c in columns}
        for r in published(runs.a, "kpi_rep_quarterly")
    }
    assert_same_non_zero(got, expected)
    assert sum(v.get("won_amount", 0) for v in expected.values()) > 0


@pytest.mark.parametrize("run", ["b", "a"])
def test_stage_conversion_equals_the_orgs_history(runs, run):
    expected = oracle.stage_conversion(runs.rows, "UTC")
    got = {
        (r["pipeline_label"], r["stage_label"], r["quarter"]): {
            "deals_entered": r["deals_entered"],
            "deals_moved_on": r["deals_moved_on"],
        }
        for r in published(getattr(runs, run), "kpi_stage_conversion")
    }
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert {k: int(v) for k, v in got[key].items()} == want, key
    # The org repeats stages after edits (echo rows): counting rows would count more entries.
    history = [r for r in runs.rows["OpportunityHistory"] if not r["IsDeleted"]]
    visits = Counter((r["OpportunityId"], r["StageName"]) for r in history)
    assert any(n > 1 for n in visits.values())


# ---------- 5. deletions


def test_a_deal_deleted_during_the_day_leaves_the_pipeline_and_weekly_kpis(runs):
    deleted = runs.deleted_deal
    before = next(r for r in runs.day_one_rows["Opportunity"] if r["Id"] == deleted)
    after = next(r for r in runs.rows["Opportunity"] if r["Id"] == deleted)
    assert not before["IsDeleted"] and after["IsDeleted"]
    # Day one counted it in its stage then; the day may have moved it before it was deleted, so
    # the stage it leaves is the one it was in when deleted.
    org_then = oracle.Org(runs.day_one_rows, "UTC")
    then = (org_then.pipeline_label(before), org_then.stage(before["StageName"])["MasterLabel"])
    day_one = open_pipeline(runs.day_one)
    assert day_one[then] == pytest.approx(oracle.open_pipeline(runs.day_one_rows)[then], abs=0.011)
    org = oracle.Org(runs.rows, "UTC")
    key = (org.pipeline_label(after), org.stage(after["StageName"])["MasterLabel"])

    # After the incremental run its stage has it no more.
    revived = {
        **runs.rows,
        "Opportunity": [
            r | {"IsDeleted": False} if r is after else r for r in runs.rows["Opportunity"]
        ],
    }
    now, if_kept = oracle.open_pipeline(runs.rows), oracle.open_pipeline(revived)
    assert if_kept[key]["open_deals"] == now.get(key, {}).get("open_deals", 0) + 1
    got = open_pipeline(runs.a).get(key, {"open_deals": 0, "open_amount": 0, "weighted_amount": 0})
    assert got == pytest.approx(now.get(key, dict.fromkeys(got, 0.0)), abs=0.011)
    # Its creation week and every other table, through the oracle's rows without it.
    assert_same_non_zero(weekly(runs.a), oracle.rep_weekly(runs.rows, runs.as_of, "UTC"))
    assert oracle.rep_weekly(revived, runs.as_of, "UTC") != oracle.rep_weekly(
        runs.rows, runs.as_of, "UTC"
    )
    # No published text names it (kpi_data_issues lists record ids).
    for table in table_names(runs.a / "kpi.duckdb"):
        for row in published(runs.a, table):
            assert deleted not in {str(v) for v in row.values()}, table


def test_a_deal_deleted_during_the_day_leaves_the_stage_conversion(runs):
    deleted = runs.deleted_deal
    after = next(r for r in runs.rows["Opportunity"] if r["Id"] == deleted)
    revived = {
        **runs.rows,
        "Opportunity": [
            r | {"IsDeleted": False} if r is after else r for r in runs.rows["Opportunity"]
        ],
        "OpportunityHistory": [
            r | {"IsDeleted": False} if r["OpportunityId"] == deleted else r
            for r in runs.rows["OpportunityHistory"]
        ],
    }
    now = oracle.stage_conversion(runs.rows, "UTC")
    if_kept = oracle.stage_conversion(revived, "UTC")
    touched = [k for k in if_kept if if_kept[k] != now.get(k)]
    assert touched  # the deal had entered stages
    got = {
        (r["pipeline_label"], r["stage_label"], r["quarter"]): r["deals_entered"]
        for r in published(runs.a, "kpi_stage_conversion")
    }
    for key in touched:
        assert got.get(key, 0) == now.get(key, {}).get("deals_entered", 0), key


def test_a_purged_deal_is_gone_from_the_raw_layer_at_the_full_refresh(runs):
    def raw_ids(data_dir: Path) -> set[str]:
        con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
        try:
            return {i for (i,) in con.execute("select id from raw.opportunities").fetchall()}
        finally:
            con.close()

    assert runs.deleted_deal in runs.purged
    assert runs.purged <= raw_ids(runs.a)  # the incremental run kept the deleted rows, flagged
    assert not runs.purged & raw_ids(runs.b)
    live = {r["Id"] for r in runs.rows["Opportunity"] if not r["IsDeleted"]}
    assert raw_ids(runs.b) == live


# ---------- 6. time zones, 8. probability override


def test_close_dates_and_activity_dates_stay_and_event_times_move_with_the_zone(runs, zone_runs):
    planted, rows = runs.planted, zone_runs.rows
    by_id = {r["Id"]: r for name in ("Task", "Event", "Opportunity") for r in rows[name]}
    call, event, won = (by_id[i] for i in (planted.call, planted.event, planted.won))
    sunday = planted.sunday
    assert call["TaskSubtype"] == "Call" and call["ActivityDate"] == sunday.isoformat()
    assert event["StartDateTime"] == f"{sunday.isoformat()}T23:30:00.000+0000"
    assert won["CloseDate"] == sunday.isoformat() and won["IsWon"]
    week, next_week = oracle.monday(sunday), oracle.monday(sunday) + timedelta(days=7)

    # Without the planted records, the oracle's figures; the published figures must hold
    # exactly those plus each planted record on the week the issue says.
    without = {
        name: [r for r in rows[name] if r["Id"] not in planted.ids] for name in oracle.SOBJECTS
    }
    amount = oracle.Org(rows, "UTC").amount(won)
    for zone, data_dir in zone_runs.dirs.items():
        expected = oracle.rep_weekly(without, runs.as_of, zone)
        org = oracle.Org(rows, zone)

        def add(owner, on, expected=expected, **values):
            row = expected.setdefault((owner, on), {})
            for column, value in values.items():
                row[column] = row.get(column, 0) + value

        add(call["OwnerId"], week, calls=1)  # ActivityDate, as it is in every zone
        # 23:30 UTC on Sunday: Sunday afternoon in Los Angeles, Monday morning in Kolkata.
        held_week = week if zone == "America/Los_Angeles" else next_week
        add(event["OwnerId"], held_week, meetings=1, meetings_held=1)
        add(won["OwnerId"], week, deals_won=1, won_amount=amount)  # CloseDate, as it is
        created = oracle.monday(org.created_day(won))
        add(won["OwnerId"], created, deals_created=1, pipeline_created_amount=amount)
        assert_same_non_zero(weekly(data_dir), expected)
    # The zones did date instants differently: the runs are not of one zone twice.
    la, kolkata = (weekly(zone_runs.dirs[z]) for z in ZONES)
    assert la != kolkata


def test_an_opportunitys_own_probability_weights_its_amount(runs, zone_runs):
    rows = zone_runs.rows
    deal = next(r for r in rows["Opportunity"] if r["Id"] == zone_runs.overridden)
    org = oracle.Org(rows, "UTC")
    key = (org.pipeline_label(deal), org.stage(deal["StageName"])["MasterLabel"])
    expected = oracle.open_pipeline(rows)
    amount = org.amount(deal)
    with_default = {
        **rows,
        "Opportunity": [
            r | {"Probability": zone_runs.stage_default} if r is deal else r
            for r in rows["Opportunity"]
        ],
    }
    by_default = oracle.open_pipeline(with_default)[key]["weighted_amount"]
    assert expected[key]["weighted_amount"] == pytest.approx(
        by_default + amount * (OVERRIDE - zone_runs.stage_default) / 100
    )
    for data_dir in zone_runs.dirs.values():
        got = open_pipeline(data_dir)[key]
        assert got["weighted_amount"] == pytest.approx(expected[key]["weighted_amount"], abs=0.011)
        assert got["weighted_amount"] != pytest.approx(by_default, abs=0.011)


# ---------- 7. invitees' copies and queues


def test_invitee_copies_and_queue_tasks_count_for_no_rep(runs):
    rows = runs.rows
    reps = {u["Id"] for u in rows["User"] if u["UserType"] == "Standard"}
    events = [e for e in rows["Event"] if not e["IsDeleted"]]
    tasks = [t for t in rows["Task"] if not t["IsDeleted"]]
    children = [e for e in events if e["IsChild"] and e["OwnerId"] in reps]
    queued = [t for t in tasks if t["OwnerId"].startswith("00G")]
    assert children and queued  # there is something to leave out

    meetings, activities = Counter(), Counter()
    for row in published(runs.a, "kpi_rep_weekly"):
        meetings[row["owner_id"]] += row["meetings"]
        activities[row["owner_id"]] += row["calls"] + row["emails"] + row["tasks"]
    own_events = Counter(e["OwnerId"] for e in events if not e["IsChild"] and e["OwnerId"] in reps)
    own_tasks = Counter(t["OwnerId"] for t in tasks if t["OwnerId"] in reps)
    assert +meetings == own_events
    assert +activities == own_tasks
    with_children = own_events + Counter(e["OwnerId"] for e in children)
    assert +meetings != with_children
    # Not quarantined either: they simply belong to no rep.
    issues = {r["record_id"] for r in published(runs.a, "kpi_data_issues")}
    assert not issues & {r["Id"] for r in children + queued}


# ---------- 9. no personal data, no secret


def test_no_email_or_phone_published_and_the_secret_nowhere_in_the_data(runs, zone_runs):
    con = duckdb.connect(str(runs.a / "kpi.duckdb"), read_only=True)
    try:
        columns = con.execute(
            "select table_name, column_name from duckdb_columns() "
            "where schema_name = 'main' and data_type = 'VARCHAR'"
        ).fetchall()
        values = [
            (table, column, v)
            for table, column in columns
            for (v,) in con.execute(f'select distinct "{column}" from "{table}"').fetchall()
            if v is not None
        ]
    finally:
        con.close()
    assert {t for t, _, _ in values} >= {"dim_reps", "kpi_rep_weekly"}
    emails = [u["Email"] for u in runs.rows["User"]]
    assert all(EMAIL.search(e) for e in emails)  # the patterns find what they look for
    assert PHONE.search("+1 415 555 0134") and PHONE.search("(415) 555-0134")
    assert not PHONE.search("29de5815-0b65-47db-b871-676750063763")  # a run id is no phone
    for table, column, value in values:
        assert not EMAIL.search(value), (table, column, value)
        assert not PHONE.search(value), (table, column, value)

    assert runs.org.client_secret == SECRET
    secret = SECRET.encode()
    dirs = [runs.a, runs.b, *zone_runs.dirs.values()]
    files = [p for d in dirs for p in d.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"warehouse.duckdb", "kpi.duckdb", "last_run.json", "last_run.log"} <= names
    assert any("data_docs" in p.parts for p in files) and any("dbt" in p.parts for p in files)
    for path in files:
        assert secret not in path.read_bytes(), path
    # DuckDB may compress strings: ask it too, in every text column of the warehouse.
    con = duckdb.connect(str(runs.a / "warehouse.duckdb"), read_only=True)
    try:
        text = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where data_type in ('VARCHAR', 'JSON') and not internal"
        ).fetchall()
        for schema, table, column in text:
            (found,) = con.execute(
                f'select count(*) from "{schema}"."{table}" where "{column}" like ?',
                [f"%{SECRET}%"],
            ).fetchone()
            assert not found, (schema, table, column)
    finally:
        con.close()


# ---------- 11. Salesforce's dbt unit tests


def test_salesforce_dbt_unit_tests_pass(runs, tmp_path):
    shutil.copy(runs.a / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    env = os.environ | {
        "CRM_KPI_CRM": "salesforce",
        "CRM_KPI_DATA_DIR": str(tmp_path),
        "CRM_KPI_TIMEZONE": "UTC",
        "CRM_KPI_QUOTAS": "",
        "CRM_KPI_AS_OF": "",
    }
    dbt = [str(Path(sys.executable).with_name("dbt")), "test", "--select", "test_type:unit"]
    dbt += ["--profiles-dir", str(DBT_DIR), "--project-dir", str(DBT_DIR)]
    dbt += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    done = subprocess.run(dbt, env=env, cwd=DBT_DIR, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:]
    assert "ERROR=0" in done.stdout and "PASS=0" not in done.stdout
    mapping = (DBT_DIR / "models" / "crm" / "salesforce" / "_salesforce__mapping.yml").read_text()
    names = re.findall(r"^  - name: (test_salesforce_\w+)", mapping, re.MULTILINE)
    assert names
    for name in names:
        assert re.search(rf"PASS .*{name}\b", done.stdout), name
