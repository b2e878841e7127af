"""The demo sales org: owners in teams (one who left, one new hire) and the deal pipelines."""

from dataclasses import dataclass

from ..catalog import (
    DEFAULT_PIPELINE_STAGES,
    LEAVER,
    NEW_HIRE,
    OWNER_EMAIL_DOMAIN,
    RENEWALS_PIPELINE_ID,
    RENEWALS_PIPELINE_STAGES,
    TEAMS,
)
from ..clock import MS_DAY, MS_HOUR, iso, quarter_start_ms

WORKDAY_HOURS = 9


@dataclass(frozen=True)
class Rep:
    """Generator-side view of an owner: when they sell and in which UTC hours."""

    owner_id: str
    team_id: str
    start_hour: int
    active_from: int
    active_until: int | None  # ms when the rep left; None while employed

    def hours(self, day_ms: int, now_ms: int | None = None) -> tuple[int, int] | None:
        """The part of this UTC day the rep works (capped at now), or None."""
        lo = max(day_ms + self.start_hour * MS_HOUR, self.active_from)
        hi = day_ms + (self.start_hour + WORKDAY_HOURS) * MS_HOUR
        if self.active_until is not None:
            hi = min(hi, self.active_until)
        if now_ms is not None:
            hi = min(hi, now_ms)
        return (lo, hi) if hi > lo else None


def build_org(window_start: int, now_ms: int) -> tuple[list[dict], list[Rep]]:
    """Owners as the API returns them, plus the generator's reps (same order, same ids)."""
    owners: list[dict] = []
    reps: list[Rep] = []
    hired_long_ago = window_start - 400 * MS_DAY
    leave_at = window_start + 70 * MS_DAY
    new_hire_at = quarter_start_ms(now_ms, 1) + 7 * MS_DAY

    def add(team_id: str, name: tuple[str, str], joined: int, left: int | None) -> None:
        number = len(owners) + 1
        owner_id, user_id = str(40_000_000 + number), 7_100_000 + number * 7
        team_name, start_hour = _TEAM_INFO[team_id]
        owners.append(
            {
                "id": owner_id,
                "email": f"{name[0]}.{name[1]}@{OWNER_EMAIL_DOMAIN}".lower(),
                "firstName": name[0],
                "lastName": name[1],
                "userId": None if left is not None else user_id,
                "userIdIncludingInactive": user_id,
                "type": "PERSON",
                "createdAt": iso(joined),
                "updatedAt": iso(left + MS_DAY if left is not None else joined),
                "archived": left is not None,
                # The leaver keeps the team, so team KPIs still include their history.
                "teams": [{"id": team_id, "name": team_name, "primary": True}],
            }
        )
        reps.append(Rep(owner_id, team_id, start_hour, joined, left))

    for team_id, _name, _hour, members in TEAMS:
        for member in members:
            add(team_id, member, hired_long_ago + len(owners) * 3 * MS_DAY, None)
    add(LEAVER[0], LEAVER[1], hired_long_ago - 200 * MS_DAY, leave_at)
    # Guard for `now` early in a quarter: the new hire must exist before now.
    add(NEW_HIRE[0], NEW_HIRE[1], min(new_hire_at, now_ms - MS_DAY), None)
    return owners, reps


_TEAM_INFO = {team_id: (name, hour) for team_id, name, hour, _members in TEAMS}


def build_pipelines(window_start: int) -> list[dict]:
    """Deal pipelines as `GET /crm/v3/pipelines/deals` returns them."""

    def stages(defs: tuple[tuple[str, str, str], ...], created: str) -> list[dict]:
        return [
            {
                "id": stage_id,
                "label": label,
                "displayOrder": order,
                "archived": False,
                "createdAt": created,
                "updatedAt": created,
                "metadata": {
                    "isClosed": "true" if probability in ("1.0", "0.0") else "false",
                    "probability": probability,
                },
            }
            for order, (stage_id, label, probability) in enumerate(defs)
        ]

    # HubSpot dates the default pipeline at epoch 0.
    epoch = iso(0)
    renewals_created = iso(window_start - 500 * MS_DAY)
    return [
        {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "archived": False,
            "createdAt": epoch,
            "updatedAt": epoch,
            "stages": stages(DEFAULT_PIPELINE_STAGES, epoch),
        },
        {
            "id": RENEWALS_PIPELINE_ID,
            "label": "Renewals",
            "displayOrder": 1,
            "archived": False,
            "createdAt": renewals_created,
            "updatedAt": renewals_created,
            "stages": stages(RENEWALS_PIPELINE_STAGES, renewals_created),
        },
    ]
