"""After each publication: the manager report and Parquet exports, beside kpi.duckdb."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from .export import export_tables
from .publish import PUBLISHED_KPIS
from .report.render import write_report
from .settings import load_settings

REPORT_GROUP = "report"
KPI_REPORT = AssetKey(["report", "kpi_report"])


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
    report = write_report(settings.published_path, settings.report_path, settings.timezone)
    exported = export_tables(settings.published_path, settings.exports_dir, "parquet")
    context.log.info(f"wrote {report.path} ({report.size_bytes:,} bytes), {len(exported)} exports")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(report.path)),
            "size_bytes": report.size_bytes,
            "teams": report.teams,
            "exports": MetadataValue.path(str(settings.exports_dir)),
            "exported_tables": len(exported),
        }
    )
