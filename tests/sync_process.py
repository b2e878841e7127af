"""The sync alone in a process of its own, for tests that kill it mid-sync: what `crm-kpi sync`
runs inside Dagster's step (the same clients, budget and sync), without the five seconds of
Dagster's imports. Reads the settings from the environment, as the CLI does.

    python tests/sync_process.py

`kill_mid_sync` runs a sync (this one, or the CLI's) and kills it with SIGKILL part way.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from pipelines.crm_sources import crm_source
from pipelines.raw_sync import SyncProgress
from pipelines.settings import load_settings
from pipelines.warehouse import claim_for_crm, connect_warehouse


def sync_env(crm, data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment pointed at the demo CRM `crm`, writing into `data_dir`."""
    return {
        **os.environ,
        "HUBSPOT_BASE_URL": crm.url,
        "HUBSPOT_ACCESS_TOKEN": crm.token,
        "CRM_KPI_DATA_DIR": str(data_dir),
        # The injected delays pace the sync, not the request budget (see conftest.point_at).
        "CRM_KPI_RATE_LIMIT": "5000",
        "CRM_KPI_SEARCH_RATE_LIMIT": "100",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        **settings,
    }


def kill_mid_sync(
    crm, args: list[str], env: dict[str, str], cwd: Path, after_requests: int, delay: float = 0.01
) -> None:
    """Run `python args` and kill -9 it once the demo CRM `crm` has answered `after_requests`
    requests (each delayed by `delay` s, slow enough to aim at)."""
    crm.clear_requests()
    crm.inject_faults(kind="delay", delay=delay, count=100_000)
    sync = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(crm.requests) < after_requests and sync.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    sync.send_signal(signal.SIGKILL)
    assert sync.wait() == -signal.SIGKILL, "the sync ended before the kill: aim earlier"
    crm.clear_faults()


if __name__ == "__main__":
    settings = load_settings()
    crm = crm_source(settings)  # CRM_KPI_CRM picks it, as for crm-kpi sync
    with connect_warehouse(settings) as con:
        claim_for_crm(con, crm.name)
        crm.sync(settings, con, list(crm.objects), datetime.now(UTC), False, SyncProgress())
