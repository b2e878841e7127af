"""Every dbt model is a Dagster asset; dbt's own tests become asset checks.

The project enables one CRM's staging and mapping models (CRM_KPI_CRM), so each CRM has a
manifest of its own, parsed when its definitions load and the models changed since.
"""

import fcntl
import os
import shutil
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.compat import DBT_PYTHON_VERSION

from .checks import prepare_validation
from .run_folders import keep_newest_folders
from .settings import load_settings
from .warehouse import RAW

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

# The dbt installed beside this interpreter, so a venv works without being activated.
_venv_dbt = Path(sys.executable).with_name("dbt")
# Every build gets a folder of its own under the data directory (compiled SQL, dbt.log: ~1.5 MB
# a build). The newest are kept to debug a run; all of them would fill the disk.
KEPT_DBT_RUN_FOLDERS = 10


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI, less two things it does before every dbt command, for features
    this project does not use (3.5 s of an 18 s run of the tests' CRM, measured by cProfile):

    - it runs `dbt --version` (2.3 s), which also asks PyPI for dbt's latest release, to tell
      dbt Core from the Fusion engine: the dbt it runs is the dbt-core this interpreter imports;
    - it opens a dbt adapter in this process (1.1 s), used only by `fetch_column_metadata` and
      `fetch_row_counts`, which no asset calls.
    """

    @property
    def _cli_version(self):
        return DBT_PYTHON_VERSION

    def _initialize_dbt_core_adapter(self, args):
        return None


dbt_cli = DbtCli(
    project_dir=str(DBT_PROJECT_DIR),
    dbt_executable=str(_venv_dbt) if _venv_dbt.exists() else shutil.which("dbt") or "dbt",
)


def dbt_project_for(crm: str) -> DbtProject:
    return DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=Path("target") / crm
    )


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [
        DBT_PROJECT_DIR / "dbt_project.yml",
        *(
            p
            for folder in ("models", "macros", "seeds")
            for p in DBT_PROJECT_DIR.glob(f"{folder}/**/*")
        ),
    ]
    return any(p.stat().st_mtime > built for p in sources if p.is_file())


def parse_manifest(crm: str) -> DbtProject:
    """`crm`'s dbt project, its manifest parsed again if the models changed since.

    One process parses at a time (test workers, a UI and a CLI run may start together), and
    parses whole: both CRMs' contract models share names, and partial parsing once swapped the
    enabled model for the disabled one of the same name.
    """
    project = dbt_project_for(crm)
    target = project.manifest_path.parent
    target.mkdir(parents=True, exist_ok=True)
    with (target / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _manifest_is_stale(project):
            # dbt reads CRM_KPI_CRM when it parses (dbt_project.yml enables that CRM's models).
            previous = os.environ.get("CRM_KPI_CRM")
            os.environ["CRM_KPI_CRM"] = crm
            try:
                dbt_cli.cli(["parse", "--quiet", "--no-partial-parse"], target_path=target).wait()
            finally:
                if previous is None:
                    del os.environ["CRM_KPI_CRM"]
                else:
                    os.environ["CRM_KPI_CRM"] = previous
    return project


class CrmKpiTranslator(DagsterDbtTranslator):
    """Keys by layer, so sources line up with the sync's raw/<table> assets (every source is a
    raw table, whatever the warehouse's schema prefix)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([RAW, dbt_resource_props["name"]])
        return AssetKey([_layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return _layer(dbt_resource_props)


def _layer(props: Mapping[str, Any]) -> str:
    # fqn is [project, folder, ...]: staging, intermediate or marts.
    return props["fqn"][1] if len(props["fqn"]) > 2 else "models"


@cache
def kpi_models_for(crm: str):
    """Every dbt model of the project as `crm` enables it."""

    @dbt_assets(
        manifest=parse_manifest(crm).manifest_path, dagster_dbt_translator=CrmKpiTranslator()
    )
    def kpi_models(context: AssetExecutionContext, dbt: DbtCliResource):
        settings = load_settings()
        # dbt runs as a subprocess and reads its settings from the environment (env_var).
        os.environ.update(settings.dbt_environment())
        prepare_validation()  # for runs without the sync; dbt's subprocess leaves a core free
        # Unit tests prove the formulas on fixed rows: they run in CI (make test), not on every
        # publication, where they would add ~9 s and check no data. --no-write-json:
        # dagster-dbt reads dbt's event stream and nothing reads the JSON artifacts, whose
        # writing (manifest.json twice, run_results.json) took ~0.6 s of each build on the
        # 10M-activity benchmark.
        # Each build parses the whole project (3.3 s of a build of the tests' CRM): given the
        # last build's parse, dbt's partial parsing lost a CRM's model that shares its name with
        # the other CRM's as soon as a variable a model reads had changed (CRM_KPI_AS_OF, from a
        # run to the next): "qa_kpi_data_issues depends on crm_activities which is not in the
        # graph".
        build = dbt.cli(
            ["build", "--exclude-resource-type", "unit_test", "--no-write-json"],
            context=context,
            target_path=settings.dbt_runs_dir / context.run.run_id,
        )
        try:
            yield from build.stream()
        finally:
            keep_newest_folders(settings.dbt_runs_dir, KEPT_DBT_RUN_FOLDERS)

    return kpi_models
