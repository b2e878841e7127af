"""`crm-kpi` as a user runs it: a process, its exit code and what it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.settings import Settings, setting_default, setting_variable

from .conftest import TOKEN

README = Path(__file__).parent.parent / "README.md"


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
        ("CRM_KPI_MAX_SYNC_AGE_HOURS", "0", "CRM_KPI_MAX_SYNC_AGE_HOURS: Input should be greater"),
        ("CRM_KPI_RATE_LIMIT", "lots", "CRM_KPI_RATE_LIMIT: Input should be a valid integer"),
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


def test_an_unwritable_data_directory_exits_2_with_one_line(tmp_path):
    # Root may write anywhere, so "unwritable" here is a path through a regular file.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = {
        **clean_env(tmp_path),
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "CRM_KPI_DATA_DIR": str(blocker / "data"),
    }
    for command in ("run", "demo"):
        done = crm_kpi(command, env=env, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "cannot write to the data directory" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("email,quarter,amount\na@example.com,2026-Q4,1000\n", "missing column(s) owner_email"),
        ("owner_email,quarter,quota_amount\na@example.com,2026-Q5,1000\n", "line 2: quarter"),
        ("owner_email,quarter,quota_amount\na@example.com,2026-Q4,lots\n", "quota_amount 'lots'"),
        ("owner_email,quarter,quota_amount\nnobody,2026-Q4,10\n", "is not an email address"),
        (
            "owner_email,quarter,quota_amount\na@example.com,2026-Q4,1\nA@example.com,2026-q4,2\n",
            "line 3: a second quota for a@example.com in 2026-Q4",
        ),
    ],
)
def test_a_malformed_quotas_file_exits_2_naming_the_line(tmp_path, content, says):
    quotas = tmp_path / "quotas.csv"
    quotas.write_text(content)
    env = {**clean_env(tmp_path), "HUBSPOT_ACCESS_TOKEN": TOKEN, "CRM_KPI_QUOTAS": str(quotas)}
    done = crm_kpi("run", env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_missing_quotas_file_exits_2(tmp_path):
    env = {
        **clean_env(tmp_path),
        "HUBSPOT_ACCESS_TOKEN": TOKEN,
        "CRM_KPI_QUOTAS": str(tmp_path / "nowhere.csv"),
    }
    done = crm_kpi("run", env=env, cwd=tmp_path)
    assert done.returncode == 2 and "not a file" in done.stderr


def test_help_says_what_each_command_does_and_which_variables_it_reads(tmp_path):
    env = clean_env(tmp_path)
    done = crm_kpi("--help", env=env, cwd=tmp_path)
    assert done.returncode == 0
    for command in ("run", "sync", "demo", "demo-crm", "report", "export", "status"):
        assert re.search(rf"^    {command} +\w", done.stdout, re.MULTILINE), command
    assert "Exit codes" in done.stdout and "CRM_KPI_TIMEZONE" in done.stdout
    reads = {
        "run": ["HUBSPOT_ACCESS_TOKEN", "CRM_KPI_DATA_DIR", "CRM_KPI_QUOTAS", "CRM_KPI_TIMEZONE"],
        "sync": [
            "HUBSPOT_ACCESS_TOKEN",
            "HUBSPOT_BASE_URL",
            "CRM_KPI_RATE_LIMIT",
            "CRM_KPI_MAX_SYNC_AGE_HOURS",
        ],
        "report": ["CRM_KPI_DATA_DIR", "CRM_KPI_TIMEZONE"],
        "export": ["CRM_KPI_DATA_DIR"],
        "status": ["CRM_KPI_DATA_DIR"],
    }
    for command, variables in reads.items():
        done = crm_kpi(command, "--help", env=env, cwd=tmp_path)
        assert done.returncode == 0
        assert "environment" in done.stdout, command
        for variable in variables:
            assert variable in done.stdout, (command, variable)


def readme_settings() -> dict[str, tuple[str, str]]:
    """README's settings tables: variable -> (default, meaning), without markdown's backticks."""
    rows = re.findall(r"^\| `([A-Z_]+)` \| (.+?) \| (.+) \|$", README.read_text(), re.MULTILINE)
    return {name: (default.strip("`"), meaning.replace("`", "")) for name, default, meaning in rows}


def test_every_setting_is_in_the_help_and_the_readme(tmp_path):
    done = crm_kpi("--help", env=clean_env(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    settings = {}
    for field, info in Settings.model_fields.items():
        variable = setting_variable(field)
        assert re.search(rf"^  {variable} ", done.stdout, re.MULTILINE), variable
        settings[variable] = (setting_default(field) or "—", info.description)
    assert readme_settings() == settings
