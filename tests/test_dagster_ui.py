"""The Dagster UI as a data engineer sees it: a real dagster-webserver, read through its GraphQL
API and loaded in a real headless Chromium."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from .browser import PageLog, launch

LAYERS = {"raw", "staging", "crm", "intermediate", "marts", "quality", "publish", "report"}

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CRM_KPI_DATA_DIR": str(home / "data"),
        "HUBSPOT_ACCESS_TOKEN": "unused-by-the-ui",
    }
    log = (home / "webserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-m", "pipelines.definitions"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so teardown ends its children too
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert server.poll() is None, (home / "webserver.log").read_text()
            try:
                if workspace(url):
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "dagster-webserver did not load the code location"
            time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def graphql(url: str, query: str) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def workspace(url: str) -> dict | None:
    data = graphql(
        url,
        """{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError {
             __typename
             ... on PythonError { message }
             ... on RepositoryLocation { repositories {
                 jobs { name } schedules { name } sensors { name } assetGroups { groupName } } }
        } } } } }""",
    )
    entries = data["workspaceOrError"]["locationEntries"]
    location = entries[0]["locationOrLoadError"] if entries else None
    if location is None:
        return None  # still loading
    assert location["__typename"] == "RepositoryLocation", location
    return location["repositories"][0]


def test_assets_are_grouped_by_layer_with_descriptions_owners_and_kinds(webserver):
    repository = workspace(webserver)
    assert {g["groupName"] for g in repository["assetGroups"]} == LAYERS
    nodes = graphql(
        webserver,
        """{ assetNodes { assetKey { path } groupName description kinds
             owners { ... on TeamAssetOwner { team } ... on UserAssetOwner { email } }
             assetChecksOrError { ... on AssetChecks { checks { name } } } } }""",
    )["assetNodes"]
    by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    for key, node in by_key.items():
        assert node["groupName"] in LAYERS, key
        assert node["description"], key
        assert node["owners"], key
        assert node["kinds"], key
    assert by_key["report/kpi_report"]["groupName"] == "report"
    assert by_key["published/kpi_file"]["groupName"] == "publish"

    def checks(key: str) -> set[str]:
        return {c["name"] for c in by_key[key]["assetChecksOrError"]["checks"]}

    assert "kpi_rep_weekly" in checks("marts/kpi_rep_weekly")  # the GX suite
    assert any("fresh" in name for name in checks("raw/deals"))  # the freshness check


def test_schedules_freshness_sensor_and_the_full_refresh_job_are_visible(webserver):
    repository = workspace(webserver)
    assert {"hourly_kpi_run", "nightly_full_run"} <= {s["name"] for s in repository["schedules"]}
    assert "raw_freshness_sensor" in {s["name"] for s in repository["sensors"]}
    assert {"crm_kpi_run", "crm_kpi_full_refresh", "crm_kpi_sync"} <= {
        j["name"] for j in repository["jobs"]
    }


def test_the_asset_graph_page_renders_and_lists_the_groups(webserver, tmp_path):
    log = PageLog()
    with launch() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        log.watch(page)
        page.goto(f"{webserver}/asset-groups", wait_until="domcontentloaded")
        # A JavaScript app: wait until it has drawn the group tree, not just loaded.
        for group in sorted(LAYERS):
            page.get_by_text(group, exact=True).first.wait_for(timeout=90_000)
        page.screenshot(path=tmp_path / "asset-graph.png")
    # Offline, the UI's links to outside hosts fail to load; nothing else may go wrong.
    problems = [m for m in log.console_errors if "Failed to load resource" not in m]
    assert problems == [] and log.page_errors == []
