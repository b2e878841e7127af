"""Great Expectations Data Docs: each run's validation results as HTML pages, with an index.

`data_docs/<run id>/<suite>.html` per check, the newest DATA_DOCS_RUNS_KEPT runs kept, and
`data_docs/index.html` listing them, newest first.
"""

import html
from functools import cache
from pathlib import Path

from .run_folders import keep_newest_folders

DATA_DOCS_RUNS_KEPT = 30


def write_data_docs(result, suite_name: str, run_id: str, data_docs_dir: Path) -> Path:
    """Render one suite's validation result (GX's) as a page under data_docs/<run id>/.

    Only the validated rows' results are rendered (aggregates and KPI rows): no setting, and so
    no token, ever reaches the page.
    """
    renderer, view = page_view()
    page = view.render(renderer.render(result))
    run_dir = data_docs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{suite_name}.html"
    path.write_text(page)
    _write_index(data_docs_dir)
    return path


def _write_index(data_docs_dir: Path) -> None:
    runs = keep_newest_folders(data_docs_dir, DATA_DOCS_RUNS_KEPT)
    items = "".join(
        f"<li>run {html.escape(run.name)}<ul>"
        + "".join(
            f'<li><a href="{html.escape(run.name)}/{html.escape(p.name)}">'
            f"{html.escape(p.stem)}</a></li>"
            for p in sorted(run.glob("*.html"))
        )
        + "</ul></li>"
        for run in runs
    )
    (data_docs_dir / "index.html").write_text(
        "<!doctype html><title>crm-kpi quality checks</title>"
        f"<h1>Quality checks per run</h1><ul>{items}</ul>"
    )


@cache
def page_view():
    """GX's page renderer and view, made once: a new view builds its jinja environment again,
    which costs ten times the rendering of a page."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    return ValidationResultsPageRenderer(), DefaultJinjaPageView()
