"""What the sync fetches from Salesforce: one row per object, never one function each.

SELECT lists are these fields intersected with the object's `describe`: a field the org lacks
(`CurrencyIsoCode` in a single-currency org) is left out rather than failing the query.
Every object is read through `queryAll`, so deleted rows (IsDeleted) and archived activities come
too; the raw table's `archived` is IsDeleted.
"""

from dataclasses import dataclass

# The API version the client speaks unless SALESFORCE_API_VERSION says otherwise (Winter '26).
DEFAULT_API_VERSION = "65.0"


@dataclass(frozen=True)
class SalesforceObject:
    """One sObject and how to read it.

    `name` is the raw table name (snake case, plural: `user` is a keyword in SQL); `sobject` the
    API name; `where` a fixed SOQL condition; `reference` objects are small and read whole on
    every run.
    """

    name: str
    sobject: str
    fields: tuple[str, ...]
    where: str | None = None
    reference: bool = False
    # Only multi-currency orgs have it: absent from the org, it is skipped, not an error.
    optional: bool = False


def _fields(*names: str) -> tuple[str, ...]:
    # Id and SystemModstamp key and order every raw row.
    return ("Id", "SystemModstamp", *names)


USERS = SalesforceObject(
    "users",
    "User",
    _fields("Name", "Email", "IsActive", "UserType", "UserRoleId", "CreatedDate"),
    reference=True,
)
USER_ROLES = SalesforceObject(
    "user_roles", "UserRole", _fields("Name", "ParentRoleId", "DeveloperName"), reference=True
)
RECORD_TYPES = SalesforceObject(
    "record_types",
    "RecordType",
    _fields("Name", "DeveloperName", "SobjectType", "IsActive"),
    where="SobjectType = 'Opportunity'",
    reference=True,
)
OPPORTUNITY_STAGES = SalesforceObject(
    "opportunity_stages",
    "OpportunityStage",
    _fields(
        "ApiName", "MasterLabel", "DefaultProbability", "IsActive", "IsClosed", "IsWon", "SortOrder"
    ),
    reference=True,
)
CURRENCY_TYPES = SalesforceObject(
    "currency_types",
    "CurrencyType",
    _fields("IsoCode", "ConversionRate", "IsCorporate", "IsActive", "DecimalPlaces"),
    reference=True,
    optional=True,
)
OPPORTUNITIES = SalesforceObject(
    "opportunities",
    "Opportunity",
    _fields(
        "Name",
        "AccountId",
        "OwnerId",
        "RecordTypeId",
        "StageName",
        "Amount",
        "CurrencyIsoCode",
        "Probability",
        "CloseDate",
        "CreatedDate",
        "IsClosed",
        "IsWon",
        "IsDeleted",
    ),
)
OPPORTUNITY_HISTORY = SalesforceObject(
    "opportunity_history",
    "OpportunityHistory",
    _fields(
        "OpportunityId",
        "StageName",
        "Amount",
        "Probability",
        "CloseDate",
        "CreatedDate",
        "IsDeleted",
    ),
)
TASKS = SalesforceObject(
    "tasks",
    "Task",
    _fields(
        "OwnerId",
        "WhatId",
        "Subject",
        "Status",
        "IsClosed",
        "TaskSubtype",
        "Type",
        "ActivityDate",
        "CreatedDate",
        "IsArchived",
        "IsDeleted",
    ),
)
EVENTS = SalesforceObject(
    "events",
    "Event",
    _fields(
        "OwnerId",
        "WhatId",
        "Subject",
        "StartDateTime",
        "EndDateTime",
        "ActivityDate",
        "IsAllDayEvent",
        "IsChild",
        "CreatedDate",
        "IsArchived",
        "IsDeleted",
    ),
)
ACCOUNTS = SalesforceObject("accounts", "Account", _fields("Name", "IsDeleted"))

SALESFORCE_OBJECTS: tuple[SalesforceObject, ...] = (
    USERS,
    USER_ROLES,
    RECORD_TYPES,
    OPPORTUNITY_STAGES,
    CURRENCY_TYPES,
    OPPORTUNITIES,
    OPPORTUNITY_HISTORY,
    TASKS,
    EVENTS,
    ACCOUNTS,
)
