"""The console in a real browser (headless Debian Chromium through Playwright): an admin logs
in, sees the messages sent counted on the overview, opens a message's trace, replays a dead
letter with the progress bar and sees it delivered, edits a route, and logs out — with no
request leaving the hub and no script error (the pages' Content-Security-Policy allows only
the hub's own files). Screenshots of each screen go to ``test-artifacts/``."""

from __future__ import annotations

import pytest

from tests.admin.conftest import status_of
from tests.support.browser import chromium, screenshot
from tests.support.running import wait_until

pytestmark = [pytest.mark.timeout(180), pytest.mark.parametrize("backend", ["sqlite"])]


def test_an_admin_finds_replays_and_edits_in_the_browser(world, running):
    outside: list[str] = []
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page(locale="vi-VN", viewport={"width": 1360, "height": 900})
        page.on("request", lambda r: r.url.startswith(running.url) or outside.append(r.url))
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(running.url + "/admin/")
        assert "/admin/login" in page.url
        screenshot(page, "console-login")
        page.fill("#api_key", running.admin_key)
        page.click("#login")
        page.wait_for_selector("#hour-total")
        assert page.inner_text("#hour-total") == "2"
        assert page.inner_text("#dead") == "1"
        assert "Tổng quan" in page.inner_text("h1")
        screenshot(page, "console-overview")

        page.click("text=Thông điệp")
        page.select_option("select[name=status]", "delivered")
        page.click("#search button[type=submit]")
        page.click(f"a[href='/admin/messages/{world.delivered}']")
        page.wait_for_selector("#timeline")
        steps = page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.event)")
        assert steps[-1] == "delivered"
        title = page.get_attribute("#timeline li[data-event=delivered] time", "title")
        assert title.startswith("UTC ")
        screenshot(page, "console-trace")

        page.goto(running.url + "/admin/dead-letters")
        page.check("#select-all")
        page.fill("#replay-form input[name=reason]", "đối tác đã sửa")
        page.click("#replay-selected")
        page.wait_for_selector("#done")
        assert "1" in page.inner_text("#done")
        wait_until(
            lambda: status_of(running, world.dead) == "delivered", timeout=60, what="the replay"
        )
        page.goto(running.url + f"/admin/messages/{world.dead}")
        assert page.inner_text("#message-status") == "delivered"
        assert page.locator("#timeline li[data-event=replayed]").count() == 1
        screenshot(page, "console-replayed")

        page.goto(running.url + "/admin/registry/routes/route-portal")
        page.fill("input[name=priority]", "7")
        page.fill("#entry-form input[name=reason]", "thử nghiệm")
        page.click("#save")
        page.wait_for_selector("#saved")
        screenshot(page, "console-registry")
        assert running.admin().json("GET", "/v1/routes/route-portal")["priority"] == 7

        page.click("#logout")
        page.wait_for_selector("#api_key")
        page.goto(running.url + "/admin/")
        assert "/admin/login" in page.url
    assert not outside, outside
    assert not problems, problems
