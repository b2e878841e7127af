"""`crm-kpi` as a user runs it: a process, its exit code and what it prints."""

import os
import subprocess
import sys

import pytest

from .conftest import TOKEN


def crm_kpi(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def clean_env(tmp_path) -> dict[str, str]:
    return {
        "PYTHONPATH": os.getcwd(),
        "CRM_KPI_DATA_DIR": str(tmp_path / "data"),
        "HUBSPOT_ACCESS_TOKEN": "",
        "CRM_KPI_TIMEZONE": "UTC",
    }


def test_run_with_a_rejected_token_exits_2_with_one_line(fresh_crm, tmp_path):
    env = {
        **clean_env(tmp_path),
        "HUBSPOT_BASE_URL": fresh_crm.url,
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-not-the-right-one",
    }
    done = crm_kpi("run", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "HTTP 401" in done.stderr
    assert "pat-na1-not-the-right-one" not in done.stderr + done.stdout
    assert not (tmp_path / "data" / "kpi.duckdb").exists()


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("HUBSPOT_ACCESS_TOKEN", "", "HUBSPOT_ACCESS_TOKEN is not set"),
        ("CRM_KPI_TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("HUBSPOT_BASE_URL", "api.hubapi.com", "HUBSPOT_BASE_URL must start with"),
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path, setting, value, says):
    env = {**clean_env(tmp_path), "HUBSPOT_ACCESS_TOKEN": TOKEN, setting: value}
    done = crm_kpi("run", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_run_against_an_unreachable_crm_exits_1(tmp_path):
    env = {
        **clean_env(tmp_path),
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
    }
    done = crm_kpi("run", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot read the CRM" in done.stderr and "Traceback" not in done.stderr


def test_run_publishes_and_prints_a_summary(demo_crm, tmp_path):
    env = {**clean_env(tmp_path), "HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_BASE_URL": demo_crm.url}
    done = crm_kpi("run", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"published {tmp_path / 'data' / 'kpi.duckdb'}" in done.stdout
    assert "kpi_rep_weekly:" in done.stdout and "open pipeline now:" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
