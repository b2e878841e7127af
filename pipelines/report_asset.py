"""After each publication: the manager report and Parquet exports, beside kpi.duckdb."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from .export import export_tables
from .publish import PUBLISHED_KPIS
from .report.render import REPORT_NAME, write_report
from .settings import Settings, load_settings

REPORT_GROUP = "report"
KPI_REPORT = AssetKey(["report", "kpi_report"])
EXPORTS_DIR = "exports"


def report_path(settings: Settings):
    return settings.data_dir.resolve() / REPORT_NAME


def exports_dir(settings: Settings):
    return settings.data_dir.resolve() / EXPORTS_DIR


@asset(
    key=KPI_REPORT,
    deps=[PUBLISHED_KPIS],
    group_name=REPORT_GROUP,
    kinds={"html", "parquet"},
    description=(
        "kpi_report.html, the managers' report (one offline HTML file with charts), and "
        "exports/<table>.parquet for BI tools, both rebuilt from the published kpi.duckdb."
    ),
)
def kpi_report(context: AssetExecutionContext) -> MaterializeResult:
    settings = load_settings()
    report = write_report(settings.published_path, report_path(settings), settings.timezone)
    exported = export_tables(settings.published_path, exports_dir(settings), "parquet")
    context.log.info(f"wrote {report.path} ({report.size_bytes:,} bytes), {len(exported)} exports")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(report.path)),
            "size_bytes": report.size_bytes,
            "teams": report.teams,
            "exports": MetadataValue.path(str(exports_dir(settings))),
            "exported_tables": len(exported),
        }
    )
