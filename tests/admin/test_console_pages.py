"""What an admin sees and does in the console: the overview counts what was sent, the search
finds a message by each filter, the trace shows each step in Ho Chi Minh City time with the
UTC instant on hover and the payload with the citizen's ID masked, a dead letter is replayed
to delivery and another discarded with a reason (both audited under the admin's name), a
route is edited through the registry's lifecycle, a rotated key is shown once, and the pages
speak Vietnamese or English. Runs on SQLite + embedded broker and PostgreSQL + RabbitMQ."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from hub.bootstrap import ADMIN_SYSTEM
from tests.admin.conftest import CCCD, send, status_of
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(120)
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")


def first_delivery(page: str) -> str:
    return re.search(r'<tr data-delivery="([^"]+)"', page).group(1)


def _row(page: str, attribute: str, value: str) -> str:
    found = re.search(rf'<tr {attribute}="{re.escape(value)}".*?</tr>', page, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(0)


def test_the_overview_counts_what_was_sent(world, console):
    page = console.page("/")
    assert re.search(r'id="hour-total">2<', page)
    assert re.search(r'id="dead">1<', page)
    assert re.search(r'id="error-rate">50.0%<', page)
    service = _row(page, "data-service", "dossier.status")
    assert "delivered 1" in service and "dead 1" in service
    portal = _row(page, "data-connector", "portal")
    assert "closed" in portal and "<time" in portal  # last success and failure shown
    assert page.count("<svg") == 2 and "bar-delivered" in page and "bar-failed" in page
    fragment = console.page("/overview")
    assert 'id="hour-total">2<' in fragment and "<html" not in fragment


def test_the_search_finds_a_message_by_each_filter(world, console):
    now = datetime.now(UTC)
    local = (now - timedelta(minutes=10)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S")
    later = (now + timedelta(minutes=10)).astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M:%S")
    both = {world.delivered, world.dead}
    cases = [
        ({}, both),
        ({"status": "dead"}, {world.dead}),
        ({"service": "dossier.status", "status": "delivered"}, {world.delivered}),
        ({"sender": "motcua"}, both),
        ({"sender": "nobody"}, set()),
        ({"since": local, "until": later}, both),
        ({"until": local}, set()),
    ]
    for params, expected in cases:
        page = console.page("/messages", **params)
        assert set(re.findall(r'data-message="([^"]+)"', page)) == expected, params
    jump = console.get("/messages", id=world.dead, allow_redirects=False)
    assert jump.status_code == 303 and jump.headers["location"] == f"/admin/messages/{world.dead}"


def test_the_search_pages_by_cursor(world, console, running):
    for n in range(3, 6):
        send(running, world.sender_key, n)
    first = console.page("/messages", service="dossier.status")
    ids = re.findall(r'data-message="([^"]+)"', first)
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    # the console's pages hold 50; the cursor of a page is its last id, as on the API
    page = console.page("/messages", service="dossier.status", cursor=ids[1])
    assert re.findall(r'data-message="([^"]+)"', page) == ids[2:]


def test_the_trace_shows_each_step_in_local_time_and_masks_the_payload(world, console):
    page = console.page(f"/messages/{world.delivered}")
    steps = re.findall(r'data-event="([a-z_]+)"', page)
    assert steps == ["received", "validated", "routed", "queued", "delivering", "delivered"]
    delivered = re.search(r'data-event="delivered".*?</li>', page, re.S).group(0)
    assert "portal" in delivered and " ms<" in delivered and ": 201<" in delivered
    assert "route-portal" in page  # the routed step names its route
    answered = _row(page, "data-delivery", first_delivery(page))
    assert 'class="answer"' in answered  # the partner's answer, as it came back
    stamp = re.search(r'<time datetime="([^"]+)" title="UTC ([^"]+)">([^<]+)</time>', delivered)
    instant = datetime.fromisoformat(stamp.group(1))
    assert stamp.group(3) == instant.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M:%S")
    assert stamp.group(2) == instant.strftime("%Y-%m-%d %H:%M:%S")
    shown = re.search(r'<pre class="payload" id="payload">(.*?)</pre>', page, re.S).group(1)
    payload = html.unescape(shown)
    assert "MaHoSo" in payload and "*********001" in payload
    assert CCCD not in page
    assert "✔" in page  # the hash chain is intact
    missing = console.get("/messages/0190a0a0-0000-7000-8000-000000000000")
    assert missing.status_code == 404 and "does not exist" in missing.text


def test_a_dead_letter_is_replayed_to_delivery_and_another_discarded(world, console, running, sink):
    page = console.page("/dead-letters")
    assert world.dead_delivery in page and "400" in page
    answer = console.post(
        "/dead-letters/replay", [("delivery", world.dead_delivery), ("reason", "partner fixed")]
    )
    assert answer.status_code == 303 and "done=replayed&count=1" in answer.headers["location"]
    wait_until(lambda: status_of(running, world.dead) == "delivered", timeout=60, what="the replay")
    trace = console.page(f"/messages/{world.dead}")
    replayed = re.search(r'data-event="replayed".*?</li>', trace, re.S).group(0)
    assert ADMIN_SYSTEM in replayed and "partner fixed" in replayed
    # a second one, discarded with a reason
    sink.set_faults(fail_next=1, fail_status=400)
    other = send(running, world.sender_key, 7)
    wait_until(lambda: status_of(running, other) == "dead", timeout=60, what="another dead letter")
    delivery = running.admin().json("GET", f"/v1/messages/{other}")["deliveries"][0]["id"]
    answer = console.post(f"/dead-letters/{delivery}/discard", {"reason": "sent twice"})
    assert answer.status_code == 303
    assert status_of(running, other) == "discarded"
    assert "no-dead-letters" in console.page("/dead-letters")
    audit = console.page("/audit", actor=ADMIN_SYSTEM)
    assert "replay_dead_letter" in audit and "discard_dead_letter" in audit
    assert "sent twice" in audit
    # replaying what is no longer dead says so, as JSON for the console's script
    again = console.post(
        "/dead-letters/replay",
        {"delivery": world.dead_delivery},
        headers={"Accept": "application/json"},
    )
    assert again.status_code == 200
    assert again.json()["failures"][0]["delivery"] == world.dead_delivery


def test_a_route_is_edited_through_the_registry_lifecycle(world, console, running):
    page = console.page("/registry", kind="routes")
    assert 'data-key="route-portal"' in page
    form = console.page("/registry/routes/route-portal")
    assert 'name="priority" value="100"' in form
    answer = console.post(
        "/registry/routes/route-portal",
        {
            "priority": "5",
            "connector": "portal",
            "service_code": "dossier.status",
            "enabled": "on",
            "reason": "night shift",
        },
    )
    assert answer.status_code == 303, answer.text[:400]
    route = running.admin().json("GET", "/v1/routes/route-portal")
    assert route["priority"] == 5 and route["enabled"] is True
    audit = running.admin().json("GET", "/v1/audit-log", params={"action": "update_route"})
    entries = audit["items"]
    assert entries[0]["actor"] == ADMIN_SYSTEM
    assert "night shift" in entries[0]["reason"] and "priority" in entries[0]["reason"]
    # a route to a connector that does not exist is refused by the registry's own checks
    bad = console.post("/registry/routes/route-portal", {"connector": "nowhere", "enabled": "on"})
    assert bad.status_code in (404, 409, 422) and "nowhere" in bad.text
    assert running.admin().json("GET", "/v1/routes/route-portal")["connector"] == "portal"


def test_a_rotated_key_is_shown_once_and_works(world, console, running):
    answer = console.post("/registry/systems/motcua", {"action": "rotate_key", "reason": "leak"})
    assert answer.status_code == 200
    shown = re.search(r'<pre class="key" id="new-key">([^<]+)</pre>', answer.text).group(1)
    key = html.unescape(shown)
    assert send(running, key, 8)
    assert key not in console.page("/registry", kind="systems")
    assert key not in console.page("/registry/systems/motcua")


def test_agencies_show_as_their_level_tree(world, console, running):
    admin = running.admin()
    admin.json(
        "POST",
        "/v1/agencies",
        json={
            "code": "000.00.20.H49",
            "name": "UBND xã <b>A</b>",
            "parent_code": "000.00.00.H49",
            "level": 4,
        },
    )
    page = console.page("/registry", kind="agencies")
    row = _row(page, "data-key", "000.00.20.H49")
    assert 'class="depth-1"' in row
    assert "UBND xã &lt;b&gt;A&lt;/b&gt;" in row  # shown, never run as markup


def test_the_console_speaks_vietnamese_and_english(world, console):
    assert "Tổng quan" in console.page("/")
    switched = console.get("/language/en", next="/admin/dead-letters")
    assert switched.url.endswith("/admin/dead-letters")
    assert "Dead letters" in switched.text and "Replay selected" in switched.text
    assert "Thư chết" in console.page("/language/vi", next="/admin/")
    # a language link cannot send the admin off the console
    away = console.get("/language/en", next="https://example.org/", allow_redirects=False)
    assert away.headers["location"] == "/admin/"


def test_denials_and_the_audit_log_are_searchable(world, console, running):
    requests.get(running.url + "/v1/messages", headers={"X-API-Key": "lgsp_nope_x"}, timeout=30)
    running.hub.denials.flush()
    page = console.page("/denials")
    assert "unknown API key" in page
    assert "unknown API key" not in console.page("/denials", system="motcua")
    audit = console.page("/audit", action="console_login")
    assert re.findall(r'data-action="([a-z_]+)"', audit) == ["console_login"]
