"""Fixed vocabulary of the demo CRM: object types, default properties, pipelines, the sales org."""

OBJECT_TYPES = ("deals", "calls", "emails", "meetings", "tasks", "contacts", "companies")
ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "tasks")

# Association labels are built from these, e.g. "call_to_deal".
SINGULAR = {
    "deals": "deal",
    "calls": "call",
    "emails": "email",
    "meetings": "meeting",
    "tasks": "task",
    "contacts": "contact",
    "companies": "company",
}

# What HubSpot returns when a request names no properties.
_ENGAGEMENT_DEFAULTS = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id")
DEFAULT_PROPERTIES = {
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    "calls": _ENGAGEMENT_DEFAULTS,
    "emails": _ENGAGEMENT_DEFAULTS,
    "meetings": _ENGAGEMENT_DEFAULTS,
    "tasks": _ENGAGEMENT_DEFAULTS,
    "contacts": (
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
}

# Contacts carry `lastmodifieddate` instead of `hs_lastmodifieddate`, as in HubSpot.
MODIFIED_PROPERTY = {t: "hs_lastmodifieddate" for t in OBJECT_TYPES} | {
    "contacts": "lastmodifieddate"
}
CREATED_PROPERTY = {t: "createdate" for t in OBJECT_TYPES} | {
    t: "hs_createdate" for t in ENGAGEMENT_TYPES
}

# (id, label, probability); probability 1.0 / 0.0 marks closed won / closed lost.
DEFAULT_PIPELINE_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4"),
    ("presentationscheduled", "Presentation Scheduled", "0.6"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"),
    ("contractsent", "Contract Sent", "0.9"),
    ("closedwon", "Closed Won", "1.0"),
    ("closedlost", "Closed Lost", "0.0"),
)
# Custom pipelines get numeric stage ids, so stage ids alone never tell won from lost.
RENEWALS_PIPELINE_ID = "1234567"
RENEWALS_PIPELINE_STAGES = (
    ("1234568", "Renewal Due", "0.3"),
    ("1234569", "Proposal Sent", "0.6"),
    ("1234570", "Verbal Commit", "0.9"),
    ("1234571", "Renewed", "1.0"),
    ("1234572", "Churned", "0.0"),
)

PIPELINE_STAGES = {
    "default": DEFAULT_PIPELINE_STAGES,
    RENEWALS_PIPELINE_ID: RENEWALS_PIPELINE_STAGES,
}
# HubSpot defines both per stage of every pipeline, portal-wide: a deal has values only for the
# stages it passed through, and they come back only when `properties=` names them.
STAGE_HISTORY_PROPERTIES = tuple(
    f"hs_date_{edge}_{stage_id}"
    for stages in PIPELINE_STAGES.values()
    for stage_id, _label, _probability in stages
    for edge in ("entered", "exited")
)

# Search compares these as instants, so filter values may be epoch-ms or ISO strings.
DATETIME_PROPERTIES = frozenset(
    {
        "createdate",
        "closedate",
        "hs_createdate",
        "hs_lastmodifieddate",
        "lastmodifieddate",
        "hs_timestamp",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_task_completion_date",
        *STAGE_HISTORY_PROPERTIES,
    }
)

# (team id, team name, UTC hour the team's working day starts, reps as (first, last)).
TEAMS = (
    (
        "5001",
        "New Business East",
        13,
        (("Ava", "Martin"), ("Noah", "Okafor"), ("Mia", "Lindqvist"), ("Lucas", "Brennan")),
    ),
    (
        "5002",
        "New Business West",
        16,
        (("Sofia", "Ramirez"), ("Ethan", "Park"), ("Chloe", "Nakamura")),
    ),
    ("5003", "Expansion", 14, (("Liam", "Fischer"), ("Zoe", "Adeyemi"), ("Owen", "Castillo"))),
)
LEAVER = ("5002", ("Jack", "Whitfield"))  # archived owner who still owns early history
NEW_HIRE = ("5003", ("Ines", "Moreau"))  # joins at the start of the middle quarter
OWNER_EMAIL_DOMAIN = "northpeak-software.example"

CALL_DISPOSITIONS = {
    "busy": "9d9162e7-6cf3-4944-bf63-4dff82258764",
    "connected": "f240bbac-87c9-4f6e-bf70-924b57d47db7",
    "live_message": "a4c4c377-d246-4b32-a13b-75a56a4cd0ff",
    "voicemail": "b2cf5968-551e-4856-9783-52b3da59a7d0",
    "no_answer": "73a0d17f-1163-4015-bdd5-ec830791da20",
    "wrong_number": "17b47fee-58de-441e-a44c-c6300d46f273",
}

INDUSTRIES = (
    "COMPUTER_SOFTWARE",
    "FINANCIAL_SERVICES",
    "HOSPITAL_HEALTH_CARE",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "RETAIL",
    "MARKETING_AND_ADVERTISING",
    "CONSTRUCTION",
    "EDUCATION_MANAGEMENT",
    "MANUFACTURING",
)
COMPANY_WORDS = tuple(
    "Blue Harbor Summit Cedar Granite Northwind Silver Maple Orbit Pioneer Atlas Beacon Copper "
    "Falcon Juniper Lumen Meridian Quartz Redwood Sterling Tidal Vertex Willow Zenith Aurora "
    "Bright Crest".split()
)
COMPANY_SUFFIXES = tuple(
    "Logistics Health Analytics Foods Labs Systems Partners Retail Energy Media Works Capital "
    "Robotics Studios Supply".split()
)
FIRST_NAMES = tuple(
    "Olivia James Emma William Amelia Henry Harper Daniel Ella Samuel Grace David Layla Joseph "
    "Nora Carter Hannah Leo Aria Mateo Priya Wei Fatima Kenji Sven Aisha Tomás Yara".split()
)
LAST_NAMES = tuple(
    "Smith Johnson Garcia Miller Davis Lopez Wilson Anderson Thomas Moore Jackson Lee Harris "
    "Clark Lewis Young Walker Hall Khan Novak Rossi Schmidt Tanaka Dubois Kowalski Singh "
    "O'Brien".split()
)
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
PRODUCTS = ("Platform", "Analytics Add-on", "Enterprise Plan", "Team Plan", "Onboarding")
MEETING_TYPES = ("Discovery Call", "Demo", "Negotiation", "Quarterly Business Review")
TASK_SUBJECTS = ("Follow up", "Send proposal", "Prepare demo", "Check in", "Update CRM")
EMAIL_SUBJECTS = ("Following up", "Proposal attached", "Quick question", "Next steps", "Re: Demo")
