"""The document service in SOAP 1.1 (document/literal), for document-management systems (QLVB)
that do not speak REST: ``POST /soap/qlvb``, its contract at ``GET /soap/qlvb?wsdl``
(``hub/api/qlvb.wsdl``, its ``soap:address`` the URL the client used).

Each operation is a REST one of ``/v1/documents`` (or the directory's) in another envelope,
backed by the same functions: ``SendDocument`` and ``UpdateTraces`` → ``admission.submit``,
``GetPendingDocumentIds`` / ``GetDocument`` / ``ConfirmReceived`` → ``inbox``, ``GetTraces`` →
``timeline.document``, ``GetOrganizations`` → ``directory.search``. The caller is authenticated
by the REST dependency (``get_caller``: ``X-API-Key`` or ``Authorization: Bearer``) before the
body is read, so denials, access rules and what a refusal says are the same. The operation is
the Body's element, not the ``SOAPAction`` header (a mismatch is not refused).

Size and memory. The envelope is parsed as it arrives and ``edxml`` decoded into the blob
store (``qlvb_soap_ops.CallReader``); ``GetDocument`` encodes the stored document as it is
sent. A ~50 MB document each way grows the peak RSS by under 10 MiB. ``SendDocument``'s edXML,
decoded, has REST's limit (``LGSP_EDOC_MAX_BODY_BYTES``); ``UpdateTraces``'s the general one
(``LGSP_MAX_BODY_BYTES``); any other call's envelope 1 MiB.

Faults. SOAP 1.1 (§6.2) answers a fault with HTTP 500; this service does not, for the hub's
rule that bad input is a structured 4xx, never a 5xx: a ``soap:Client`` fault carries the hub
error's own status (400 malformed or hostile XML, 401, 403, 404, 413, 422), so proxies, logs
and metrics see the caller's mistake as one. ``soap:Server`` is 500 (a bug, logged once with
its traceback) or 503 with ``Retry-After`` (the store or broker is down: nothing changed, try
again). SOAP clients read a fault whatever the status (zeep does). ``faultstring`` is the hub's
message; ``detail/q:HubFault`` its ``code``, ``details.errors`` (``path``, ``message``) and
other details by name. These routes are not in the OpenAPI document: the WSDL is their contract.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any
from xml.sax.saxutils import escape

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from sqlalchemy import select

from hub import directory
from hub.api.deps import SPOOL_CHUNK, HubDep, get_caller
from hub.api.qlvb_soap_ops import (
    CALL_MAX_BYTES,
    Call,
    CallReader,
    EnvelopeError,
    Spec,
    answer,
    answer_around,
    fault,
    fields,
)
from hub.api.routes.messages import submission_from
from hub.context import Hub
from hub.documents import admission, inbox, timeline
from hub.edxml import reader
from hub.errors import HubError, PayloadTooLarge, RequestError, SchemaViolation, Unavailable
from hub.model import Caller
from hub.outage import as_unavailable, kind_of, outages
from hub.pipeline import admitted_service
from hub.store.tables import edocs

__all__ = ["PATH", "router"]

log = logging.getLogger(__name__)

PATH = "/soap/qlvb"
XML = "text/xml; charset=utf-8"
_ADDRESS = "http://hub.invalid/soap/qlvb"  # the WSDL's placeholder soap:address

router = APIRouter(tags=["documents"], include_in_schema=False)


@cache
def _wsdl() -> str:
    return files("hub.api").joinpath("qlvb.wsdl").read_text(encoding="utf-8")


@router.get(PATH)
async def contract(request: Request) -> Response:
    """The WSDL (``?wsdl``), open like the OpenAPI document: a contract, not data."""
    if "wsdl" not in {name.lower() for name in request.query_params}:
        return PlainTextResponse("SOAP 1.1 document service; GET ?wsdl for its contract\n")
    location = str(request.base_url).rstrip("/") + PATH
    text = _wsdl().replace(_ADDRESS, escape(location, {'"': "&quot;"}))
    return Response(text, media_type=XML)


@router.post(PATH)
async def call(request: Request, hub: HubDep) -> Response:
    """Authenticate, read the envelope, run its operation; any refusal or failure a fault."""
    operation = None
    try:
        caller = await get_caller(request, hub)
        found = await _receive(request, hub)
        operation = found.operation
        run = _OPERATIONS[operation]
        return await anyio.to_thread.run_sync(run, request, hub, caller, found)
    except HubError as exc:
        return _fault(exc)
    except Exception as exc:
        outage = as_unavailable(exc)
        if outage is not None:
            return _fault(outage, cause=exc)
        log.exception("unhandled error in SOAP %s", operation or "request")
        return _fault(HubError("internal error; see the hub's log"))


async def _receive(request: Request, hub: Hub) -> Call:
    """The envelope read as it arrives, a block at a time on a worker thread (see
    ``CallReader``); nothing of it is kept but the call's values and its decoded edXML."""
    settings = hub.settings
    limits = {
        "edoc": settings.edoc_max_body_bytes,
        "body": min(settings.max_body_bytes, settings.edoc_max_body_bytes),
        "call": settings.max_body_bytes,
    }
    most = max(limits.values()) * 4 // 3 + CALL_MAX_BYTES  # a document, base64-encoded
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > most:
        raise PayloadTooLarge(f"body exceeds {most} bytes", limit=most)
    found = CallReader(hub.blobs, settings.blob_threshold_bytes, limits)
    try:
        chunks: list[bytes] = []
        buffered = 0
        async for chunk in request.stream():
            chunks.append(chunk)
            buffered += len(chunk)
            if buffered >= SPOOL_CHUNK:
                await anyio.to_thread.run_sync(found.feed, b"".join(chunks))
                chunks, buffered = [], 0
        return await anyio.to_thread.run_sync(found.finish, b"".join(chunks))
    except BaseException:
        found.abort()
        raise


