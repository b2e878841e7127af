"""One pipeline run through the Dagster asset graph, and what it means for the user (exit code)."""

import contextlib
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dagster import DagsterEventType, DagsterInstance, ExecuteInProcessResult

from .check_outcomes import CheckOutcomes
from .crm_http import CrmAuthError, CrmError
from .crm_sources import crm_source
from .exit_codes import ExitCode
from .publish import PUBLISHED_KPIS, PublishedFileError
from .settings import ConfigError, Settings
from .status import record_run
from .sync_assets import SYNC_STEP
from .warehouse import check_crm

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    exit_code: ExitCode
    reason: str
    records: dict[str, int] = field(default_factory=dict)  # in raw after the sync
    fetched: dict[str, int] = field(default_factory=dict)  # fetched from the CRM by this run
    modes: dict[str, str] = field(default_factory=dict)  # "full" or "incremental", per object
    published_rows: dict[str, int] = field(default_factory=dict)
    quarantined_records: int | None = None  # left out of the published KPIs, listed in them
    dagster_result: ExecuteInProcessResult | None = None
    checks: CheckOutcomes | None = None  # None when no Dagster run started


def verify_crm_access(settings: Settings) -> None:
    """Fail fast, before Dagster starts, on another CRM's data directory, a missing or rejected
    credential or an unreachable CRM."""
    check_crm(settings)
    crm_source(settings).verify(settings)


def run_pipeline(
    settings: Settings,
    full_refresh: bool = False,
    sync_only: bool = False,
    instance: DagsterInstance | None = None,
) -> RunOutcome:
    """Sync, build, check and publish once; never raises for problems a user can cause.

    Args:
        full_refresh: fetch every record again instead of what changed since the last sync.
        sync_only: stop after the raw layer (`crm-kpi sync`).
        instance: where Dagster records the run; by default DAGSTER_HOME's instance when that
            variable is set (the UI and the daemon show the run), else a throwaway one.
    """
    try:
        verify_crm_access(settings)
    except (ConfigError, CrmAuthError) as exc:
        return RunOutcome(ExitCode.BAD_CONFIGURATION, str(exc))
    except CrmError as exc:
        return RunOutcome(ExitCode.RUN_FAILED, f"cannot read the CRM: {exc}")
    if instance is not None:
        return _run_job(settings, full_refresh, sync_only, instance)
    try:
        opened = open_instance()
    except InstanceError as exc:
        return RunOutcome(exc.exit_code, str(exc))
    with opened:
        return _run_job(settings, full_refresh, sync_only, opened)


RECYCLE_SECONDS = 3600  # dagster-webserver's default
MAX_OVERFLOW = 10  # connections beyond the kept one, for the sync's threads logging at once


class InstanceError(Exception):
    def __init__(self, message: str, exit_code: ExitCode):
        super().__init__(message)
        self.exit_code = exit_code


def open_instance() -> DagsterInstance:
    """DAGSTER_HOME's instance (its dagster.yaml: Postgres storage for a service) when the
    variable is set, so that the UI shows the run; else a throwaway one, as `dagster dev` would
    not know the run anyway."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return DagsterInstance.ephemeral()
    try:
        instance = DagsterInstance.get()
    except Exception as exc:
        # Storage that does not answer is like a CRM that does not: the run failed (1); a
        # DAGSTER_HOME that is no directory or a dagster.yaml that does not parse is configuration.
        import sqlalchemy.exc

        unreachable = isinstance(exc, sqlalchemy.exc.OperationalError) or (
            type(exc).__name__ == "DagsterPostgresException"
        )
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise InstanceError(
            f"cannot open the Dagster instance of DAGSTER_HOME={home}: {detail[:300]}",
            ExitCode.RUN_FAILED if unreachable else ExitCode.BAD_CONFIGURATION,
        ) from None
    # Postgres storage opens a connection per event by default (~450 events a run): that made a
    # demo run 35 s instead of 22. The webserver's pooling, one connection kept for the run
    # (more while threads log at once), brings it back to the ephemeral instance's time.
    instance.optimize_for_webserver(
        statement_timeout=0, pool_recycle=RECYCLE_SECONDS, max_overflow=MAX_OVERFLOW
    )
    return instance


def _run_job(
    settings: Settings, full_refresh: bool, sync_only: bool, instance: DagsterInstance
) -> RunOutcome:
    # Loading dbt's manifest takes a moment: only when running.
    from .definitions import build_definitions

    job = build_definitions(settings.crm).resolve_job_def(
        "crm_kpi_sync" if sync_only else "crm_kpi_run"
    )
    # dbt's output goes to stdout line by line; keep it in a file beside the data, not the terminal.
    settings.run_log_path.parent.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    with settings.run_log_path.open("w") as run_log, contextlib.redirect_stdout(run_log):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
                "ops": {SYNC_STEP: {"config": {"full_refresh": full_refresh}}},
            },
        )
    outcome = interpret(result, expect_publication=not sync_only)
    record_run(settings, outcome, started_at, datetime.now(UTC))  # for `crm-kpi status`
    return outcome


def interpret(result: ExecuteInProcessResult, expect_publication: bool = True) -> RunOutcome:
    records, fetched, modes, published_rows = {}, {}, {}, {}
    quarantined = None
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if materialization.asset_key.path[0] == "raw" and "records" in metadata:  # not quotas
            name = materialization.asset_key.path[-1]
            records[name], fetched[name] = metadata["records"], metadata["fetched"]
            modes[name] = metadata["mode"]
        elif materialization.asset_key == PUBLISHED_KPIS:
            published_rows = {
                k.removeprefix("rows_"): v for k, v in metadata.items() if k.startswith("rows_")
            }
            quarantined = metadata.get("quarantined_records")
    checks = CheckOutcomes.from_evaluations(result.get_asset_check_evaluations())
    outcome = RunOutcome(
        ExitCode.PUBLISHED,
        "published",
        records,
        fetched,
        modes,
        published_rows,
        quarantined,
        result,
        checks,
    )
    if published_rows or (result.success and not expect_publication):
        return outcome
    if checks.blocking_failures:
        outcome.exit_code = ExitCode.CHECK_FAILED
        outcome.reason = "blocking check failed, previous KPIs kept: " + " | ".join(
            checks.blocking_failures
        )
        return outcome
    failures = [_root_cause(e.step_failure_data.error) for e in result.get_step_failure_events()]
    if not failures:
        # Before any step: a resource that could not start (the warehouse lock, held too long).
        failures = [
            _root_cause(e.engine_event_data.error)
            for e in result.all_events
            if e.event_type == DagsterEventType.RESOURCE_INIT_FAILURE and e.engine_event_data.error
        ]
    user_errors = (CrmAuthError.__name__, ConfigError.__name__)
    auth = [message for cls_name, message in failures if cls_name in user_errors]
    unfiled = [m for cls_name, m in failures if cls_name == PublishedFileError.__name__]
    if auth:
        outcome.exit_code, outcome.reason = ExitCode.BAD_CONFIGURATION, auth[0]
    elif unfiled:  # Postgres holds the publication; only its kpi.duckdb copy is missing
        outcome.exit_code, outcome.reason = ExitCode.RUN_FAILED, unfiled[0]
    else:
        outcome.exit_code = ExitCode.RUN_FAILED
        outcome.reason = "run failed, nothing published: " + (
            " | ".join(message for _, message in failures) or "no step failed; see the run log"
        )
    return outcome


def _root_cause(error) -> tuple[str, str]:
    while error.cause is not None:
        error = error.cause
    return error.cls_name or "", error.message.strip().splitlines()[-1]
