"""The quotas file (CRM_KPI_QUOTAS), checked before a run so a typo is one clear line, not a
failed dbt test deep in the run log."""

import csv
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .settings import ConfigError

COLUMNS = ("owner_email", "quarter", "quota_amount")
QUARTER = re.compile(r"[0-9]{4}-Q[1-4]")
EXPECTED = "expected a CSV with header owner_email,quarter,quota_amount and quarters like 2026-Q4"


def validate_quotas_file(path: Path) -> int:
    """Raise ConfigError naming the first bad line; return the number of quotas."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            header = [name.strip().lower() for name in reader.fieldnames or []]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise ConfigError(
                    f"quotas file {path}: missing column(s) {', '.join(missing)}; {EXPECTED}"
                )
            reader.fieldnames = header
            seen: dict[tuple[str, str], int] = {}
            for row in reader:
                key = _check_row(path, reader.line_num, row)
                if key in seen:
                    raise ConfigError(
                        f"quotas file {path} line {reader.line_num}: a second quota for "
                        f"{key[0]} in {key[1]} (the first is on line {seen[key]})"
                    )
                seen[key] = reader.line_num
            return len(seen)
    except UnicodeDecodeError:
        raise ConfigError(f"quotas file {path} is not UTF-8 text; {EXPECTED}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read quotas file {path}: {exc.strerror}") from None


def _check_row(path: Path, line: int, row: dict) -> tuple[str, str]:
    """Raise ConfigError on a bad row; return its (email, quarter) as the models match them."""
    email = (row.get("owner_email") or "").strip()
    quarter = (row.get("quarter") or "").strip().upper()
    amount = (row.get("quota_amount") or "").strip()
    where = f"quotas file {path} line {line}"
    if "@" not in email:
        raise ConfigError(f"{where}: owner_email {email!r} is not an email address; {EXPECTED}")
    if not QUARTER.fullmatch(quarter):
        raise ConfigError(f"{where}: quarter {quarter!r} is not like 2026-Q4; {EXPECTED}")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value < 0:
        raise ConfigError(f"{where}: quota_amount {amount!r} is not a non-negative number")
    return email.lower(), quarter
