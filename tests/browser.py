"""A real headless Chromium (Debian's package, installed by `make test`) driven by playwright.

Playwright's own browser download is never used: it launches the system's chromium binary.
"""

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, sync_playwright


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        # Not a skip: CI must run these. `make test` installs it (Makefile target `chromium`).
        pytest.fail("Chromium is not installed: run `make chromium` (apt-get install chromium)")
    return path


@contextmanager
def launch() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: tests run as root in CI, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """What a page complained about while it loaded, and what it tried to fetch."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on(
            "console",
            lambda m: self.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))


def non_white_share(png: bytes) -> float:
    """Share of pixels that are not (near) white: 0.0 for a blank screenshot."""
    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    return 1 - sum(histogram[245:]) / sum(histogram)
