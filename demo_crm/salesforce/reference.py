"""The org's reference rows, built once: users and roles from the owners and their teams, the
shared-inbox queue, record types from the pipelines, org-wide stages, currencies."""

from dataclasses import dataclass

from ..catalog import OWNER_EMAIL_DOMAIN
from ..clock import MS_DAY, iso, to_ms
from ..generator.deals import EUR_TO_USD
from ..store import DemoCrm
from .ids import salesforce_id
from .values import modstamp, stamp

CORPORATE_CURRENCY = "USD"
# A rate per currency against the corporate one (1 USD = 1 / 1.08 EUR), with 9 decimals: every
# EUR deal's Amount / ConversionRate rounds to HubSpot's home amount.
CURRENCY_RATES = {"USD": 1.0, "EUR": round(1 / EUR_TO_USD, 9)}


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    probability: float  # 0-100, as Salesforce
    is_closed: bool
    is_won: bool
    sort_order: int
    pipeline_id: str


def org_stages(crm: DemoCrm) -> dict[tuple[str, str], Stage]:
    """Org-wide stages: one sort order over every pipeline, each pipeline's in display order."""
    stages, sort_order = {}, 0
    for pipeline in sorted(crm.pipelines, key=lambda p: p["displayOrder"]):
        for stage in sorted(pipeline["stages"], key=lambda s: s["displayOrder"]):
            sort_order += 1
            probability = float(stage["metadata"]["probability"])
            closed = stage["metadata"]["isClosed"] == "true"
            stages[(pipeline["id"], stage["id"])] = Stage(
                stage["id"],
                stage["label"],
                round(probability * 100, 6),
                closed,
                closed and probability == 1.0,
                sort_order,
                pipeline["id"],
            )
    return stages


def reference_rows(
    crm: DemoCrm,
    user_of: dict[str, str],
    shared_inbox: str,
    record_types: dict[str, str],
    stages: dict[tuple[str, str], Stage],
    multi_currency: bool,
) -> dict[str, list[dict]]:
    """Users, roles, the queue, record types, stages and currencies: built once."""
    set_up = stamp(iso(to_ms(crm.now) - 900 * MS_DAY))
    stamps = {"CreatedDate": set_up, "LastModifiedDate": set_up, "SystemModstamp": set_up}
    roles: dict[str, str] = {}
    role_rows = []
    for owner in crm.owners:
        for team in owner.get("teams") or []:
            if team["id"] not in roles:
                roles[team["id"]] = salesforce_id("UserRole", int(team["id"]))
                developer = "".join(ch if ch.isalnum() else "_" for ch in team["name"])
                role_rows.append(
                    {"Id": roles[team["id"]], "Name": team["name"], "DeveloperName": developer}
                    | {"ParentRoleId": None, "LastModifiedDate": set_up, "SystemModstamp": set_up}
                )
    users = []
    for owner in crm.owners:
        teams = owner.get("teams") or []
        first, last = owner.get("firstName") or "", owner.get("lastName") or ""
        users.append(
            {
                "Id": user_of[owner["id"]],
                "Name": f"{first} {last}".strip(),
                "FirstName": first,
                "LastName": last,
                "Email": owner["email"],
                "Username": owner["email"] + ".demo",
                "IsActive": not owner["archived"],
                "UserType": "Standard",
                "UserRoleId": roles.get(teams[0]["id"]) if teams else None,
                "CreatedDate": stamp(owner["createdAt"]),
                "LastModifiedDate": modstamp(owner["updatedAt"]),
                "SystemModstamp": modstamp(owner["updatedAt"]),
            }
        )
    # Users that are not people selling: records nobody owns belong to the integration user.
    for number_, (first, last, kind, email) in enumerate(
        (
            (None, "Integration User", "AutomatedProcess", f"integration@{OWNER_EMAIL_DOMAIN}"),
            ("Chatter", "Expert", "CsnOnly", "noreply@chatter.salesforce.com"),
        ),
        start=1,
    ):
        users.append(
            {
                "Id": salesforce_id("User", number_),
                "Name": f"{first or ''} {last}".strip(),
                "FirstName": first,
                "LastName": last,
                "Email": email,
                "Username": email + ".demo",
                "IsActive": True,
                "UserType": kind,
                "UserRoleId": None,
            }
            | stamps
        )
    queue = {
        "Id": shared_inbox,
        "Name": "Shared Inbox",
        "DeveloperName": "Shared_Inbox",
        "Type": "Queue",
        "Email": f"sales@{OWNER_EMAIL_DOMAIN}",
    } | stamps
    record_types = [
        {
            "Id": record_types[p["id"]],
            "Name": p["label"],
            "DeveloperName": p["label"].replace(" ", "_"),
            "SobjectType": "Opportunity",
            "IsActive": True,
        }
        | stamps
        for p in crm.pipelines
    ]
    # Not every record type is an opportunity's: clients must filter on SobjectType.
    record_types.append(
        {
            "Id": salesforce_id("RecordType", 99),
            "Name": "Customer Account",
            "DeveloperName": "Customer_Account",
            "SobjectType": "Account",
            "IsActive": True,
        }
        | stamps
    )
    stage_rows = [
        {
            "Id": salesforce_id("OpportunityStage", s.sort_order),
            "ApiName": s.label,
            "MasterLabel": s.label,
            "DefaultProbability": s.probability,
            "ForecastCategoryName": (
                "Closed" if s.is_won else "Omitted" if s.is_closed else "Pipeline"
            ),
            "IsActive": True,
            "IsClosed": s.is_closed,
            "IsWon": s.is_won,
            "SortOrder": s.sort_order,
        }
        | stamps
        for s in stages.values()
    ]
    rows = {
        "User": users,
        "UserRole": role_rows,
        "Group": [queue],
        "RecordType": record_types,
        "OpportunityStage": stage_rows,
    }
    if multi_currency:
        rows["CurrencyType"] = [
            {
                "Id": salesforce_id("CurrencyType", number_),
                "IsoCode": code,
                "ConversionRate": rate,
                "DecimalPlaces": 2,
                "IsActive": True,
                "IsCorporate": code == CORPORATE_CURRENCY,
            }
            | stamps
            for number_, (code, rate) in enumerate(CURRENCY_RATES.items(), start=1)
        ]
    return rows