def _fault(exc: HubError, cause: BaseException | None = None) -> Response:
    if isinstance(exc, RequestError):
        code, status = getattr(exc, "faultcode", "Client"), exc.status
    else:
        code, status = "Server", exc.status if exc.status >= 500 else 500
    retry_after = getattr(exc, "retry_after_seconds", None)
    if isinstance(exc, Unavailable):
        outages.failed(kind_of(exc), "api", cause or exc)
    return Response(
        fault(exc, code),
        status_code=status,
        media_type=XML,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
    )


# -- the operations (on a worker thread) ---------------------------------------------------------
ACCEPTED = fields("id", "duplicate", "documentId")
PENDING = (
    (
        "documents",
        fields(
            "id",
            "kind",
            "documentId",
            "businessType",
            "statusCode",
            "sender",
            "subject",
            "size",
            "receivedAt",
            "recipients",
        ),
    ),
)
STEP = fields("statusCode", "state", "at", "statusMessage")
RECIPIENT = (
    *fields(
        "recipient",
        "recipientOriginal",
        "channel",
        "system",
        "deliveryStatus",
        "confirmedAt",
        "state",
        "stateAt",
    ),
    ("timeline", STEP),
)
DOCUMENT = (
    *fields(
        "messageId",
        "businessType",
        "sender",
        "senderOriginal",
        "subject",
        "direction",
        "signature",
        "signer",
        "status",
        "size",
        "receivedAt",
    ),
    ("warnings", fields("path", "message")),
    ("attachments", fields("contentId", "name", "contentType", "size", "sha256")),
    ("recipients", RECIPIENT),
)
STATUS = fields(
    "messageId", "statusCode", "sender", "recipients", "direction", "signature", "status",
    "receivedAt",
)  # fmt: skip
TRACES: Spec = (("documentId", None), ("documents", DOCUMENT), ("statusMessages", STATUS))
ORGANIZATIONS: Spec = (
    ("organizations", fields("code", "name", "parentCode", "level", "state")),
    ("nextCursor", None),
)


