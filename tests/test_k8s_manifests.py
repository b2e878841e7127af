"""docs/service/helm-values.yaml, Dagster's Helm chart values for crm-kpi on Kubernetes: no cluster
here, so the values are checked against the chart's keys and crm-kpi's settings, and the run's
`batch/v1 Job` is built from them by dagster-k8s's own K8sRunLauncher, offline."""

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRun
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._serdes import deserialize_value
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from kubernetes.client import ApiClient

from pipelines.settings import Settings, load_settings, setting_variable

ROOT = Path(__file__).parent.parent
VALUES = ROOT / "docs" / "service" / "helm-values.yaml"
RELEASE = "crm-kpi"  # `helm upgrade --install crm-kpi dagster/dagster`: the chart's fullname
FULLNAME = f"{RELEASE}-dagster"
PYTHON = "/usr/local/bin/python"  # the image's (docs/operations.md: FROM python:3.11-slim)

# The chart's keys these values may set (helm/dagster/schema/schema/charts/, dagster 1.13): a
# misspelt key would be ignored by Helm without a word.
CHART_KEYS = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql",
    "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret", "rabbitmq", "redis",
    "flower", "ingress", "imagePullSecrets", "computeLogManager", "scheduler", "runLauncher",
    "pythonLogs", "dagsterDaemon", "busybox", "migrate", "telemetry", "serviceAccount", "global",
    "retention", "concurrency", "additionalInstanceConfig",
}  # fmt: skip
GLOBAL_KEYS = {
    "postgresqlSecretName", "dagsterHome", "serviceAccountName", "celeryConfigSecretName",
    "dagsterInstanceConfigMap",
}  # fmt: skip
POSTGRESQL_KEYS = {
    "postgresqlScheme", "image", "enabled", "postgresqlHost", "postgresqlUsername",
    "postgresqlPassword", "postgresqlDatabase", "postgresqlParams", "service",
}  # fmt: skip
USER_DEPLOYMENT_KEYS = {
    "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns",
    "deploymentNamespace", "port", "replicaCount", "env", "envConfigMaps", "envSecrets",
    "annotations", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
    "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "labels",
    "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers",
    "deploymentStrategy",
}  # fmt: skip
K8S_RUN_LAUNCHER_KEYS = {
    "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile",
    "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes", "labels",
    "failPodOnRunFailure", "resources", "schedulerName", "securityContext", "runK8sConfig",
}  # fmt: skip
RUN_K8S_CONFIG_KEYS = {
    "containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata",
}  # fmt: skip

# What the pods may be given: crm-kpi's settings, and Dagster's own.
SETTINGS_VARIABLES = {setting_variable(name) for name in Settings.model_fields}
SECRET_VARIABLES = {
    setting_variable(name)
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation)
} | {"DAGSTER_PG_PASSWORD"}
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@pytest.fixture
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def deployment(values: dict) -> dict:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


def launcher_values(values: dict) -> dict:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    return values["runLauncher"]["config"]["k8sRunLauncher"]


def all_env(values: dict) -> list[dict]:
    """Every env entry the values give a pod: the code server's (and its runs') and the runs'."""
    run_config = launcher_values(values).get("runK8sConfig", {}).get("containerConfig", {})
    return [*deployment(values).get("env", []), *run_config.get("env", [])]


def literal_secrets(env: list[dict], env_vars: list[str] = ()) -> list[str]:
    """The secrets given literally rather than from a Kubernetes Secret."""
    found = [
        e["name"]
        for e in env
        if e["name"] in SECRET_VARIABLES
        and ("value" in e or "secretKeyRef" not in e.get("valueFrom", {}))
    ]
    found += [v.split("=")[0] for v in env_vars if "=" in v and v.split("=")[0] in SECRET_VARIABLES]
    found += [str(e.get("value")) for e in env if CREDENTIALS_IN_URL.search(str(e.get("value")))]
    return found


