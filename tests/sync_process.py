"""The sync alone in a process of its own, for tests that kill it mid-sync: what `crm-kpi sync`
runs inside Dagster's step (the same clients, budget and sync), without the five seconds of
Dagster's imports. Reads the settings from the environment, as the CLI does.

    python tests/sync_process.py
"""

from datetime import UTC, datetime

from pipelines.hubspot.client import client_factory
from pipelines.hubspot.objects import CRM_OBJECTS
from pipelines.hubspot.sync import sync_crm
from pipelines.settings import load_settings
from pipelines.warehouse import connect

if __name__ == "__main__":
    settings = load_settings()
    with connect(settings.warehouse_path) as con:
        sync_crm(client_factory(settings), con, list(CRM_OBJECTS), synced_at=datetime.now(UTC))
