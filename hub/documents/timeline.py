"""The read side of documents: a document id's messages — the document (new, and any update,
revocation or replacement) and every status message about it — with, per recipient, how it
went there and its timeline: sent → arrived → accepted → assigned → processing → finished, or
rejected, each step the status message that said so.

Seen by an admin, by the system that sent a message about it, and by the systems that received
one; to anyone else the document does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.context import Hub
from hub.documents.feedback import STATES
from hub.edxml.model import StatusCode
from hub.errors import NotFound
from hub.model import Caller, Status
from hub.store.db import as_utc
from hub.store.tables import deliveries, edoc_recipients, edocs, messages

__all__ = ["document"]


def document(hub: Hub, caller: Caller, document_id: str) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        rows = (
            conn.execute(
                select(
                    edocs,
                    messages.c.sender_system,
                    messages.c.status,
                    messages.c.recipients,
                    messages.c.size,
                )
                .join(messages, messages.c.id == edocs.c.message_id)
                .where(edocs.c.document_id == document_id)
                .order_by(edocs.c.created_at, edocs.c.message_id)
            )
            .mappings()
            .all()
        )
        ids = [r["message_id"] for r in rows]
        recipients = (
            conn.execute(
                select(edoc_recipients, deliveries.c.status.label("delivery_status"))
                .join(deliveries, deliveries.c.id == edoc_recipients.c.delivery_id)
                .where(edoc_recipients.c.message_id.in_(ids))
            )
            .mappings()
            .all()
        )
    if not rows or not _may_see(caller, rows, recipients):
        raise NotFound(f"no document {document_id!r}", document_id=document_id)
    statuses = [r for r in rows if r["kind"] == "status"]
    per_message: dict[str, list[Any]] = {}
    for r in recipients:
        per_message.setdefault(r["message_id"], []).append(r)
    return {
        "document_id": document_id,
        "documents": [
            _document(r, per_message.get(r["message_id"], []), statuses)
            for r in rows
            if r["kind"] == "edoc"
        ],
        "status_messages": [_status(r, per_message.get(r["message_id"], [])) for r in statuses],
    }


def _may_see(caller: Caller, rows: list[Any], recipients: list[Any]) -> bool:
    if caller.is_admin:
        return True
    systems = {r["sender_system"] for r in rows} | {r["system_code"] for r in recipients}
    return caller.system in systems


def _document(row: Any, recipients: list[Any], statuses: list[Any]) -> dict[str, Any]:
    return {
        "message_id": row["message_id"],
        "business_type": row["business_type"],
        "sender": row["sender"],
        "sender_original": row["sender_original"],
        "subject": row["subject"],
        "direction": row["direction"],
        "signature": row["signature"],
        "signer": row["signer"],
        "status": row["status"],
        "size": row["size"],
        "received_at": as_utc(row["created_at"]).isoformat(),
        "warnings": row["warnings"],
        "attachments": [
            {k: a[k] for k in ("content_id", "name", "content_type", "size", "sha256")}
            for a in row["attachments"]
        ],
        "recipients": [_recipient(r, statuses, row["sender"]) for r in recipients],
    }


def _recipient(row: Any, statuses: list[Any], document_sender: str) -> dict[str, Any]:
    state = row["state"]
    if state == "pending" and row["delivery_status"] == Status.DELIVERED:
        state = "sent"  # the axis or a push connector took it; nobody has answered yet
    steps = [
        {
            "status_code": s["status_code"],
            "state": STATES.get(StatusCode(s["status_code"])) if _known(s) else None,
            "at": as_utc(s["created_at"]).isoformat(),
            "status_message": s["message_id"],
        }
        for s in statuses
        if _about(s, document_sender) == row["recipient"]
    ]
    return {
        "recipient": row["recipient"],
        "recipient_original": row["recipient_original"],
        "channel": row["channel"],
        "system": row["system_code"],
        "delivery_status": row["delivery_status"],
        "confirmed_at": as_utc(row["confirmed_at"]).isoformat() if row["confirmed_at"] else None,
        "state": state,
        "state_at": as_utc(row["state_at"]).isoformat(),
        "timeline": steps,
    }


def _known(status: Any) -> bool:
    return status["status_code"] in {c.value for c in StatusCode}


def _about(status: Any, document_sender: str) -> str | None:
    """Which recipient a status message is about: its sender, or for a take-back (13) the
    agency the document's sender asks."""
    if status["status_code"] == StatusCode.TAKE_BACK:
        return (status["recipients"] or [None])[0]
    return status["sender"] if status["sender"] != document_sender else None


def _status(row: Any, recipients: list[Any]) -> dict[str, Any]:
    return {
        "message_id": row["message_id"],
        "status_code": row["status_code"],
        "sender": row["sender"],
        "recipients": [r["recipient"] for r in recipients],
        "direction": row["direction"],
        "signature": row["signature"],
        "status": row["status"],
        "received_at": as_utc(row["created_at"]).isoformat(),
    }
