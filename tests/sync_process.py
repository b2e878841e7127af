"""The sync alone in a process of its own, for tests that kill it mid-sync: what `crm-kpi sync`
runs inside Dagster's step (the same clients, budget and sync), without the five seconds of
Dagster's imports. Reads the settings from the environment, as the CLI does.

    python tests/sync_process.py
"""

from datetime import UTC, datetime

from pipelines.crm_sources import crm_source
from pipelines.raw_sync import SyncProgress
from pipelines.settings import load_settings
from pipelines.warehouse import claim_for_crm, connect_warehouse

if __name__ == "__main__":
    settings = load_settings()
    crm = crm_source(settings)  # CRM_KPI_CRM picks it, as for crm-kpi sync
    with connect_warehouse(settings) as con:
        claim_for_crm(con, crm.name)
        crm.sync(settings, con, list(crm.objects), datetime.now(UTC), False, SyncProgress())