def _xml(data: bytes) -> Response:
    return Response(data, media_type=XML)


def _accepted(operation: str, hub: Hub, message_id: str, duplicate: bool) -> Response:
    """The answer to a submission, with the document id the message was filed under (also
    the first message's, for a duplicate)."""
    with hub.reader.connect() as conn:
        document_id = conn.execute(
            select(edocs.c.document_id).where(edocs.c.message_id == message_id)
        ).scalar()
    values = {"id": message_id, "duplicate": duplicate, "document_id": document_id}
    return _xml(answer(operation, ACCEPTED, values))


def _send_document(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    assert call.document is not None
    sub = submission_from(
        request, call.document, hub.settings.edoc_service, call.values.get("recipients", [])
    )
    accepted = admission.submit(hub, caller, sub)
    return _accepted("SendDocument", hub, accepted.id, accepted.duplicate)


def _update_traces(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    """``SendDocument`` for a status message only: anything else is refused before it is
    submitted (after the access rule, as a submission would check it first)."""
    assert call.document is not None
    sub = submission_from(request, call.document, hub.settings.edoc_service, [])
    admitted_service(hub, caller, sub, "submit")
    document = call.document
    message = reader.read(document.data if document.data is not None else document.path)
    if message.kind != "status":
        raise SchemaViolation(
            "UpdateTraces takes a status message; send a document with SendDocument",
            errors=[
                {
                    "path": "Envelope/Body/UpdateTraces/edxml",
                    "message": f"an edXML {message.kind}, not a status message",
                }
            ],
        )
    accepted = admission.submit(hub, caller, sub)
    return _accepted("UpdateTraces", hub, accepted.id, accepted.duplicate)


def _page_size(call: Call, default: int, most: int) -> int:
    given = call.value("limit")
    if given is None:
        return default
    if not given.isdigit() or not 1 <= int(given) <= most:
        raise EnvelopeError(
            f"Envelope/Body/{call.operation}/limit", f"a whole number from 1 to {most}"
        )
    return int(given)


def _pending(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    items = inbox.pending(hub, caller, _page_size(call, 100, inbox.MAX_PAGE))
    return _xml(answer(call.operation, PENDING, {"documents": items}))


def _document(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    """The edXML base64-encoded as it is read from the blob store: one block in memory."""
    message_id = call.value("id") or ""
    content = inbox.fetch(hub, caller, message_id)
    values = {"id": message_id, "size": content.size, "sha256": content.sha256}
    length, pieces = answer_around(
        call.operation, fields("id", "size", "sha256"), values, "edxml", content
    )
    return StreamingResponse(pieces, media_type=XML, headers={"Content-Length": str(length)})


def _confirm(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    confirmed = inbox.confirm(hub, caller, call.value("id") or "")
    return _xml(answer(call.operation, fields("id", "confirmedAt"), confirmed))


def _traces(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    view = timeline.document(hub, caller, call.value("documentId") or "")
    return _xml(answer(call.operation, TRACES, view))


def _organizations(request: Request, hub: Hub, caller: Caller, call: Call) -> Response:
    page = directory.search(
        hub, call.value("query"), cursor=call.value("cursor"), limit=_page_size(call, 50, 500)
    )
    values = {"organizations": page["items"], "next_cursor": page["next_cursor"]}
    return _xml(answer(call.operation, ORGANIZATIONS, values))


_OPERATIONS: dict[str, Callable[[Request, Hub, Caller, Call], Any]] = {
    "SendDocument": _send_document,
    "UpdateTraces": _update_traces,
    "GetPendingDocumentIds": _pending,
    "GetDocument": _document,
    "ConfirmReceived": _confirm,
    "GetTraces": _traces,
    "GetOrganizations": _organizations,
}
