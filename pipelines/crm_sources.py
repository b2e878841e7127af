"""The CRMs crm-kpi reads, one entry each: its raw tables, how to sync them and count them, and
how to check the credentials before a run starts. CRM_KPI_CRM picks one."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .hubspot import client as hubspot_client
from .hubspot.objects import CRM_OBJECTS, OWNERS
from .hubspot.reconcile import count_crm_records
from .hubspot.sync import sync_crm
from .raw_sync import ObjectSync, SyncProgress
from .salesforce import client as salesforce_client
from .salesforce.objects import SALESFORCE_OBJECTS, USERS
from .salesforce.sync import count_live_records, sync_salesforce
from .settings import Settings
from .warehouse import Warehouse

# (results per object, the CRM's own live counts per object)
SyncOutcome = tuple[list[ObjectSync], dict[str, int]]


@dataclass(frozen=True)
class CrmSource:
    name: str  # CRM_KPI_CRM's value
    label: str  # as users name it
    objects: tuple[str, ...]  # raw table names
    sync: Callable[
        [Settings, Warehouse, list[str], datetime, bool, SyncProgress],
        SyncOutcome,
    ]
    verify: Callable[[Settings], None]  # one cheap request: raises CrmAuthError, CrmError


def _sync_hubspot(settings, wh, names, synced_at, full_refresh, progress) -> SyncOutcome:
    make_client = hubspot_client.client_factory(settings)
    objects = [o for o in CRM_OBJECTS if o.name in names]
    results = sync_crm(
        make_client,
        wh,
        objects,
        synced_at=synced_at,
        full_refresh=full_refresh,
        extra_properties=settings.extra_properties,
        progress=progress,
    )
    return results, count_crm_records(make_client, objects, synced_at)


def _verify_hubspot(settings: Settings) -> None:
    with hubspot_client.HubSpotClient(
        settings.hubspot_base_url, settings.access_token(), max_attempts=2, timeout_s=15
    ) as client:
        client.request("GET", OWNERS.path, params={"limit": 1})


def _sync_salesforce(settings, wh, names, synced_at, full_refresh, progress) -> SyncOutcome:
    make_client = salesforce_client.client_factory(settings)
    objects = [o for o in SALESFORCE_OBJECTS if o.name in names]
    results = sync_salesforce(
        make_client,
        wh,
        objects,
        synced_at=synced_at,
        lookback=timedelta(minutes=settings.salesforce_lookback_minutes),
        full_refresh=full_refresh,
        extra_fields=settings.extra_properties,
        progress=progress,
    )
    return results, count_live_records(make_client, objects, synced_at)


def _verify_salesforce(settings: Settings) -> None:
    session = salesforce_client.session_from(settings)
    with salesforce_client.SalesforceClient(
        session, settings.salesforce_api_version, max_attempts=2, timeout_s=15
    ) as client:
        client.describe(USERS.sobject)


CRM_SOURCES = {
    "hubspot": CrmSource(
        "hubspot", "HubSpot", tuple(o.name for o in CRM_OBJECTS), _sync_hubspot, _verify_hubspot
    ),
    "salesforce": CrmSource(
        "salesforce",
        "Salesforce",
        tuple(o.name for o in SALESFORCE_OBJECTS),
        _sync_salesforce,
        _verify_salesforce,
    ),
}


def crm_source(settings: Settings) -> CrmSource:
    return CRM_SOURCES[settings.crm]


def check_credentials(settings: Settings) -> None:
    """The credentials the selected CRM needs are set (ConfigError naming them otherwise)."""
    if settings.crm == "salesforce":
        salesforce_client.session_from(settings)
    else:
        settings.access_token()
