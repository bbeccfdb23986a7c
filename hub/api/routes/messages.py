"""Messages: submit (202 with the id), read one with its trace, search with a cursor.

A message is the request body itself — JSON or raw XML, no wrapping — and its envelope comes
from the query and headers: ``?service=CODE&recipient=AGENCY…``, ``Idempotency-Key``,
``X-Correlation-Id``, ``X-Causation-Id``, and any ``X-LGSP-*`` header (kept, and usable by route
conditions).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exists, select

from hub.api.deps import BodyDep, CallerDep, HubDep
from hub.errors import NotFound
from hub.events import trace, verify_chain
from hub.pipeline import Caller, Submission, submit
from hub.store.db import as_utc
from hub.store.tables import deliveries, messages

router = APIRouter(prefix="/v1/messages", tags=["messages"])

SUMMARY = [c for c in messages.c if c.name not in ("payload", "blob_ref")]


def submission_from(request: Request, body: bytes, service: str,
                    recipients: list[str]) -> Submission:
    h = request.headers
    return Submission(
        service=service, recipients=recipients, body=body,
        content_type=h.get("content-type", "application/octet-stream"),
        idempotency_key=h.get("idempotency-key"), correlation_id=h.get("x-correlation-id"),
        causation_id=h.get("x-causation-id"),
        headers={k: v for k, v in h.items() if k.startswith("x-lgsp-")})


@router.post("", status_code=202, summary="Submit a message (JSON or XML body)")
def submit_message(request: Request, hub: HubDep, caller: CallerDep, body: BodyDep,
                   service: Annotated[str, Query(min_length=1, max_length=100)],
                   recipient: Annotated[list[str], Query()] = []) -> JSONResponse:  # noqa: B006
    accepted = submit(hub, caller, submission_from(request, body, service, recipient))
    return JSONResponse({"id": accepted.id, "duplicate": accepted.duplicate,
                         "trace": f"/v1/messages/{accepted.id}"},
                        status_code=200 if accepted.duplicate else 202)


def _visible(query, caller: Caller):
    """A system sees what it sent; an admin sees everything."""
    return query if caller.is_admin else query.where(messages.c.sender_system == caller.system)


def _summary(row) -> dict[str, Any]:
    return dict(row, created_at=as_utc(row["created_at"]), updated_at=as_utc(row["updated_at"]))


@router.get("/{message_id}", summary="A message with its deliveries and trace")
def get_message(message_id: str, hub: HubDep, caller: CallerDep) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        row = conn.execute(_visible(select(*SUMMARY).where(messages.c.id == message_id),
                                    caller)).mappings().first()
        if row is None:
            raise NotFound(f"message {message_id!r} does not exist or is not yours")
        targets = conn.execute(select(deliveries).where(deliveries.c.message_id == message_id)
                               .order_by(deliveries.c.id)).mappings().all()
        events = trace(conn, message_id)
    problems = verify_chain(events)
    return {**_summary(row),
            "deliveries": [_summary(d) | {"next_attempt_at": as_utc(d["next_attempt_at"])}
                           for d in targets],
            "events": [{k: v for k, v in e.items() if k not in ("prev_hash",)} for e in events],
            "trace_intact": not problems, "trace_problems": problems}


@router.get("", summary="Search messages, newest first, with a cursor")
def search_messages(
    hub: HubDep, caller: CallerDep,
    sender: str | None = None, recipient: str | None = None, service: str | None = None,
    status: str | None = None, since: datetime | None = None, until: datetime | None = None,
    document_id: str | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    query = _visible(select(*SUMMARY), caller)
    if sender:
        query = query.where((messages.c.sender_system == sender)
                            | (messages.c.sender_agency == sender))
    if recipient:
        query = query.where(exists().where(deliveries.c.message_id == messages.c.id,
                                           deliveries.c.recipient == recipient))
    if service:
        query = query.where(messages.c.service_code == service)
    if status:
        query = query.where(messages.c.status == status)
    if since:
        query = query.where(messages.c.created_at >= since)
    if until:
        query = query.where(messages.c.created_at < until)
    if document_id:
        query = query.where(messages.c.document_id == document_id)
    if cursor:
        query = query.where(messages.c.id < cursor)
    with hub.reader.connect() as conn:
        rows = conn.execute(query.order_by(messages.c.id.desc()).limit(limit + 1)).mappings().all()
    items = [_summary(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}
