"""The one place configuration is read: environment variables, with `.env` honoured.

Secrets come only from the environment; nothing here is ever logged or shown in the Dagster UI.
"""

from datetime import datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError


class ConfigError(Exception):
    """A setting the user can fix; the CLI prints it as one line and exits 2."""


class Settings(BaseSettings):
    # An empty variable counts as unset, as a shell user expects of `export X=`.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    hubspot_access_token: SecretStr | None = Field(default=None, repr=False)
    hubspot_base_url: str = "https://api.hubapi.com"
    data_dir: Path = Field(default=Path("data"), validation_alias="CRM_KPI_DATA_DIR")
    quotas: Path | None = Field(default=None, validation_alias="CRM_KPI_QUOTAS")
    timezone: str = Field(default="UTC", validation_alias="CRM_KPI_TIMEZONE")
    # The instant the KPIs are computed as of (today's snapshot, "last 14 days"); default: now.
    # Set it to replay a past day, as the tests do.
    as_of: datetime | None = Field(default=None, validation_alias="CRM_KPI_AS_OF")
    # The account's request budget per 10 s (HubSpot: 100 Free/Starter, 190 Pro/Enterprise,
    # 250 with the limit-increase pack) and search's per second (documented 5; 4 is safe).
    rate_limit: int = Field(default=100, gt=0, validation_alias="CRM_KPI_RATE_LIMIT")
    search_rate_limit: int = Field(default=4, gt=0, validation_alias="CRM_KPI_SEARCH_RATE_LIMIT")
    # Custom properties to sync as well, per object: {"deals": ["region"], "contacts": [...]}.
    extra_properties: dict[str, list[str]] = Field(
        default_factory=dict, validation_alias="CRM_KPI_EXTRA_PROPERTIES"
    )

    # Quality gate (README, "Quality gate"). A deal above max_deal_amount (company currency) is a
    # typo and is quarantined; more quarantined records than max_quarantine_share of an object's
    # live records, or a table losing more than max_row_count_drop of the rows it had in the last
    # publication, is systemic and blocks publishing.
    max_deal_amount: int = Field(
        default=100_000_000, gt=0, validation_alias="CRM_KPI_MAX_DEAL_AMOUNT"
    )
    max_quarantine_share: float = Field(
        default=0.01, ge=0, le=1, validation_alias="CRM_KPI_MAX_QUARANTINE_SHARE"
    )
    max_row_count_drop: float = Field(
        default=0.5, ge=0, le=1, validation_alias="CRM_KPI_MAX_ROW_COUNT_DROP"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from exc
        return value

    @field_validator("quotas")
    @classmethod
    def _quotas_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"CRM_KPI_QUOTAS points to {value}, which is not a file")
        return value.resolve() if value else None

    @field_validator("as_of")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("CRM_KPI_AS_OF needs a UTC offset, e.g. 2026-11-26T12:00:00Z")
        return value

    def dbt_environment(self) -> dict[str, str]:
        """What dbt's profiles.yml and models read (env_var), resolved to absolute values."""
        return {
            "CRM_KPI_DATA_DIR": str(self.data_dir.resolve()),
            "CRM_KPI_TIMEZONE": self.timezone,
            "CRM_KPI_QUOTAS": str(self.quotas or ""),
            "CRM_KPI_AS_OF": self.as_of.isoformat() if self.as_of else "",
            "CRM_KPI_MAX_DEAL_AMOUNT": str(self.max_deal_amount),
        }

    @field_validator("hubspot_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"HUBSPOT_BASE_URL must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @cached_property
    def warehouse_path(self) -> Path:
        return self.data_dir.resolve() / "warehouse.duckdb"

    @cached_property
    def published_path(self) -> Path:
        return self.data_dir.resolve() / "kpi.duckdb"

    @cached_property
    def data_docs_dir(self) -> Path:
        """Great Expectations Data Docs (HTML), one folder per run."""
        return self.data_dir.resolve() / "data_docs"

    @cached_property
    def run_log_path(self) -> Path:
        """dbt's log of the last run started from the CLI."""
        return self.data_dir.resolve() / "logs" / "last_run.log"

    def access_token(self) -> str:
        if self.hubspot_access_token is None or not self.hubspot_access_token.get_secret_value():
            raise ConfigError(
                "HUBSPOT_ACCESS_TOKEN is not set: create a HubSpot private app and export its token"
            )
        return self.hubspot_access_token.get_secret_value()


def load_settings() -> Settings:
    """Read settings now (not at import), turning validation errors into one clear line."""
    try:
        return Settings()
    except SettingsError as exc:
        # The only structured setting: its JSON did not parse.
        raise ConfigError(
            f"bad configuration: {exc} (CRM_KPI_EXTRA_PROPERTIES takes JSON, "
            'e.g. {"deals": ["region"]})'
        ) from None
    except ValueError as exc:
        errors = getattr(exc, "errors", lambda: [])()
        message = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors) or str(exc)
        raise ConfigError(f"bad configuration: {message}") from None
