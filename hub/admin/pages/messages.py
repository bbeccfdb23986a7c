"""Find a message and read its trace. The search takes any of message id, document id,
sender, recipient, service, status and a time range (typed in Ho Chi Minh City time), newest
first, a page at a time by cursor. A message id goes straight to that message. The trace shows
every step with its time, duration, attempt, connector, partner status, error and details
(route, schema, mapping, who replayed and why), the payload's first bytes with personal data
masked, and for an edXML document its header fields and each recipient's status chain."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from hub import trace
from hub.admin.i18n import parse_local
from hub.admin.sessions import Session
from hub.admin.web import HEADERS, PREFIX, OperatorDep, render
from hub.context import Hub
from hub.documents.timeline import document
from hub.errors import NotFound, SchemaViolation
from hub.model import Status
from hub.security import mask_text
from hub.store.tables import edocs, messages

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 50
PREVIEW_BYTES = 4096
FIELDS = ("id", "document_id", "sender", "recipient", "service", "status", "since", "until")


def _filters(query: dict[str, str]) -> trace.MessageFilters:
    try:
        since, until = parse_local(query.get("since")), parse_local(query.get("until"))
    except ValueError:
        raise SchemaViolation(
            "a time is not valid (dd/mm/yyyy hh:mm)",
            errors=[{"path": "/since", "message": "not a time"}],
        ) from None
    status = query.get("status") or None
    if status and status not in {s.value for s in Status}:
        raise SchemaViolation(
            f"unknown status {status!r}", errors=[{"path": "/status", "message": "unknown"}]
        )
    return trace.MessageFilters(
        sender=query.get("sender") or None,
        recipient=query.get("recipient") or None,
        service=query.get("service") or None,
        status=status,
        since=since,
        until=until,
        document_id=query.get("document_id") or None,
    )


@router.get("/messages")
async def search(request: Request, session: OperatorDep) -> Response:
    query = {k: v.strip() for k, v in request.query_params.items() if k in (*FIELDS, "cursor")}
    hub: Hub = request.app.state.hub
    if query.get("id"):
        target = f"{PREFIX}/messages/{quote(query['id'], safe='')}"
        return RedirectResponse(target, status_code=303, headers=HEADERS)
    filters = _filters(query)
    cursor = query.get("cursor") or None

    def run() -> dict[str, Any]:
        with hub.reader.connect() as conn:
            return trace.search(conn, session.caller, filters, cursor, PAGE)

    page = await anyio.to_thread.run_sync(run)
    more = {k: v for k, v in query.items() if k != "cursor" and v}
    return render(
        request,
        "messages.html",
        page=page,
        query=query,
        more=more,
        statuses=[s.value for s in Status],
    )


def _preview(hub: Hub, message_id: str) -> str | None:
    """The payload's first bytes as text, personal data masked; JSON pretty-printed."""
    with hub.reader.connect() as conn:
        row = conn.execute(
            select(messages.c.payload, messages.c.blob_ref).where(messages.c.id == message_id)
        ).first()
    if row is None:
        return None
    if row.payload is not None:
        head = bytes(row.payload[:PREVIEW_BYTES])
    elif row.blob_ref:
        try:
            with hub.blobs.path(row.blob_ref).open("rb") as f:
                head = f.read(PREVIEW_BYTES)
        except OSError:
            return None
    else:
        return None
    text = head.decode("utf-8", errors="replace")
    try:
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        pass
    return mask_text(text)


def _document(hub: Hub, session: Session, message_id: str) -> dict[str, Any] | None:
    """The edXML document (or status message) this message carries, with its siblings."""
    with hub.reader.connect() as conn:
        document_id = conn.execute(
            select(edocs.c.document_id).where(edocs.c.message_id == message_id)
        ).scalar()
    if not document_id:
        return None
    try:
        return document(hub, session.caller, document_id)
    except NotFound:
        return None


def _gaps(events: list[dict[str, Any]]) -> None:
    """Each step's time since the step before (``gap_ms``): how long the message waited there."""
    previous = None
    for event in events:
        event["gap_ms"] = (
            (event["at"] - previous).total_seconds() * 1000 if previous is not None else None
        )
        previous = event["at"]


@router.get("/messages/{message_id}")
async def one(request: Request, message_id: str, session: OperatorDep) -> Response:
    hub: Hub = request.app.state.hub

    def run() -> dict[str, Any]:
        with hub.reader.connect() as conn:
            found = trace.message(conn, message_id, session.caller)
        _gaps(found["events"])
        answers = {
            e["delivery_id"]: e["details"]["answer"]
            for e in found["events"]
            if e["delivery_id"] and e["details"] and e["details"].get("answer")
        }
        return {
            "answers": answers,
            "message": found,
            "preview": _preview(hub, message_id),
            "edoc": _document(hub, session, message_id),
        }

    context = await anyio.to_thread.run_sync(run)
    return render(request, "message.html", **context)
