"""Writing a message's state: the message, its deliveries and first events at acceptance
(``store``, shared by queued and synchronous services), its deliveries put on their queues
(``enqueue``), and a delivery moving to a new status with its events (``transition``) — each
inside the caller's transaction, so a state and its trace commit together or not at all.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from hub import attempt, routing
from hub.brokers.base import Delivery, Publication
from hub.context import Hub, delivery_queue
from hub.events import Event, Tails, chain, record, stage
from hub.ids import new_id
from hub.model import TERMINAL, Caller, EventKind, Status, Submission
from hub.store.db import utcnow
from hub.store.tables import deliveries, message_events, messages, outbox

__all__ = [
    "delivery_rows",
    "enqueue",
    "message_status",
    "store",
    "summarise",
    "transition",
]


def store(
    hub: Hub,
    conn: Connection,
    caller: Caller,
    sub: Submission,
    message_id: str,
    service: Mapping[str, Any],
    targets: Sequence[routing.Target],
    document_id: str | None,
    key: str | None,
    ref: str | None,
    outcome: attempt.Outcome | None = None,
    received_at: datetime | None = None,
) -> None:
    """Insert the message, its deliveries and their first events in the caller's transaction.
    Queued (no ``outcome``): each delivery is enqueued (``enqueue``) with a ``queued`` event.
    A synchronous call passes the ``outcome`` of its one attempt, recorded at once, and when
    it was received (before the partner was asked)."""
    now = received_at or utcnow()
    payload = sub.payload
    events = [
        Event(
            message_id,
            EventKind.RECEIVED,
            size_in=payload.size,
            at=now,
            details={"sender": f"{caller.agency}/{caller.system}", "service": sub.service},
        ),
        Event(
            message_id,
            EventKind.VALIDATED,
            at=now,
            details={"schema": service["request_schema"]} if service["request_schema"] else None,
        ),
    ]
    if not targets:
        events.append(
            Event(
                message_id,
                EventKind.UNROUTABLE,
                at=now,
                details={"recipients": list(sub.recipients), "until": "a route takes it"},
            )
        )
    rows, queued, routed = delivery_rows(message_id, targets, now, queue=outcome is None)
    events += routed
    if outcome is not None:
        rows[0].update(
            id=outcome.job.delivery_id,
            attempts=1,
            status=Status.DELIVERED if outcome.ok else Status.FAILED,
            remote_status=outcome.remote_status,
            last_error=outcome.error_text,
        )
        events += [
            *outcome.events,
            outcome.event(EventKind.DELIVERED if outcome.ok else EventKind.FAILED),
        ]
    tails: Tails = {}
    trace_rows = chain(events, tails)  # a new message: its trace starts here, nothing to read
    status = rows[0]["status"] if outcome else Status.QUEUED if rows else Status.UNROUTABLE
    conn.execute(
        _INSERT["messages"],
        dict(
            id=message_id,
            correlation_id=sub.correlation_id or message_id,
            causation_id=sub.causation_id,
            sender_agency=caller.agency,
            sender_system=caller.system,
            service_code=sub.service,
            service_version=service["version"],
            recipients=list(sub.recipients),
            content_type=payload.content_type,
            payload=None if ref else payload.read(),
            blob_ref=ref,
            payload_sha256=payload.sha256,
            size=payload.size,
            headers=dict(sub.headers),
            document_id=document_id,
            idempotency_key=key,
            status=status,
            trace_seq=tails[message_id][0],
            trace_hash=tails[message_id][1],
            created_at=now,
            updated_at=now,
        ),
    )
    if rows:
        conn.execute(_INSERT["deliveries"], rows)
    enqueue(hub, conn, message_id, queued)
    conn.execute(_INSERT["message_events"], trace_rows)
    stage(conn, events)


_INSERT = {t.name: insert(t) for t in (messages, deliveries, outbox, message_events)}


def delivery_rows(
    message_id: str, targets: Sequence[routing.Target], now: datetime, *, queue: bool = True
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], list[Event]]:
    """The deliveries of a routed message, the ``(delivery, connector)`` pairs to enqueue, and
    their events: ``routed`` naming the targets, then ``queued`` for each (if ``queue``)."""
    rows, queued = [], []
    events = (
        [
            Event(
                message_id,
                EventKind.ROUTED,
                at=now,
                details={
                    "targets": [
                        {"route": t.route, "connector": t.connector, "recipient": t.recipient}
                        for t in targets
                    ]
                },
            )
        ]
        if targets
        else []
    )
    for target in targets:
        row = {
            "id": new_id(),
            "message_id": message_id,
            "route": target.route,
            "connector": target.connector,
            "mapping": target.mapping,
            "recipient": target.recipient,
            "status": Status.QUEUED,
            "attempts": 0,
            "queued_at": now,
            "created_at": now,
            "updated_at": now,
        }
        rows.append(row)
        if target.held_for is not None:  # waits in a system's inbox: nothing to enqueue
            events.append(
                Event(
                    message_id,
                    EventKind.QUEUED,
                    delivery_id=row["id"],
                    connector=target.connector,
                    at=now,
                    details={"held_for": target.held_for},
                )
            )
        elif queue:
            queued.append((row["id"], target.connector))
            events.append(
                Event(
                    message_id,
                    EventKind.QUEUED,
                    delivery_id=row["id"],
                    connector=target.connector,
                    at=now,
                )
            )
    return rows, queued, events


def enqueue(
    hub: Hub, conn: Connection, message_id: str, targets: Sequence[tuple[str, str]]
) -> None:
    """Put deliveries ``(delivery id, connector)`` on their queues within the caller's
    transaction: straight onto the embedded broker's queue rows, or as outbox rows the relay
    publishes. The caller calls ``hub.enqueued()`` once it has committed."""
    batch = [
        Publication(
            delivery_queue(connector),
            json.dumps({"message_id": message_id, "delivery_id": delivery_id}).encode(),
            {"message-id": message_id},
        )
        for delivery_id, connector in targets
    ]
    if batch and not hub.broker.publish_in(conn, batch):
        now = utcnow()
        conn.execute(
            _INSERT["outbox"],
            [
                {
                    "delivery_id": delivery_id,
                    "queue": p.queue,
                    "body": p.body,
                    "headers": dict(p.headers),
                    "created_at": now,
                }
                for (delivery_id, _), p in zip(targets, batch, strict=True)
            ],
        )


# ── delivering ───────────────────────────────────────────────────────────────────────────


def message_status(conn: Connection, message_id: str, event: str) -> str:
    """A message's status sums up its deliveries (read after the caller updated one)."""
    states = {
        r[0]
        for r in conn.execute(
            select(deliveries.c.status).where(deliveries.c.message_id == message_id)
        )
    }
    return summarise(states, event)


