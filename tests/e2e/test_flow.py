"""Submit over HTTP → delivered to the sandbox partner → the trace shows every step in order.
Runs on SQLite + embedded broker and on PostgreSQL + RabbitMQ."""

from __future__ import annotations

import json

import pytest

from tests.support.partners import dossier, register_rest_route, standard
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(120)


def _events(client, message_id):
    return [e["event"] for e in client.json("GET", f"/v1/messages/{message_id}")["events"]]


def _status(client, message_id):
    return client.json("GET", f"/v1/messages/{message_id}")["status"]


def test_submitted_message_is_delivered_and_traced_in_order(running, sink):
    sender = standard(running.admin(), sink.url)
    body = json.dumps(dossier(1)).encode()
    accepted = sender.send("dossier.status", body, "application/json")
    wait_until(lambda: _status(sender, accepted["id"]) == "delivered", what="delivery")
    got = sink.wait_for(1)
    assert got[0].body == body
    assert got[0].headers["idempotency-key"] == accepted["id"]
    msg = sender.json("GET", f"/v1/messages/{accepted['id']}")
    assert [e["event"] for e in msg["events"]] == [
        "received",
        "validated",
        "routed",
        "queued",
        "delivering",
        "delivered",
    ]
    assert [e["seq"] for e in msg["events"]] == [1, 2, 3, 4, 5, 6]
    assert msg["trace_intact"] is True
    delivered = msg["events"][-1]
    assert delivered["remote_status"] in ("200", "201")
    assert delivered["connector"] == "portal" and delivered["attempt"] == 1
    assert delivered["duration_ms"] > 0 and delivered["size_out"] == len(body)
    assert msg["deliveries"][0]["status"] == "delivered"


def test_transient_failures_are_retried_with_backoff_then_delivered(running, sink):
    sender = standard(running.admin(), sink.url)
    sink.set_faults(fail_next=2, fail_status=503)
    accepted = sender.send("dossier.status", json.dumps(dossier(2)).encode(), "application/json")
    wait_until(lambda: _status(sender, accepted["id"]) == "delivered", what="delivery")
    msg = sender.json("GET", f"/v1/messages/{accepted['id']}")
    retries = [e for e in msg["events"] if e["event"] == "retrying"]
    assert [e["attempt"] for e in retries] == [1, 2]
    assert all(e["remote_status"] == "503" for e in retries)
    assert all(e["details"]["next_attempt_in_s"] > 0 for e in retries)
    assert msg["events"][-1]["event"] == "delivered" and msg["events"][-1]["attempt"] == 3
    assert len(sink.unique) == 1


def test_exhausted_attempts_dead_letter_then_admin_replays_to_delivery(running, sink):
    sender = standard(running.admin(), sink.url)
    sink.set_faults(error_rate=1.0, fail_status=503)
    accepted = sender.send("dossier.status", json.dumps(dossier(3)).encode(), "application/json")
    wait_until(lambda: _status(sender, accepted["id"]) == "dead", what="dead letter")
    admin = running.admin()
    dead = admin.json("GET", "/v1/dead-letters")["items"]
    assert [d["message_id"] for d in dead] == [accepted["id"]]
    assert dead[0]["attempts"] == running.hub.settings.retry_max_attempts
    sink.clear_faults()
    admin.json("POST", f"/v1/dead-letters/{dead[0]['id']}/replay", json={"reason": "fixed"})
    wait_until(lambda: _status(sender, accepted["id"]) == "delivered", what="replayed delivery")
    events = _events(sender, accepted["id"])
    assert events[-5:] == ["dead", "replayed", "queued", "delivering", "delivered"]
    assert admin.json("GET", "/v1/dead-letters")["items"] == []


def test_permanent_failure_dead_letters_at_once_and_discard_needs_a_reason(running, sink):
    sender = standard(running.admin(), sink.url)
    sink.set_faults(fail_next=1, fail_status=400)
    accepted = sender.send("dossier.status", json.dumps(dossier(4)).encode(), "application/json")
    wait_until(lambda: _status(sender, accepted["id"]) == "dead", what="dead letter")
    assert "retrying" not in _events(sender, accepted["id"])
    admin = running.admin()
    delivery = admin.json("GET", "/v1/dead-letters")["items"][0]["id"]
    with pytest.raises(Exception) as no_reason:
        admin.json("POST", f"/v1/dead-letters/{delivery}/discard", json={"reason": ""})
    assert no_reason.value.status == 422
    admin.json("POST", f"/v1/dead-letters/{delivery}/discard", json={"reason": "duplicate"})
    assert _status(sender, accepted["id"]) == "discarded"
    with pytest.raises(Exception) as not_dead:
        admin.json("POST", f"/v1/dead-letters/{delivery}/replay", json={})
    assert not_dead.value.status == 409 and not_dead.value.code == "conflict"