def test_the_values_set_only_keys_the_chart_has(values):
    assert set(values) <= CHART_KEYS
    assert set(values["global"]) <= GLOBAL_KEYS
    assert set(values["postgresql"]) <= POSTGRESQL_KEYS
    assert set(deployment(values)) <= USER_DEPLOYMENT_KEYS
    assert set(launcher_values(values)) <= K8S_RUN_LAUNCHER_KEYS
    assert set(launcher_values(values).get("runK8sConfig", {})) <= RUN_K8S_CONFIG_KEYS
    # What the chart needs of a user deployment, and of an external storage server.
    code = deployment(values)
    assert values["dagster-user-deployments"]["enabled"] is True
    assert code["image"]["repository"] and code["image"]["tag"] and code["port"]
    assert code["image"]["tag"] != "latest"  # runs must use the code server's image
    storage = values["postgresql"]
    assert storage["enabled"] is False
    assert storage["postgresqlHost"] and storage["postgresqlDatabase"]
    assert storage["postgresqlScheme"] == "postgresql+psycopg2"  # psycopg 3 is not installed
    queue = values["dagsterDaemon"]["runCoordinator"]
    assert queue["type"] == "QueuedRunCoordinator"
    assert queue["config"]["queuedRunCoordinator"]["maxConcurrentRuns"] == 1


def test_the_code_server_serves_the_workspace_s_code_location(values):
    args = deployment(values)["dagsterApiGrpcArgs"]
    (module,) = [args[i + 1] for i, arg in enumerate(args) if arg in ("-m", "--module-name")]
    (location,) = yaml.safe_load((ROOT / "workspace.yaml").read_text())["load_from"]
    assert module == location["python_module"]["module_name"]
    assert importlib.util.find_spec(module) is not None


def test_every_variable_is_a_setting_and_the_settings_load(values, monkeypatch, tmp_path):
    env = all_env(values)
    assert {e["name"] for e in env} <= SETTINGS_VARIABLES, "a variable crm-kpi does not read"
    # The literal ones are valid settings (a warehouse name, a time zone), and make Postgres
    # the warehouse, since run pods share no disk for a DuckDB file's lock.
    monkeypatch.chdir(tmp_path)  # no .env
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for e in env:
        monkeypatch.setenv(e["name"], e.get("value", "postgresql://from-a-secret"))
    settings = load_settings()
    assert (settings.warehouse, settings.executor) == ("postgres", "in_process")


def test_secrets_come_only_from_kubernetes_secrets(values):
    env = all_env(values)
    assert not literal_secrets(env, launcher_values(values).get("envVars", []))
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert {"HUBSPOT_ACCESS_TOKEN", "CRM_KPI_POSTGRES_URL"} <= set(refs)
    assert all(ref["name"] and ref["key"] for ref in refs.values())
    # Dagster's storage password: a Secret of ours, never a chart-made one from values.
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert not values["postgresql"].get("postgresqlPassword")
    assert not CREDENTIALS_IN_URL.search(VALUES.read_text())


@pytest.mark.parametrize(
    "planted",
    [
        {"name": "HUBSPOT_ACCESS_TOKEN", "value": "pat-na1-0000"},
        {"name": "CRM_KPI_POSTGRES_URL", "value": "postgresql://kpi:hunter2@db/kpi"},
        {"name": "CRM_KPI_QUOTAS_URL", "value": "https://u:p@files.internal/q.csv"},
    ],
)
def test_a_literal_secret_is_caught(values, planted):
    """What the two tests above and below would say of values with a secret in them."""
    deployment(values)["env"].append(planted)
    assert literal_secrets(all_env(values))
    assert literal_secrets(manifest_env(run_job_manifest(values)))


