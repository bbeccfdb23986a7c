"""A document system's inbox: documents and status messages held for a local system that
picks them up (REST or SOAP ``GetPendingDocumentIds`` / ``GetDocument`` / ``ConfirmReceived``).

An item stays pending until the system confirms it has stored it: fetching is not receiving,
so a system that crashes between the two gets the document again. The confirmation delivers
the held delivery (its trace says ``delivered``, remote status ``confirmed``), exactly once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from hub.access import authorise
from hub.context import Hub
from hub.errors import NotFound
from hub.events import Event
from hub.model import Caller, EventKind, Status
from hub.payload import Payload
from hub.recording import transition
from hub.store.db import as_utc, utcnow
from hub.store.tables import edoc_recipients, edocs, messages

__all__ = ["MAX_PAGE", "confirm", "fetch", "pending"]

MAX_PAGE = 500
_ITEM = (
    select(
        edoc_recipients.c.message_id,
        edoc_recipients.c.recipient,
        edoc_recipients.c.confirmed_at,
        edocs.c.kind,
        edocs.c.document_id,
        edocs.c.business_type,
        edocs.c.status_code,
        edocs.c.sender,
        edocs.c.subject,
        edocs.c.outgoing_ref,
        edocs.c.outgoing_size,
        edocs.c.outgoing_sha256,
        messages.c.size,
        messages.c.created_at,
    )
    .join(edocs, edocs.c.message_id == edoc_recipients.c.message_id)
    .join(messages, messages.c.id == edoc_recipients.c.message_id)
)


def pending(hub: Hub, caller: Caller, limit: int = 100) -> list[dict[str, Any]]:
    """What waits for the calling system, oldest first: one item per message (a document for
    two of its agencies is one item naming both)."""
    authorise(hub.registry, hub.denials, caller, hub.settings.edoc_service, "receive")
    with hub.reader.connect() as conn:
        rows = conn.execute(
            _ITEM.where(
                edoc_recipients.c.system_code == caller.system,
                edoc_recipients.c.channel == "inbox",
                edoc_recipients.c.confirmed_at.is_(None),
            )
            .order_by(messages.c.created_at, messages.c.id)
            .limit(min(limit, MAX_PAGE) * 4)
        ).mappings()
        items: dict[str, dict[str, Any]] = {}
        for row in rows:
            item = items.get(row["message_id"])
            if item is None:
                if len(items) >= min(limit, MAX_PAGE):
                    break
                item = items[row["message_id"]] = _item(row)
            item["recipients"].append(row["recipient"])
    return list(items.values())


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": row["message_id"],
        "kind": row["kind"],
        "document_id": row["document_id"],
        "business_type": row["business_type"],
        "status_code": row["status_code"],
        "sender": row["sender"],
        "subject": row["subject"],
        "size": row["outgoing_size"] or row["size"],
        "received_at": as_utc(row["created_at"]).isoformat(),
        "recipients": [],
    }


def _rows(hub: Hub, caller: Caller, message_id: str) -> list[Any]:
    authorise(hub.registry, hub.denials, caller, hub.settings.edoc_service, "receive")
    with hub.reader.connect() as conn:
        rows = (
            conn.execute(
                _ITEM.add_columns(
                    edoc_recipients.c.delivery_id,
                    messages.c.payload,
                    messages.c.blob_ref,
                    messages.c.payload_sha256,
                    messages.c.content_type,
                ).where(
                    edoc_recipients.c.message_id == message_id,
                    edoc_recipients.c.system_code == caller.system,
                    edoc_recipients.c.channel == "inbox",
                )
            )
            .mappings()
            .all()
        )
    if not rows:  # not for this system: as if it did not exist
        raise NotFound(f"no document {message_id!r} for system {caller.system}", id=message_id)
    return rows


def fetch(hub: Hub, caller: Caller, message_id: str) -> Payload:
    """The document as the hub delivers it (its hop appended, signed), or as received."""
    row = _rows(hub, caller, message_id)[0]
    if row["outgoing_ref"]:
        return hub.blobs.payload(
            row["outgoing_ref"], row["outgoing_size"], row["outgoing_sha256"], "application/xml"
        )
    return hub.payload(row)


def confirm(hub: Hub, caller: Caller, message_id: str) -> dict[str, Any]:
    """The system has stored the document: its held deliveries are delivered. Confirming
    again changes nothing and says when it was first confirmed."""
    rows = _rows(hub, caller, message_id)
    now = utcnow()
    for row in rows:
        if row["confirmed_at"] is not None:
            continue
        delivery_id, recipient = row["delivery_id"], row["recipient"]

        def mark(conn, recipient=recipient):
            done = conn.execute(
                update(edoc_recipients)
                .where(
                    edoc_recipients.c.message_id == message_id,
                    edoc_recipients.c.recipient == recipient,
                    edoc_recipients.c.confirmed_at.is_(None),
                )
                .values(confirmed_at=now)
            )
            conn.execute(
                update(edoc_recipients)
                .where(
                    edoc_recipients.c.message_id == message_id,
                    edoc_recipients.c.recipient == recipient,
                    edoc_recipients.c.state == "pending",
                )
                .values(state="sent", state_at=now)
            )
            if done.rowcount != 1:
                raise _AlreadyConfirmed

        try:
            transition(
                hub,
                delivery_id,
                message_id,
                Status.DELIVERED,
                [
                    Event(
                        message_id,
                        EventKind.DELIVERED,
                        delivery_id=delivery_id,
                        connector="inbox",
                        remote_status="confirmed",
                        attempt=1,
                        at=now,
                        details={
                            "service": hub.settings.edoc_service,
                            "system": caller.system,
                            "recipient": recipient,
                        },
                    )
                ],
                also=mark,
                attempts=1,
                remote_status="confirmed",
                last_error=None,
                next_attempt_at=None,
            )
        except _AlreadyConfirmed:  # a concurrent confirmation won: nothing written
            pass
    with hub.reader.connect() as conn:
        first = conn.execute(
            select(edoc_recipients.c.confirmed_at).where(
                edoc_recipients.c.message_id == message_id,
                edoc_recipients.c.system_code == caller.system,
            )
        ).scalars()
        confirmed = min(as_utc(t) for t in first if t is not None)
    return {"id": message_id, "confirmed_at": confirmed.isoformat()}


class _AlreadyConfirmed(Exception):
    """Raised inside the confirming transaction to roll it back."""
