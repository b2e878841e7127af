"""18-character Salesforce ids, derived from the HubSpot ids so they are the same every run."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # in ASCII order
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "Dm0"  # the instance and reserved characters every id of this org shares

# Key prefixes: the first three characters say which sObject an id belongs to.
KEY_PREFIXES = {
    "User": "005",
    "UserRole": "00E",
    "RecordType": "012",
    "OpportunityStage": "01J",
    "CurrencyType": "01L",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "Task": "00T",
    "Event": "00U",
    "Account": "001",
    "Group": "00G",
}


def salesforce_id(sobject: str, number: int) -> str:
    """The id of `sobject` number `number`; ids sort as their numbers do (fixed width, base 62)."""
    digits = []
    for _ in range(9):
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    if number:
        raise ValueError("number too large for a Salesforce id")
    short = KEY_PREFIXES[sobject] + _POD + "".join(reversed(digits))
    # Salesforce's case-safe suffix: one character per five, encoding which are upper case.
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(short[start : start + 5]) if ch.isupper())
        suffix += _CHECKSUM[bits]
    return short + suffix