def run_job_manifest(values: dict) -> dict:
    """The Job the K8sRunLauncher of these values creates for a run of `crm_kpi_run`: its own
    launch_run, with the instance configuration the chart renders from them and the container
    context the user deployment gives its runs (includeConfigInLaunchedRuns), offline."""
    import tempfile

    launcher = launcher_values(values)
    scratch = Path(tempfile.mkdtemp())
    kubeconfig = scratch / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(  # an unreachable cluster: the launcher only loads the file
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    run_k8s_config = {
        re.sub(r"([A-Z])", r"_\1", key).lower(): value
        for key, value in launcher.get("runK8sConfig", {}).items()
    }
    run_launcher = K8sRunLauncher(
        # configmap-instance.yaml's run_launcher block
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        job_namespace=launcher.get("jobNamespace") or "dagster",
        image_pull_policy=launcher.get("imagePullPolicy"),
        service_account_name=FULLNAME,
        dagster_home=values.get("global", {}).get("dagsterHome", "/opt/dagster/dagster_home"),
        instance_config_map=f"{FULLNAME}-instance",
        postgres_password_secret=values["global"]["postgresqlSecretName"],
        env_config_maps=[f"{FULLNAME}-pipeline-env"]
        + [c["name"] for c in launcher.get("envConfigMaps", [])],
        env_secrets=[s["name"] for s in launcher.get("envSecrets", [])],
        env_vars=launcher.get("envVars", []),
        volume_mounts=launcher.get("volumeMounts", []),
        volumes=launcher.get("volumes", []),
        run_k8s_config=run_k8s_config,
    )
    code = deployment(values)
    image = f"{code['image']['repository']}:{code['image']['tag']}"
    # deployment-user.yaml's DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT, validated by dagster-k8s.
    container_context = {
        "k8s": {
            "image_pull_policy": code["image"].get("pullPolicy"),
            "env_config_maps": [c["name"] for c in code.get("envConfigMaps", [])],
            "env_secrets": [s["name"] for s in code.get("envSecrets", [])],
            "env": code.get("env", []),
            "volume_mounts": code.get("volumeMounts", []),
            "volumes": code.get("volumes", []),
            "resources": code.get("resources", {}),
        }
    }
    assert code["includeConfigInLaunchedRuns"]["enabled"]
    K8sContainerContext.create_from_config(container_context)
    args = code["dagsterApiGrpcArgs"]
    module = args[args.index("-m") + 1]
    origin = JobPythonOrigin(
        "crm_kpi_run",
        RepositoryPythonOrigin(
            executable_path=PYTHON,
            code_pointer=ModuleCodePointer(module, "defs", working_directory="/app"),
            container_image=image,
            container_context=container_context,
        ),
    )
    created = []
    with DagsterInstance.local_temp(str(scratch)) as instance:
        run_launcher.register_instance(instance)
        run = instance.add_run(
            DagsterRun(
                job_name="crm_kpi_run",
                run_id="0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
                job_code_origin=origin,
            )
        )
        run_launcher._api_client.create_namespaced_job_with_retries = (  # no cluster to ask
            lambda body, namespace: created.append(body)
        )
        run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    (job,) = created
    return ApiClient().sanitize_for_serialization(job)


def manifest_env(manifest: dict) -> list[dict]:
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    return container["env"]


def test_the_run_job_manifest(values):
    manifest = run_job_manifest(values)
    code = deployment(values)
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    spec = manifest["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == f"{code['image']['repository']}:{code['image']['tag']}"
    # The image's Python runs the run: `python -m dagster api execute_run <run, its code>`.
    assert container["args"][:5] == [PYTHON, "-m", "dagster", "api", "execute_run"]
    run_args = deserialize_value(container["args"][5])
    origin = run_args.job_origin
    assert origin.repository_origin.code_pointer.module == "pipelines.definitions"
    assert origin.job_name == "crm_kpi_run"

    env = {e["name"]: e for e in manifest_env(manifest)}
    for name in ("HUBSPOT_ACCESS_TOKEN", "CRM_KPI_POSTGRES_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "crm-kpi-secrets", "key": name}
    assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": values["global"]["postgresqlSecretName"],
        "key": "postgresql-password",
    }
    assert env["CRM_KPI_WAREHOUSE"]["value"] == "postgres"  # the user deployment's, inherited
    assert env["CRM_KPI_DATA_DIR"]["value"] == "/data"
    run_container = launcher_values(values)["runK8sConfig"]["containerConfig"]
    assert container["resources"] == run_container["resources"]  # not the code server's
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/data"
    assert {v["name"]: v for v in spec["volumes"]}[mount["name"]]["persistentVolumeClaim"]
    assert not literal_secrets(manifest_env(manifest))
    assert not CREDENTIALS_IN_URL.search(json.dumps(manifest))


def test_the_manifest_check_sees_a_secret_given_through_run_config(values):
    leaky = copy.deepcopy(values)
    leaky["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]["env"][
        0
    ] = {"name": "HUBSPOT_ACCESS_TOKEN", "value": "pat-na1-0000"}
    assert literal_secrets(manifest_env(run_job_manifest(leaky))) == ["HUBSPOT_ACCESS_TOKEN"]
