"""The interactive docs work on a machine without internet: ``/docs`` (Swagger UI) and
``/redoc`` reference only the hub's own URLs, and those answer with the scripts and style sheet.
With Debian's Chromium installed (``/usr/bin/chromium``) and Playwright, a headless browser
shows that Swagger UI really renders the hub's operations; it is skipped otherwise."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support.browser import chromium, screenshot

pytestmark = [pytest.mark.timeout(60), pytest.mark.parametrize("backend", ["sqlite"])]

REFERENCES = re.compile(r'(?:src|href)="([^"]*)"|url: \'([^\']*)\'|spec-url="([^"]*)"')


@pytest.mark.parametrize(
    "page, assets",
    [
        (
            "/docs",
            {
                "swagger-ui-bundle.js": "javascript",
                "swagger-ui.css": "text/css",
                "favicon.png": "image/png",
            },
        ),
        ("/redoc", {"redoc.standalone.js": "javascript", "favicon.png": "image/png"}),
    ],
)
def test_docs_pages_load_only_the_hubs_own_assets(running, page, assets):
    html = requests.get(running.url + page, timeout=30)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "http://" not in html.text and "https://" not in html.text, "an outside URL"
    urls = {next(g for g in m.groups() if g) for m in REFERENCES.finditer(html.text)}
    assert "/openapi.json" in urls
    assert {u.rsplit("/", 1)[-1] for u in urls if u.startswith("/docs/assets/")} == set(assets)
    for url in urls:
        assert url.startswith("/"), url
        answer = requests.get(running.url + url, timeout=30)
        assert answer.status_code == 200, url
        kind = assets.get(url.rsplit("/", 1)[-1], "application/json")
        assert kind in answer.headers["content-type"], (url, answer.headers["content-type"])
        assert len(answer.content) > 100, url


def test_the_openapi_document_lists_no_docs_routes(running):
    paths = requests.get(running.url + "/openapi.json", timeout=30).json()["paths"]
    assert "/v1/messages" in paths
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


def test_swagger_ui_renders_the_operations_in_a_headless_browser(running):
    outside: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on(
            "request",
            lambda r: None if r.url.startswith(running.url) else outside.append(r.url),
        )
        page.goto(running.url + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        shown = page.locator(".opblock-summary-path").all_inner_texts()
        screenshot(page, "docs")
    assert "/v1/messages" in [s.replace("\u200b", "") for s in shown]
    assert not [u for u in outside if not u.startswith(("data:", "blob:"))], outside