def test_resubmission_with_same_idempotency_key_is_not_processed_twice(running, sink):
    sender = standard(running.admin(), sink.url)
    body = json.dumps(dossier(5)).encode()
    first = sender.send("dossier.status", body, "application/json", idempotency_key="k-1")
    again = sender.send("dossier.status", body, "application/json", idempotency_key="k-1")
    assert again == {**first, "duplicate": True}
    wait_until(lambda: _status(sender, first["id"]) == "delivered", what="delivery")
    page = sender.json("GET", "/v1/messages", params={"service": "dossier.status"})
    assert [m["id"] for m in page["items"]] == [first["id"]]
    assert len(sink.received) == 1


def test_one_message_to_two_recipients_fans_out_into_two_tracked_deliveries(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    register_rest_route(
        admin, sink.url, name="district", recipient="000.00.11.H49", path="/district", priority=10
    )
    accepted = sender.send(
        "dossier.status",
        json.dumps(dossier(6)).encode(),
        "application/json",
        recipients=["000.00.11.H49", "000.00.12.H49"],
    )
    wait_until(lambda: _status(sender, accepted["id"]) == "delivered", what="fan-out")
    msg = sender.json("GET", f"/v1/messages/{accepted['id']}")
    by_recipient = {d["recipient"]: d["connector"] for d in msg["deliveries"]}
    assert by_recipient == {"000.00.11.H49": "district", "000.00.12.H49": "portal"}
    assert sorted(r.path for r in sink.wait_for(2)) == ["/district", "/portal"]
    assert msg["trace_intact"] is True


def test_content_condition_picks_the_route(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    register_rest_route(
        admin,
        sink.url,
        name="finished",
        path="/finished",
        priority=1,
        condition=[{"path": "TrangThaiHoSo", "op": "in", "value": [9, 10]}],
    )
    done = sender.send(
        "dossier.status", json.dumps(dossier(7, status=10)).encode(), "application/json"
    )
    busy = sender.send(
        "dossier.status", json.dumps(dossier(8, status=4)).encode(), "application/json"
    )
    for accepted in (done, busy):
        wait_until(lambda a=accepted: _status(sender, a["id"]) == "delivered", what="delivery")
    paths = {r.json()["MaHoSo"][-4:]: r.path for r in sink.wait_for(2)}
    assert paths == {"0007": "/finished", "0008": "/portal"}


def test_large_payload_goes_to_the_blob_store_and_arrives_intact(running, sink):
    sender = standard(running.admin(), sink.url)
    body = json.dumps({**dossier(9), "NoiDungXuLy": "x" * 400}).encode()
    big = body + b" " * (running.hub.settings.blob_threshold_bytes + 10)
    accepted = sender.send("dossier.status", big, "application/json")
    wait_until(lambda: _status(sender, accepted["id"]) == "delivered", what="delivery")
    assert sink.wait_for(1)[0].body == big
    with running.hub.engine.connect() as conn:
        from sqlalchemy import select

        from hub.store.tables import messages

        row = conn.execute(select(messages.c.payload, messages.c.blob_ref)).one()
    assert row.payload is None and row.blob_ref.startswith("sha256:")


def test_search_pages_with_a_cursor_and_filters_by_status(running, sink):
    sender = standard(running.admin(), sink.url)
    ids = [
        sender.send("dossier.status", json.dumps(dossier(20 + i)).encode(), "application/json")[
            "id"
        ]
        for i in range(5)
    ]
    wait_until(lambda: all(_status(sender, i) == "delivered" for i in ids), what="deliveries")
    first = sender.json("GET", "/v1/messages", params={"limit": 2})
    second = sender.json("GET", "/v1/messages", params={"limit": 2, "cursor": first["next_cursor"]})
    third = sender.json("GET", "/v1/messages", params={"limit": 2, "cursor": second["next_cursor"]})
    seen = [m["id"] for page in (first, second, third) for m in page["items"]]
    assert seen == list(reversed(ids)) and third["next_cursor"] is None
    assert sender.json("GET", "/v1/messages", params={"status": "dead"})["items"] == []
