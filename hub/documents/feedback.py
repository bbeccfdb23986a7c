"""Status feedback: a status message moves its document's recipient along
sent → arrived (01) → accepted (03) → assigned (04) → processing (05) → finished (06), or to
rejected (02); a take-back request (13) and its answer (15 agreed, 16 refused) are recorded the
same way. The document's own trace gets a ``feedback`` event, so ``lgsp trace`` of a document
shows its replies.

The status message names its document by ``ResponseFor/DocumentId``. The recipient it is about
is its sender (``From``), except for 13, which goes the other way: the document's sender asks
the recipient (``ResponseFor/OrganId``) to give the document back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from hub.directory import resolve
from hub.edxml.model import StatusCode, StatusMessage
from hub.events import Event, record
from hub.model import EventKind
from hub.store.tables import edoc_recipients, edocs, messages

__all__ = ["PROGRESS", "STATES", "apply"]

STATES = {
    StatusCode.ARRIVED: "arrived",
    StatusCode.REJECTED: "rejected",
    StatusCode.ACCEPTED: "accepted",
    StatusCode.ASSIGNED: "assigned",
    StatusCode.PROCESSING: "processing",
    StatusCode.FINISHED: "finished",
    StatusCode.TAKE_BACK: "take_back_requested",
    StatusCode.CHANGE_AGREED: "change_agreed",
    StatusCode.CHANGE_REFUSED: "change_refused",
}
# The forward path: a late 03 after a 05 does not move a recipient back.
PROGRESS = ("pending", "sent", "arrived", "accepted", "assigned", "processing", "finished")


def apply(conn: Connection, status: StatusMessage, status_message_id: str, at: datetime) -> None:
    """Correlate ``status`` to its document and move that recipient (inside the caller's
    transaction). A status for a document this hub never carried is stored and forwarded all
    the same; it just has nothing to move."""
    document_id, code = status.document_id, status.status_code
    if document_id is None or code is None:
        return
    try:
        state = STATES[StatusCode(code)]
    except ValueError:
        return
    if code == StatusCode.TAKE_BACK:
        about = status.recipients[0] if status.recipients else None
    else:
        about = status.sender
    if about is None:
        return
    recipient = resolve(conn, about).code
    found = conn.execute(
        select(edoc_recipients.c.message_id, edoc_recipients.c.state)
        .join(edocs, edocs.c.message_id == edoc_recipients.c.message_id)
        .where(
            edocs.c.document_id == document_id,
            edocs.c.kind == "edoc",
            edoc_recipients.c.recipient == recipient,
        )
        .order_by(edocs.c.created_at.desc())
        .limit(1)
    ).first()
    if found is None:
        return
    document_message, current = found
    if _moves(current, state):
        conn.execute(
            update(edoc_recipients)
            .where(
                edoc_recipients.c.message_id == document_message,
                edoc_recipients.c.recipient == recipient,
            )
            .values(state=state, state_at=at)
        )
    document_status = conn.execute(
        select(messages.c.status).where(messages.c.id == document_message)
    ).scalar_one()
    record(
        conn,
        [
            Event(
                document_message,
                EventKind.FEEDBACK,
                at=at,
                remote_status=code,
                details={
                    "recipient": recipient,
                    "state": state,
                    "status_message": status_message_id,
                    "status_sender": status.sender,
                },
            )
        ],
        {document_message: document_status},
    )


def _moves(current: str, new: str) -> bool:
    """Progress only moves forward; anything else (rejected, a take-back and its answer) is
    what the recipient said last."""
    if new in PROGRESS and current in PROGRESS:
        return PROGRESS.index(new) > PROGRESS.index(current)
    return True
