"""What `crm-kpi` tells the shell, as README.md promises under "Against your HubSpot portal"."""

from enum import IntEnum


class ExitCode(IntEnum):
    PUBLISHED = 0
    RUN_FAILED = 1  # nothing published
    BAD_CONFIGURATION = 2  # bad settings or credentials
    CHECK_FAILED = 3  # a blocking quality check failed; the previous KPIs stay
