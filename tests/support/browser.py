"""Headless Chromium for the browser tests: Debian's ``chromium`` package (``./run test``
installs it; no browser download) driven by Playwright. Where it is missing the browser tests
skip — except under CI, where a missing browser is a failed install and fails them.
Screenshots go to ``test-artifacts/`` (``LGSP_TEST_ARTIFACTS``), kept after the run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LGSP_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("LGSP_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_browser() -> None:
    if shutil.which(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"no Chromium at {CHROMIUM}: ./run test installs Debian's chromium")
    pytest.skip(f"no Chromium at {CHROMIUM}")


@contextmanager
def chromium() -> Iterator[object]:
    """A headless browser (Playwright's ``Browser``), closed afterwards."""
    require_browser()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
