"""The one place configuration is read: environment variables, with `.env` honoured.

Secrets come only from the environment; nothing here is ever logged or shown in the Dagster UI.
"""

import os
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from .salesforce.objects import DEFAULT_API_VERSION


class ConfigError(Exception):
    """A setting the user can fix; the CLI prints it as one line and exits 2."""


class Settings(BaseSettings):
    # An empty variable counts as unset, as a shell user expects of `export X=`.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    # Every field has a one-line description: `crm-kpi --help` lists them, and README's settings
    # tables say the same (tests/test_cli.py holds the two to the fields).
    crm: Literal["hubspot", "salesforce"] = Field(
        default="hubspot",
        validation_alias="CRM_KPI_CRM",
        description="the CRM to sync: hubspot or salesforce (one per data directory)",
    )
    hubspot_access_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="private-app token (required to sync; read only from the environment or .env)",
    )
    hubspot_base_url: str = Field(default="https://api.hubapi.com", description="the API's address")
    salesforce_login_url: str | None = Field(
        default=None,
        description="the org's My Domain URL, e.g. https://acme.my.salesforce.com (token endpoint)",
    )
    salesforce_client_id: str | None = Field(
        default=None, description="the External Client App's consumer key"
    )
    salesforce_client_secret: SecretStr | None = Field(
        default=None,
        repr=False,
        description="the External Client App's consumer secret (only from the environment or .env)",
    )
    salesforce_access_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="a ready access token instead of the client credentials (wins when both "
        "are set; it cannot be renewed)",
    )
    salesforce_instance_url: str | None = Field(
        default=None, description="the org's API address, with SALESFORCE_ACCESS_TOKEN"
    )
    salesforce_api_version: str = Field(
        default=DEFAULT_API_VERSION, description="the REST API version, e.g. 65.0"
    )
    # Long transactions commit rows with a SystemModstamp earlier than their commit: each sync
    # re-reads this far before the last one's start, and the merge by id drops the repeats.
    salesforce_lookback_minutes: float = Field(
        default=15,
        ge=0,
        validation_alias="CRM_KPI_SALESFORCE_LOOKBACK_MINUTES",
        description="minutes before the last sync's start that an incremental sync re-reads",
    )
    salesforce_api_reserve: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        validation_alias="CRM_KPI_SALESFORCE_API_RESERVE",
        description="share of the org's daily API requests a sync leaves unused: below it, "
        "the sync stops and publishes nothing",
    )
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias="CRM_KPI_DATA_DIR",
        description="holds warehouse.duckdb (working) and kpi.duckdb (published)",
    )
    warehouse: Literal["duckdb", "postgres", "spark"] = Field(
        default="duckdb",
        validation_alias="CRM_KPI_WAREHOUSE",
        description="where the raw layer and the marts live: duckdb (a file in the data "
        "directory), postgres (CRM_KPI_POSTGRES_URL) or spark (CRM_KPI_SPARK_THRIFT)",
    )
    # A secret: the URL usually holds the password. Without one, libpq reads ~/.pgpass.
    postgres_url: SecretStr | None = Field(
        default=None,
        repr=False,
        validation_alias="CRM_KPI_POSTGRES_URL",
        description="postgresql://user:password@host:port/dbname (percent-encode special "
        "characters; without a password, ~/.pgpass is used)",
    )
    postgres_schema_prefix: str = Field(
        default="crm_kpi_",
        pattern=r"^[a-z_][a-z0-9_]*$|^$",
        validation_alias="CRM_KPI_POSTGRES_SCHEMA_PREFIX",
        description="prefix of the working schemas on Postgres (raw, staging, crm, "
        "intermediate, marts, quality)",
    )
    postgres_published_schema: str = Field(
        default="kpi",
        pattern=r"^[a-z_][a-z0-9_]*$",
        validation_alias="CRM_KPI_POSTGRES_PUBLISHED_SCHEMA",
        description="the schema BI tools read on Postgres: the checked KPI tables",
    )
    postgres_reader_role: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]*$",
        validation_alias="CRM_KPI_POSTGRES_READER_ROLE",
        description="a role granted read access to the published schema at every publication",
    )
    spark_thrift: str = Field(
        default="127.0.0.1:10000",
        pattern=r"^[A-Za-z0-9.\-]+:[0-9]+$",
        validation_alias="CRM_KPI_SPARK_THRIFT",
        description="host:port of the Spark Thrift Server that dbt, the checks and the "
        "publication use (make spark-up starts one)",
    )
    # The sync writes Parquet files, which the cluster reads as tables: a path that the sync's
    # machine and every Spark executor see alike (local, or a shared mount).
    spark_raw_dir: Path | None = Field(
        default=None,
        validation_alias="CRM_KPI_SPARK_RAW_DIR",
        description="where the sync writes the raw layer's Parquet files on Spark; unset, "
        "spark_raw in the data directory",
    )
    spark_database_prefix: str = Field(
        default="crm_kpi_",
        pattern=r"^[a-z_][a-z0-9_]*$|^$",
        validation_alias="CRM_KPI_SPARK_DATABASE_PREFIX",
        description="prefix of the working databases on Spark (raw, staging, crm, "
        "intermediate, marts, quality)",
    )
    spark_published_database: str = Field(
        default="kpi",
        pattern=r"^[a-z_][a-z0-9_]*$",
        validation_alias="CRM_KPI_SPARK_PUBLISHED_DATABASE",
        description="the database BI tools read on Spark: a view per checked KPI table",
    )
    executor: Literal["in_process", "celery"] = Field(
        default="in_process",
        validation_alias="CRM_KPI_EXECUTOR",
        description="where the steps of runs the UI or the daemon launch run: in_process (the "
        "run's process) or celery (workers; postgres or spark only)",
    )
    celery_broker: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias="CRM_KPI_CELERY_BROKER",
        description="the Celery broker (and result backend) with CRM_KPI_EXECUTOR=celery",
    )
    quotas: Path | None = Field(
        default=None,
        validation_alias="CRM_KPI_QUOTAS",
        description="CSV owner_email,quarter,quota_amount (quarter as 2026-Q4)",
    )
    timezone: str = Field(
        default="UTC",
        validation_alias="CRM_KPI_TIMEZONE",
        description="reporting time zone (IANA name); weeks start on Monday there",
    )
    # The instant of today's snapshot and of "last 14 days"; the tests pin it to replay a day.
    as_of: datetime | None = Field(
        default=None,
        validation_alias="CRM_KPI_AS_OF",
        description="compute the KPIs as of this instant (ISO with offset) instead of now",
    )
    # Unset, the budget starts at HubSpot's smallest and follows X-HubSpot-RateLimit-Max (a Pro
    # portal's 190 doubles a first sync's speed); set, it is a ceiling, e.g. for a portal shared
    # with other apps. Search is documented at 5 per second, and 4 is safe.
    rate_limit: int | None = Field(
        default=None,
        gt=0,
        validation_alias="CRM_KPI_RATE_LIMIT",
        description="HubSpot requests per 10 s at most; unset, it starts at 100 and follows "
        "the limit HubSpot reports (190 on Pro/Enterprise)",
    )
    search_rate_limit: int = Field(
        default=4,
        gt=0,
        validation_alias="CRM_KPI_SEARCH_RATE_LIMIT",
        description="search requests per second (HubSpot allows about 5 per account)",
    )
    extra_properties: dict[str, list[str]] = Field(
        default_factory=dict,
        validation_alias="CRM_KPI_EXTRA_PROPERTIES",
        description='custom properties to sync too, as JSON: {"deals": ["region"]}',
    )

    # Quality gate (README, "Quality gate"): an absurd deal is a typo and is quarantined; too
    # many quarantined records, a table losing too many of its published rows or a source gone
    # stale is systemic and blocks publishing.
    max_deal_amount: int = Field(
        default=100_000_000,
        gt=0,
        validation_alias="CRM_KPI_MAX_DEAL_AMOUNT",
        description="a deal above this (company currency) is quarantined as absurd",
    )
    max_quarantine_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        validation_alias="CRM_KPI_MAX_QUARANTINE_SHARE",
        description="share of an object's live records that may be quarantined before the run "
        "blocks",
    )
    max_row_count_drop: float = Field(
        default=0.5,
        ge=0,
        le=1,
        validation_alias="CRM_KPI_MAX_ROW_COUNT_DROP",
        description="share of a KPI table's published rows it may lose in one run "
        "(1 accepts any drop)",
    )
    max_sync_age_hours: float = Field(
        default=3,
        gt=0,
        validation_alias="CRM_KPI_MAX_SYNC_AGE_HOURS",
        description="a raw table not synced for this long blocks publishing; the freshness "
        "checks and raw_freshness_sensor alarm too",
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

    @model_validator(mode="after")
    def _celery_needs_a_shared_warehouse(self) -> "Settings":
        if self.executor == "celery" and self.warehouse == "duckdb":
            raise ValueError(
                "CRM_KPI_EXECUTOR=celery needs CRM_KPI_WAREHOUSE=postgres (or spark): a DuckDB "
                "warehouse takes one writing process, and steps in Celery workers would contend "
                "for it; unset CRM_KPI_EXECUTOR (in_process) for DuckDB"
            )
        return self

    def dbt_environment(self) -> dict[str, str]:
        """What dbt's profiles.yml and models read (env_var), resolved to absolute values."""
        return {
            "CRM_KPI_CRM": self.crm,
            "CRM_KPI_DATA_DIR": str(self.data_dir.resolve()),
            "CRM_KPI_TIMEZONE": self.timezone,
            "CRM_KPI_QUOTAS": str(self.quotas or ""),
            "CRM_KPI_AS_OF": self.as_of.isoformat() if self.as_of else "",
            "CRM_KPI_MAX_DEAL_AMOUNT": str(self.max_deal_amount),
            "CRM_KPI_WAREHOUSE": self.warehouse,
            "CRM_KPI_SCHEMA_PREFIX": self.schema_prefix,
            **(self._dbt_postgres_environment() if self.warehouse == "postgres" else {}),
            **(self._dbt_spark_environment() if self.warehouse == "spark" else {}),
        }

    def _dbt_spark_environment(self) -> dict[str, str]:
        host, port = self.spark_thrift.rsplit(":", 1)
        return {"CRM_KPI_SPARK_HOST": host, "CRM_KPI_SPARK_PORT": port}

    def _dbt_postgres_environment(self) -> dict[str, str]:
        # dbt scrubs DBT_ENV_SECRET_* values from its logs and artifacts.
        url = urlsplit(self.postgres_connection_url())
        return {
            "CRM_KPI_POSTGRES_HOST": url.hostname or "localhost",
            "CRM_KPI_POSTGRES_PORT": str(url.port or 5432),
            "CRM_KPI_POSTGRES_USER": unquote(url.username or ""),
            "CRM_KPI_POSTGRES_DBNAME": unquote(url.path.lstrip("/")) or unquote(url.username or ""),
            "DBT_ENV_SECRET_POSTGRES_PASSWORD": unquote(url.password or ""),
            # dbt's sessions only (libpq reads PGOPTIONS), unless the user set their own. JIT
            # compiled ~800 functions per mart query (19 of the 35 s of kpi_coaching_signals at
            # 10M activities) and sorts spilled at the default 4MB: with both, a build after 1%
            # changed took 29 s instead of 47 at 1M activities (bench/dbt_build.py).
            "PGOPTIONS": os.environ.get("PGOPTIONS") or "-c jit=off -c work_mem=64MB",
        }

    @property
    def schema_prefix(self) -> str:
        """What the working schemas' names start with: nothing in a DuckDB file of its own."""
        return {
            "duckdb": "",
            "postgres": self.postgres_schema_prefix,
            "spark": self.spark_database_prefix,
        }[self.warehouse]

    @property
    def raw_layer(self) -> str:
        """Where the sync writes, as messages name it."""
        raw = f"{self.schema_prefix}raw"
        return {
            "duckdb": str(self.warehouse_path),
            "postgres": f"Postgres schema {raw}",
            "spark": f"Spark database {raw} (files in {self.raw_files_dir})",
        }[self.warehouse]

    @property
    def raw_files_dir(self) -> Path:
        """Where the sync writes the raw layer's Parquet files on Spark."""
        return (self.spark_raw_dir or self.data_dir / "spark_raw").resolve()

    def postgres_connection_url(self) -> str:
        if self.postgres_url is None or not self.postgres_url.get_secret_value():
            raise ConfigError(
                "CRM_KPI_WAREHOUSE is postgres but CRM_KPI_POSTGRES_URL is not set: export "
                "postgresql://user:password@host:port/dbname"
            )
        url = self.postgres_url.get_secret_value()
        if urlsplit(url).scheme not in ("postgresql", "postgres"):
            raise ConfigError(
                "CRM_KPI_POSTGRES_URL must start with postgresql:// (like "
                "postgresql://user:password@host:port/dbname)"
            )
        return url

    @field_validator("hubspot_base_url", "salesforce_login_url", "salesforce_instance_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{setting_variable(info.field_name)} must start with http:// or https://, "
                f"got {value!r}"
            )
        return value.rstrip("/") if value else value

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

    @cached_property
    def last_run_path(self) -> Path:
        """How the last run started from the CLI went, for `crm-kpi status`."""
        return self.data_dir.resolve() / "last_run.json"

    @cached_property
    def report_path(self) -> Path:
        """The managers' HTML report, rewritten after each publication."""
        return self.data_dir.resolve() / "kpi_report.html"

    @cached_property
    def exports_dir(self) -> Path:
        """Every published table as a file: Parquet after each publication, or `crm-kpi export`."""
        return self.data_dir.resolve() / "exports"

    @cached_property
    def demo_quotas_path(self) -> Path:
        """The quotas `crm-kpi demo` writes for its reps when CRM_KPI_QUOTAS is not set."""
        return self.data_dir.resolve() / "demo_quotas.csv"

    @cached_property
    def dbt_runs_dir(self) -> Path:
        """dbt's folder per build (compiled SQL, dbt.log); the newest are kept."""
        return self.data_dir.resolve() / "dbt"

    def access_token(self) -> str:
        if self.hubspot_access_token is None or not self.hubspot_access_token.get_secret_value():
            raise ConfigError(
                "HUBSPOT_ACCESS_TOKEN is not set: create a HubSpot private app and export its token"
            )
        return self.hubspot_access_token.get_secret_value()


def setting_variable(field: str) -> str:
    """The environment variable that sets `field`: its alias, else its name upper-cased."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else field.upper()


def setting_default(field: str) -> str | None:
    """`field`'s default as `--help` and the README show it; None when unset means nothing."""
    value = Settings.model_fields[field].get_default(call_default_factory=True)
    if value is None or value == {}:
        return None
    if isinstance(value, Path) and not value.is_absolute():
        return f"./{value}"  # relative to the working directory, as a shell user writes it
    return str(value)


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
        message = "; ".join(_named(e) for e in errors) or str(exc)
        raise ConfigError(f"bad configuration: {message}") from None


def _named(error: dict) -> str:
    """One validation error, naming the variable unless its message does already."""
    message = error["msg"].removeprefix("Value error, ")
    variable = ".".join(str(part) for part in error.get("loc", ()))
    return message if not variable or variable in message else f"{variable}: {message}"
