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

from hub import trace
from hub.api.deps import CallerDep, HubDep, PayloadDep
from hub.api.models import (
    KEY_SCHEMES,
    PAYLOAD_BODY,
    Accepted,
    MessageSummary,
    MessageTrace,
    Page,
    errors,
)
from hub.documents import admission
from hub.model import Submission
from hub.payload import Payload
from hub.pipeline import submit

__all__ = ["router", "submission_from"]

router = APIRouter(prefix="/v1/messages", tags=["messages"], dependencies=KEY_SCHEMES)


def submission_from(
    request: Request, payload: Payload, service: str, recipients: list[str]
) -> Submission:
    h = request.headers
    return Submission(
        service=service,
        recipients=recipients,
        payload=payload,
        idempotency_key=h.get("idempotency-key"),
        correlation_id=h.get("x-correlation-id"),
        causation_id=h.get("x-causation-id"),
        headers={k: v for k, v in h.items() if k.startswith("x-lgsp-")},
    )


@router.post(
    "",
    status_code=202,
    summary="Submit a message (JSON or XML body)",
    response_model=Accepted,
    openapi_extra=PAYLOAD_BODY,
    responses={
        200: {
            "model": Accepted,
            "description": "A known idempotency key: the first "
            "message's id, with `duplicate: true`",
        },
        **errors(
            400,
            401,
            403,
            404,
            413,
            415,
            503,
            notes={
                422: "`invalid_request` (a parameter), `schema_violation` (the payload; "
                "`details.errors[*].path` names the field) or `no_route`"
            },
        ),
    },
)
def submit_message(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    body: PayloadDep,
    service: Annotated[str, Query(min_length=1, max_length=100)],
    recipient: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies it
) -> JSONResponse:
    sub = submission_from(request, body, service, recipient)
    if service == hub.settings.edoc_service:  # a document: recipients and routes from its edXML
        accepted = admission.submit(hub, caller, sub)
    else:
        accepted = submit(hub, caller, sub)
    return JSONResponse(
        {
            "id": accepted.id,
            "duplicate": accepted.duplicate,
            "trace": f"/v1/messages/{accepted.id}",
        },
        status_code=200 if accepted.duplicate else 202,
    )


@router.get(
    "/{message_id}",
    summary="A message with its deliveries and trace",
    response_model=MessageTrace,
    responses=errors(401, 404, 422, 503),
)
def get_message(message_id: str, hub: HubDep, caller: CallerDep) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        return trace.message(conn, message_id, caller)


@router.get(
    "",
    summary="Search messages, newest first, with a cursor",
    response_model=Page[MessageSummary],
    responses=errors(401, 422, 503),
)
def search_messages(
    hub: HubDep,
    caller: CallerDep,
    sender: Annotated[str | None, Query(description="System or agency code")] = None,
    recipient: Annotated[str | None, Query(description="Agency code")] = None,
    service: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: Annotated[datetime | None, Query(description="Exclusive")] = None,
    document_id: str | None = None,
    correlation_id: str | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    filters = trace.MessageFilters(
        sender=sender,
        recipient=recipient,
        service=service,
        status=status,
        since=since,
        until=until,
        document_id=document_id,
        correlation_id=correlation_id,
    )
    with hub.reader.connect() as conn:
        return trace.search(conn, caller, filters, cursor, limit)
