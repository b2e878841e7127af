"""What the sync fetches from HubSpot: one row per object, parameterised, never one function each.

HubSpot's list endpoints return only a handful of default properties unless `properties=` names
them, so every property the KPI models read is listed here explicitly.
"""

from dataclasses import dataclass

# Only associations the KPI models use: incremental syncs pay one extra request per type and page.
ENGAGEMENT_ASSOCIATIONS = ("deals",)


@dataclass(frozen=True)
class CrmObject:
    """One CRM object type and how to fetch it.

    `name` is the raw table name; `path` the API route below the base URL.
    """

    name: str
    path: str
    properties: tuple[str, ...] = ()
    associations: tuple[str, ...] = ()
    # Property holding the last-modified time, used for incremental search (contacts differ).
    cursor_property: str = "hs_lastmodifieddate"
    # Owners and pipelines are small reference lists without search or properties.
    searchable: bool = True
    # HubSpot lists archived records only on request (`archived=true`); pipelines have no such list.
    lists_archived: bool = True


OWNERS = CrmObject(name="owners", path="/crm/v3/owners", searchable=False)
DEAL_PIPELINES = CrmObject(
    name="deal_pipelines", path="/crm/v3/pipelines/deals", searchable=False, lists_archived=False
)

DEALS = CrmObject(
    name="deals",
    path="/crm/v3/objects/deals",
    properties=(
        "dealname",
        "amount",
        "amount_in_home_currency",
        "deal_currency_code",
        "dealstage",
        "pipeline",
        "createdate",
        "closedate",
        "hs_lastmodifieddate",
        "hubspot_owner_id",
        "hs_is_closed",
        "hs_is_closed_won",
    ),
)
CALLS = CrmObject(
    name="calls",
    path="/crm/v3/objects/calls",
    properties=(
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_call_direction",
        "hs_call_status",
        "hs_call_disposition",
        "hs_call_duration",
        "hs_lastmodifieddate",
    ),
    associations=ENGAGEMENT_ASSOCIATIONS,
)
EMAILS = CrmObject(
    name="emails",
    path="/crm/v3/objects/emails",
    properties=(
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_email_direction",
        "hs_email_status",
        "hs_lastmodifieddate",
    ),
    associations=ENGAGEMENT_ASSOCIATIONS,
)
MEETINGS = CrmObject(
    name="meetings",
    path="/crm/v3/objects/meetings",
    properties=(
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_meeting_outcome",
        "hs_lastmodifieddate",
    ),
    associations=ENGAGEMENT_ASSOCIATIONS,
)
TASKS = CrmObject(
    name="tasks",
    path="/crm/v3/objects/tasks",
    properties=(
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_task_status",
        "hs_task_type",
        "hs_task_priority",
        "hs_lastmodifieddate",
    ),
    associations=ENGAGEMENT_ASSOCIATIONS,
)
CONTACTS = CrmObject(
    name="contacts",
    path="/crm/v3/objects/contacts",
    properties=(
        "firstname",
        "lastname",
        "email",
        "lifecyclestage",
        "hubspot_owner_id",
        "createdate",
        "lastmodifieddate",
    ),
    cursor_property="lastmodifieddate",
)
COMPANIES = CrmObject(
    name="companies",
    path="/crm/v3/objects/companies",
    properties=(
        "name",
        "domain",
        "industry",
        "hubspot_owner_id",
        "createdate",
        "hs_lastmodifieddate",
    ),
)

REFERENCE_OBJECTS = (OWNERS, DEAL_PIPELINES)  # synced whole every run, before the rest
CRM_OBJECTS: tuple[CrmObject, ...] = (
    OWNERS,
    DEAL_PIPELINES,
    DEALS,
    CALLS,
    EMAILS,
    MEETINGS,
    TASKS,
    CONTACTS,
    COMPANIES,
)


def stage_history_properties(pipelines: list[dict]) -> tuple[str, ...]:
    """HubSpot's per-stage entry and exit times of deals, named after each stage's id."""
    return tuple(
        f"hs_date_{event}_{stage['id']}"
        for pipeline in pipelines
        for stage in pipeline.get("stages", [])
        for event in ("entered", "exited")
    )
