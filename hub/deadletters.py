"""Dead letters: deliveries that failed for good. The store is the authority (the broker's
``.dead`` queue keeps a copy for operators); an admin replays one — back through the outbox,
attempts counted afresh — or discards it with a reason. Both are audited and traced. Listing
them is the read side's (``hub.trace.dead_letters``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from hub.context import Hub
from hub.errors import Conflict, NotFound, SchemaViolation
from hub.events import Event, record
from hub.model import Status
from hub.recording import enqueue, message_status
from hub.registry import audit
from hub.store.db import utcnow
from hub.store.tables import deliveries

__all__ = ["discard", "replay"]


def _dead_delivery(conn: Connection, delivery_id: str) -> dict[str, Any]:
    query = select(deliveries).where(deliveries.c.id == delivery_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(f"delivery {delivery_id!r} does not exist")
    if row["status"] != "dead":
        raise Conflict(f"delivery {delivery_id} is {row['status']}, not dead", status=row["status"])
    return dict(row)


def replay(hub: Hub, delivery_id: str, actor: str, reason: str | None = None) -> None:
    with hub.begin() as conn:
        row = _dead_delivery(conn, delivery_id)
        now = utcnow()
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(
                status=Status.QUEUED,
                attempts=0,
                next_attempt_at=None,
                queued_at=now,
                updated_at=now,
            )
        )
        enqueue(hub, conn, row["message_id"], [(delivery_id, row["connector"])])
        mid = row["message_id"]
        record(
            conn,
            [
                Event(
                    mid,
                    "replayed",
                    delivery_id=delivery_id,
                    details={"by": actor, "reason": reason, "previous_attempts": row["attempts"]},
                ),
                Event(mid, "queued", delivery_id=delivery_id, connector=row["connector"]),
            ],
            {mid: message_status(conn, mid, "queued")},
        )
        audit(conn, actor, "replay_dead_letter", delivery_id, reason)
    hub.enqueued()


def discard(hub: Hub, delivery_id: str, actor: str, reason: str) -> None:
    if not reason or not reason.strip():
        raise SchemaViolation(
            "a reason is required to discard a dead letter",
            errors=[{"path": "/reason", "message": "required"}],
        )
    with hub.begin() as conn:
        row = _dead_delivery(conn, delivery_id)
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(status="discarded", updated_at=utcnow())
        )
        mid = row["message_id"]
        record(
            conn,
            [
                Event(
                    mid,
                    "discarded",
                    delivery_id=delivery_id,
                    connector=row["connector"],
                    details={"by": actor, "reason": reason},
                )
            ],
            {mid: message_status(conn, mid, "discarded")},
        )
        audit(conn, actor, "discard_dead_letter", delivery_id, reason)