def summarise(states: set[str], event: str) -> str:
    """Delivered once every delivery is, dead if any is, else the latest step."""
    if states <= TERMINAL:
        return Status.DELIVERED if states == {Status.DELIVERED} else Status.DISCARDED
    return Status.DEAD if Status.DEAD in states else event


def transition(
    hub: Hub,
    delivery_id: str,
    message_id: str,
    status: str,
    events: Sequence[Event],
    *,
    alone: bool = False,
    settle: tuple[Delivery, Callable[[Connection | None], None]] | None = None,
    also: Callable[[Connection], None] | None = None,
    **values: Any,
) -> None:
    """Move one delivery to ``status`` and append ``events``, in one transaction. Locks the
    delivery row, then the message row (``record``): the order every writer uses. ``alone``:
    the message has no other delivery, so its status needs no look at siblings. ``settle``:
    the broker message and how to settle it — in this same transaction when the broker keeps
    its queues in the store, else right after the commit. ``also``: more writes that belong
    to this step (a document recipient's state), in the same transaction."""
    delivery, action = settle if settle else (None, None)
    in_store = delivery is not None and delivery.in_store
    with hub.begin() as conn:
        conn.execute(
            _delivery_update(tuple(sorted(values))),
            {
                "delivery_id": delivery_id,
                "v_status": status,
                "v_updated_at": utcnow(),
                **{f"v_{k}": v for k, v in values.items()},
            },
        )
        summary = summarise({status}, status) if alone else message_status(conn, message_id, status)
        record(conn, events, {message_id: summary})
        if also is not None:  # what else changes with this step, in the same transaction
            also(conn)
        if in_store:
            action(conn)
    if action is not None and not in_store:
        action(None)


@functools.cache
def _delivery_update(columns: tuple[str, ...]):
    """UPDATE of one delivery's status and ``columns``, built once per set of columns."""
    return (
        update(deliveries)
        .where(deliveries.c.id == bindparam("delivery_id"))
        .values(
            status=bindparam("v_status"),
            updated_at=bindparam("v_updated_at"),
            **{c: bindparam(f"v_{c}") for c in columns},
        )
    )
