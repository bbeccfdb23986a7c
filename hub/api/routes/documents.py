"""Documents (edXML): send one, follow it by its document id, and — for a document system —
pick up what the hub holds for it and confirm it.

``POST /v1/documents`` takes an edXML document or status message (``application/xml``), or its
flat JSON form (``application/json``, ``edoc-flat.v1.json``). Recipients come from the
document's ``To`` (a status message's ``ResponseFor``); ``?recipient=`` may narrow them. It is
the queued service ``edoc`` (``LGSP_EDOC_SERVICE``): ``POST /v1/messages?service=edoc`` is the
same thing.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from hub.api.deps import CallerDep, DocumentDep, HubDep
from hub.api.models import KEY_SCHEMES, Accepted, errors
from hub.api.routes.messages import submission_from
from hub.documents import admission, inbox, timeline
from hub.payload import Payload

__all__ = ["router", "submit_document"]

router = APIRouter(prefix="/v1/documents", tags=["documents"], dependencies=KEY_SCHEMES)


class Step(BaseModel):
    status_code: str
    state: str | None
    at: str
    status_message: str


class Recipient(BaseModel):
    recipient: str
    recipient_original: str
    channel: str = Field(description="`inbox`, `push` or `axis` (VDXP)")
    system: str | None
    delivery_status: str
    confirmed_at: str | None
    state: str = Field(
        description="pending, sent, arrived, accepted, assigned, processing, finished, "
        "rejected, take_back_requested, change_agreed, change_refused"
    )
    state_at: str
    timeline: list[Step]


class Document(BaseModel):
    message_id: str
    business_type: str | None = Field(description="0 new, 1 revoke, 2 update, 3 replace")
    sender: str
    sender_original: str
    subject: str | None
    direction: str = Field(description="`out` from a local system, `in` from VDXP")
    signature: str
    signer: str | None
    status: str
    size: int
    received_at: str
    warnings: list[dict[str, str]]
    attachments: list[dict[str, Any]]
    recipients: list[Recipient]


class StatusMessageOut(BaseModel):
    message_id: str
    status_code: str | None
    sender: str
    recipients: list[str]
    direction: str
    signature: str
    status: str
    received_at: str


class DocumentView(BaseModel):
    document_id: str
    documents: list[Document]
    status_messages: list[StatusMessageOut]


class InboxItem(BaseModel):
    id: str
    kind: str = Field(description="`edoc` or `status`")
    document_id: str | None
    business_type: str | None
    status_code: str | None
    sender: str
    subject: str | None
    size: int
    received_at: str
    recipients: list[str]


class Inbox(BaseModel):
    items: list[InboxItem]


class Confirmed(BaseModel):
    id: str
    confirmed_at: str


def submit_document(request: Request, hub, caller, body: Payload, recipients: list[str]):
    accepted = admission.submit(
        hub, caller, submission_from(request, body, hub.settings.edoc_service, recipients)
    )
    return JSONResponse(
        {
            "id": accepted.id,
            "duplicate": accepted.duplicate,
            "trace": f"/v1/messages/{accepted.id}",
        },
        status_code=200 if accepted.duplicate else 202,
    )


@router.post(
    "",
    status_code=202,
    summary="Send a document or status message (edXML, or its flat JSON form)",
    response_model=Accepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "An edXML document or status message (no DOCTYPE, no entities), "
            "or its flat JSON form (edoc-flat.v1.json)",
            "content": {
                "application/xml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
    responses={
        200: {
            "model": Accepted,
            "description": "Already accepted (same document id and business type): the "
            "first message's id, `duplicate: true`",
        },
        **errors(
            400,
            401,
            404,
            413,
            415,
            503,
            notes={
                403: "`forbidden`: no access rule, or the system may not send as the `From` "
                "agency (recorded as a denial)",
                422: "`schema_violation` (`details.errors[*].path` names the edXML element or "
                "JSON field), `signature_invalid` (`details.reason`), `unsigned`, `no_route`",
            },
        ),
    },
)
def send_document(
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    body: DocumentDep,
    recipient: Annotated[
        list[str], Query(description="Narrow the recipients to these (of the document's To)")
    ] = [],  # noqa: B006 - FastAPI copies it
) -> JSONResponse:
    return submit_document(request, hub, caller, body, recipient)


@router.get(
    "",
    summary="A document by its id: the document, its status messages, each recipient's timeline",
    response_model=DocumentView,
    responses=errors(401, 404, 422, 503),
)
def get_document(
    hub: HubDep,
    caller: CallerDep,
    id: Annotated[str, Query(min_length=1, max_length=300, description="The edXML DocumentId")],
) -> dict[str, Any]:
    return timeline.document(hub, caller, id)


@router.get(
    "/inbox",
    summary="What the hub holds for the calling document system, oldest first",
    response_model=Inbox,
    responses=errors(401, 403, 422, 503),
)
def pending(
    hub: HubDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=inbox.MAX_PAGE)] = 100,
) -> dict[str, Any]:
    return {"items": inbox.pending(hub, caller, limit)}


@router.get(
    "/inbox/{message_id}",
    summary="One held document or status message, as edXML",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The edXML, as the hub delivers it",
        },
        **errors(401, 403, 404, 422, 503),
    },
)
def fetch(hub: HubDep, caller: CallerDep, message_id: str) -> StreamingResponse:
    payload = inbox.fetch(hub, caller, message_id)
    return StreamingResponse(
        payload.chunks(),
        media_type="application/xml",
        headers={"Content-Length": str(payload.size), "X-Content-SHA256": payload.sha256},
    )


@router.post(
    "/inbox/{message_id}/confirm",
    summary="The system has stored it: no longer pending (idempotent)",
    response_model=Confirmed,
    responses=errors(401, 403, 404, 422, 503),
)
def confirm(hub: HubDep, caller: CallerDep, message_id: str) -> dict[str, Any]:
    return inbox.confirm(hub, caller, message_id)
