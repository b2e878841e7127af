"""The demo CRM is a package of its own: the product does not load it, and it is layered.

Only `crm-kpi demo` and `crm-kpi demo-crm` import it, when they run. Inside it no module imports
one that imports it back, and the generated org and its store know nothing of the HubSpot API,
so that another CRM's API can serve the same org.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "demo_crm"
# Run after a snippet: the demo CRM modules it left in sys.modules.
LOADED = "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'demo_crm'))"
# `crm-kpi` with these arguments, in the same process; --help exits.
HELP = "from pipelines.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
OPTIONS = ("--host", "--port", "--token", "--seed", "--now", "--deals", "--activity-scale")
OPTIONS += ("--rate-limit", "--search-rate-limit", "--search-lag", "--short-pages")


def environment(tmp_path: Path) -> dict[str, str]:
    """The checkout on the path, a data directory of the test's own and no token."""
    data_dir = str(tmp_path / "data")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CRM_KPI_DATA_DIR": data_dir,
        "HUBSPOT_ACCESS_TOKEN": "",
    }


def run_python(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    # A working directory of its own: no .env of the checkout applies.
    return subprocess.run(
        [sys.executable, *args],
        env=environment(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "import pipelines.definitions",
        HELP.format(argv=["--help"]),
        HELP.format(argv=["run", "--help"]),
    ],
    ids=["definitions", "help", "run-help"],
)
def test_the_product_does_not_load_the_demo_crm(snippet, tmp_path):
    done = run_python(tmp_path, "-c", f"{snippet}\n{LOADED}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_demo_crm_help_lists_its_options(tmp_path):
    done = run_python(tmp_path, "-m", "pipelines.cli", "demo-crm", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: crm-kpi demo-crm" in done.stdout
    for option in OPTIONS:
        assert option in done.stdout, option


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere (lazily and for typing included)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if package else parts)] = (path, package)
    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if package else name.split(".")[:-1]
                    base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
                # `from . import x` imports the module x, `from .m import f` the module m.
                targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
                targets = targets or [base]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target:
                    graph[name].add(target)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_no_demo_crm_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert "demo_crm.hubspot.server" in graph and "demo_crm.store" in graph
    cycles = sorted(name for name in graph if name in reachable(graph, name))
    assert cycles == []


def test_the_generated_org_and_its_store_do_not_depend_on_the_hubspot_api():
    graph = import_graph()
    neutral = ["demo_crm.store", "demo_crm.selling"]
    neutral += [name for name in graph if name.startswith("demo_crm.generator")]
    for name in neutral:
        hubspot = {m for m in reachable(graph, name) if m.startswith("demo_crm.hubspot")}
        assert not hubspot, (name, hubspot)
