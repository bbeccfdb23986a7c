"""The trace's hash chain shows an edited, inserted or deleted event — on both stores."""

from __future__ import annotations

from sqlalchemy import delete, insert, update

from hub.events import Event, record, trace, verify_chain
from hub.store.db import utcnow
from hub.store.tables import message_events, messages


def _message(hub, message_id="m-1"):
    now = utcnow()
    with hub.engine.begin() as conn:
        conn.execute(
            insert(messages).values(
                id=message_id,
                correlation_id=message_id,
                sender_agency="a",
                sender_system="s",
                recipients=[],
                content_type="application/json",
                payload=b"{}",
                payload_sha256="0",
                size=2,
                headers={},
                status="queued",
                created_at=now,
                updated_at=now,
            )
        )
        record(
            conn,
            [
                Event(message_id, "received", size_in=2),
                Event(message_id, "validated"),
                Event(message_id, "routed", details={"targets": []}),
            ],
        )
    return message_id


def _rows(hub, message_id):
    with hub.engine.connect() as conn:
        return trace(conn, message_id)


def test_intact_trace_verifies_and_is_numbered_in_order(hub):
    mid = _message(hub)
    rows = _rows(hub, mid)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert [r["event"] for r in rows] == ["received", "validated", "routed"]
    assert verify_chain(rows) == []


def test_edited_event_breaks_the_chain(hub):
    mid = _message(hub)
    with hub.engine.begin() as conn:
        conn.execute(
            update(message_events).where(message_events.c.seq == 2).values(event="delivered")
        )
    assert verify_chain(_rows(hub, mid)) == ["event seq 2 (delivered) does not match its hash"]


def test_deleted_event_breaks_the_chain(hub):
    mid = _message(hub)
    with hub.engine.begin() as conn:
        conn.execute(delete(message_events).where(message_events.c.seq == 2))
    problems = verify_chain(_rows(hub, mid))
    assert "seq 2 missing before 3" in problems


def test_appending_continues_the_chain_across_transactions(hub):
    mid = _message(hub)
    with hub.engine.begin() as conn:
        record(conn, [Event(mid, "queued", delivery_id="d-1", connector="c")])
    rows = _rows(hub, mid)
    assert rows[-1]["seq"] == 4 and rows[-1]["prev_hash"] == rows[-2]["hash"]
    assert verify_chain(rows) == []
