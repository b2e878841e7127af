"""The sObjects the demo org serves: their fields, field types and relationships.

Types are Salesforce's describe types; SOQL (soql.py) checks filter values against them and
the API (api.py) answers `describe` from them. A multi-currency org adds `CurrencyIsoCode` to
money objects and the `CurrencyType` object; a single-currency org has neither.
"""

from dataclasses import dataclass, field

# Describe types grouped by the SOQL literal they compare with.
TEXT_TYPES = frozenset({"id", "string", "email", "picklist", "reference", "textarea"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
# Text compares and sorts ignoring case; ids are exact (their order is the order created).
CASE_INSENSITIVE_TYPES = TEXT_TYPES - {"id", "reference"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    references: tuple[str, ...] = ()  # sObjects a reference field points to
    relationship: str | None = None  # e.g. "Owner" for OwnerId
    nillable: bool = True


@dataclass
class SObjectSpec:
    name: str
    label: str
    fields: tuple[FieldSpec, ...]
    _lower: dict[str, FieldSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lower = {f.name.lower(): f for f in self.fields}

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, case-insensitively as in SOQL."""
        return self._lower.get(name.lower())

    def relationship(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.relationship and spec.relationship.lower() == name.lower():
                return spec
        return None


def _f(name: str, kind: str, nillable: bool = True) -> FieldSpec:
    return FieldSpec(name, kind, nillable=nillable)


def _ref(name: str, *targets: str) -> FieldSpec:
    return FieldSpec(name, "reference", targets, name.removesuffix("Id"))


_ID = FieldSpec("Id", "id", nillable=False)
_STAMPS = (
    _f("CreatedDate", "datetime", False),
    _f("LastModifiedDate", "datetime", False),
    _f("SystemModstamp", "datetime", False),
)
_DELETED = _f("IsDeleted", "boolean", False)
_CURRENCY = _f("CurrencyIsoCode", "picklist", False)


def sobject_specs(multi_currency: bool) -> dict[str, SObjectSpec]:
    """Every served sObject by name, as the org's settings shape them."""
    money = (_CURRENCY,) if multi_currency else ()
    specs = [
        SObjectSpec(
            "User",
            "User",
            (
                _ID,
                _f("Name", "string", False),
                _f("FirstName", "string"),
                _f("LastName", "string", False),
                _f("Email", "email", False),
                _f("Username", "string", False),
                _f("IsActive", "boolean", False),
                _f("UserType", "picklist"),
                _ref("UserRoleId", "UserRole"),
                *_STAMPS,
            ),
        ),
        SObjectSpec(
            "UserRole",
            "Role",
            (
                _ID,
                _f("Name", "string", False),
                _f("DeveloperName", "string"),
                FieldSpec("ParentRoleId", "reference", ("UserRole",)),
                *_STAMPS[1:],
            ),
        ),
        SObjectSpec(
            "Group",
            "Group",
            (
                _ID,
                _f("Name", "string", False),
                _f("DeveloperName", "string"),
                _f("Type", "picklist", False),
                _f("Email", "email"),
                *_STAMPS,
            ),
        ),
        SObjectSpec(
            "RecordType",
            "Record Type",
            (
                _ID,
                _f("Name", "string", False),
                _f("DeveloperName", "string", False),
                _f("SobjectType", "picklist", False),
                _f("IsActive", "boolean", False),
                *_STAMPS,
            ),
        ),
        SObjectSpec(
            "OpportunityStage",
            "Opportunity Stage",
            (
                _ID,
                _f("ApiName", "string", False),
                _f("MasterLabel", "string", False),
                _f("DefaultProbability", "percent"),
                _f("ForecastCategoryName", "picklist"),
                _f("IsActive", "boolean", False),
                _f("IsClosed", "boolean", False),
                _f("IsWon", "boolean", False),
                _f("SortOrder", "int"),
                *_STAMPS,
            ),
        ),
        SObjectSpec(
            "Account",
            "Account",
            (
                _ID,
                _f("Name", "string", False),
                _ref("OwnerId", "User"),
                _f("Industry", "picklist"),
                _f("Website", "string"),
                *_STAMPS,
                _DELETED,
            ),
        ),
        SObjectSpec(
            "Opportunity",
            "Opportunity",
            (
                _ID,
                _f("Name", "string", False),
                _ref("AccountId", "Account"),
                _ref("OwnerId", "User"),
                _ref("RecordTypeId", "RecordType"),
                _f("StageName", "picklist", False),
                _f("Type", "picklist"),
                _f("Amount", "currency"),
                *money,
                _f("Probability", "percent"),
                _f("CloseDate", "date", False),
                _f("IsClosed", "boolean", False),
                _f("IsWon", "boolean", False),
                *_STAMPS,
                _DELETED,
            ),
        ),
        SObjectSpec(
            "OpportunityHistory",
            "Opportunity History",
            (
                _ID,
                _ref("OpportunityId", "Opportunity"),
                _f("StageName", "picklist", False),
                _f("Amount", "currency"),
                *money,
                _f("Probability", "percent"),
                _f("CloseDate", "date"),
                _f("CreatedDate", "datetime", False),
                _f("SystemModstamp", "datetime", False),
                _DELETED,
            ),
        ),
        SObjectSpec(
            "Task",
            "Task",
            (
                _ID,
                FieldSpec("OwnerId", "reference", ("User", "Group"), "Owner", False),
                FieldSpec("WhatId", "reference", ("Opportunity", "Account"), "What"),
                _f("Subject", "string"),
                _f("Status", "picklist", False),
                _f("Priority", "picklist", False),
                _f("IsClosed", "boolean", False),
                _f("TaskSubtype", "picklist"),
                _f("Type", "picklist"),
                _f("ActivityDate", "date"),
                _f("CompletedDateTime", "datetime"),
                _f("CallDurationInSeconds", "int"),
                *_STAMPS,
                _f("IsArchived", "boolean", False),
                _DELETED,
            ),
        ),
        SObjectSpec(
            "Event",
            "Event",
            (
                _ID,
                FieldSpec("OwnerId", "reference", ("User", "Group"), "Owner", False),
                FieldSpec("WhatId", "reference", ("Opportunity", "Account"), "What"),
                _f("Subject", "string"),
                _f("StartDateTime", "datetime"),
                _f("EndDateTime", "datetime"),
                _f("ActivityDateTime", "datetime"),
                _f("ActivityDate", "date"),
                _f("DurationInMinutes", "int"),
                _f("IsAllDayEvent", "boolean", False),
                _f("IsChild", "boolean", False),
                *_STAMPS,
                _f("IsArchived", "boolean", False),
                _DELETED,
            ),
        ),
    ]
    if multi_currency:
        specs.append(
            SObjectSpec(
                "CurrencyType",
                "Currency",
                (
                    _ID,
                    _f("IsoCode", "picklist", False),
                    _f("ConversionRate", "double", False),
                    _f("DecimalPlaces", "int", False),
                    _f("IsActive", "boolean", False),
                    _f("IsCorporate", "boolean", False),
                    *_STAMPS,
                ),
            )
        )
    return {spec.name: spec for spec in specs}


def describe(spec: SObjectSpec, key_prefix: str) -> dict:
    """`GET /sobjects/{name}/describe/`, the parts a client reads."""
    return {
        "name": spec.name,
        "label": spec.label,
        "keyPrefix": key_prefix,
        "queryable": True,
        "retrieveable": True,
        "custom": False,
        "fields": [
            {
                "name": f.name,
                "label": f.name,
                "type": f.type,
                "filterable": True,
                "sortable": True,
                "nillable": f.nillable,
                "referenceTo": list(f.references),
                "relationshipName": f.relationship,
                "custom": False,
            }
            for f in spec.fields
        ],
    }
