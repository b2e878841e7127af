"""Time and dice helpers. The generator works in epoch milliseconds: cheap and exactly ordered."""

import random
from datetime import UTC, date, datetime, timedelta

MS_MINUTE = 60_000
MS_HOUR = 3_600_000
MS_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("the demo CRM needs an aware datetime (UTC), got a naive one")
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """HubSpot's timestamp form: ISO-8601 UTC with milliseconds and `Z`."""
    # The generator formats ~130k timestamps, so this assembles them from cached pieces.
    day, rest = divmod(ms, MS_DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = (_EPOCH + timedelta(days=day)).strftime("%Y-%m-%dT")
    minute, rest = divmod(rest, MS_MINUTE)
    second, millis = divmod(rest, 1000)
    return prefix + _HOUR_MINUTE[minute] + _SECOND[second] + _MILLIS[millis]


_HOUR_MINUTE = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440)]
_SECOND = [f"{s:02d}." for s in range(60)]
_MILLIS = [f"{m:03d}Z" for m in range(1000)]
_DAY_PREFIX: dict[int, str] = {}


def parse_instant(value: str) -> int | None:
    """Epoch-ms string, ISO datetime or ISO date → epoch ms; None if it is none of those."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_ms(moment)


def quarter_start_ms(now_ms: int, quarters_back: int) -> int:
    """Start (UTC midnight) of the calendar quarter `quarters_back` before the one holding now."""
    now = _EPOCH + timedelta(milliseconds=now_ms)
    index = now.year * 4 + (now.month - 1) // 3 - quarters_back
    start = datetime(index // 4, (index % 4) * 3 + 1, 1, tzinfo=UTC)
    return to_ms(start)


def working_days(start_ms: int, end_ms: int) -> list[int]:
    """UTC midnights of the Monday-to-Friday days overlapping [start_ms, end_ms]."""
    day = start_ms - start_ms % MS_DAY
    days = []
    while day <= end_ms:
        # 1970-01-01 was a Thursday, so (days since epoch + 3) % 7 is 0 on Mondays.
        if (day // MS_DAY + 3) % 7 < 5:
            days.append(day)
        day += MS_DAY
    return days


class Dice(random.Random):
    """`random.Random` with cheaper `randint`/`choice`: the generator calls them ~200k times."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):  # same (untyped) signature as the base class
        return seq[int(self.random() * len(seq))]
