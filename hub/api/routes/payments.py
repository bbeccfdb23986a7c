"""Payments (``hub.payments``): initiate one, read it (refreshed by a QUERY on request), its
bill, the ledger for admins, and the payment platform's callback.

Every route but the callback needs an API key. The callback has none — the platform proves
itself by ``MaXacThuc`` — so its body is bounded (``LGSP_PAYMENT_MAX_BODY_BYTES``, 413 on a
declared or streamed excess, never read whole), must be JSON (415 otherwise) and is parsed
strictly (400 on malformed, duplicated or too deeply nested JSON) before anything else looks at
it. Bodies are read in async dependencies, so the routes themselves run on worker threads and
a slow store never stalls the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hub.api.deps import AdminDep, CallerDep, HubDep
from hub.api.models import KEY_SCHEMES, Page, errors
from hub.api.routes.messages import submission_from
from hub.content import media_family
from hub.errors import PayloadTooLarge, UnsupportedMediaType
from hub.payload import Payload
from hub.payments import callbacks, ledger, partner
from hub.payments.initiate import initiate
from hub.payments.ledger import State

__all__ = ["router"]

router = APIRouter(prefix="/v1/payments", tags=["payments"])

Reference = Annotated[str, Path(min_length=1, max_length=100, description="MaThamChieu")]
JSON_ONLY = {415: "`unsupported_media_type`: the body is not `application/json`"}
UPSTREAM = {
    502: "`upstream_failed`: the payment platform failed or refused",
    504: "`upstream_failed`: the payment platform did not answer in time",
}


class Initiated(BaseModel):
    MaThamChieu: str
    UrlThanhToan: str = Field(description="Where the citizen pays (the platform's page)")
    message_id: str = Field(description="The INIT call's message: its trace")


class Payment(BaseModel):
    """A ledger row. The reference and the dossier are shown masked where they hold a
    citizen's ID-like number; filters use the exact value."""

    id: str
    MaThamChieu: str
    MaDoiTac: str
    SoTien: int
    MaTienTe: str
    MaHoSo: str | None
    state: State
    UrlThanhToan: str | None
    MaGiaoDich: str | None
    MaLoi: str | None
    settled_at: datetime | None = Field(description="ThoiGianGD of the payment, when told")
    system: str = Field(description="The system that initiated it")
    connector: str
    message_id: str
    initiated_at: datetime
    updated_at: datetime
    checked_at: datetime | None = Field(description="The last reconciliation QUERY")
    checks: int


async def _json_body(request: Request, hub: HubDep) -> bytes:
    """At most ``LGSP_PAYMENT_MAX_BODY_BYTES`` of a JSON body; 415 and 413 before reading what
    it need not."""
    if media_family(request.headers.get("content-type", "")) != "json":
        raise UnsupportedMediaType(
            "the body must be application/json", accepted=["application/json"]
        )
    limit = hub.settings.payment_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _caller_body(request: Request, hub: HubDep, _caller: CallerDep) -> bytes:
    """The INIT body, read only once the caller is authenticated."""
    return await _json_body(request, hub)


CallbackBody = Annotated[bytes, Depends(_json_body)]
InitBody = Annotated[bytes, Depends(_caller_body)]

INIT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The INIT business part; the connector adds the protocol fields",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["MaThamChieu", "SoTien", "ThongTinBienLai"],
                    "properties": {
                        "MaThamChieu": {"type": "string", "maxLength": 100},
                        "SoTien": {"type": ["integer", "string"], "description": "VND"},
                        "ThongTinGiaoDich": {"type": "string"},
                        "Ip": {"type": "string", "description": "The citizen's address"},
                        "ThongTinBienLai": {
                            "type": "object",
                            "description": "MaTTHC, MaDVC (= MaTTHC + '.01', filled in), "
                            "MaDonVi, MaHoSo, TKThuHuong, MaNHThuHuong, HoTenNguoiNop, "
                            "SoCMNDNguoiNop, PhiLePhi[], DSKhoanNop[]",
                        },
                    },
                }
            }
        },
    }
}
CALLBACK_BODY = {
    "requestBody": {
        "required": True,
        "description": "The platform's callback, signed by MaXacThuc",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": list(callbacks.REQUIRED),
                    "properties": {
                        name: {"type": ["string", "integer"] if name == "SoTien" else "string"}
                        for name in callbacks.LIMITS
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=201,
    summary="Initiate a payment: INIT on the payment platform, recorded in the ledger",
    dependencies=KEY_SCHEMES,
    response_model=Initiated,
    openapi_extra=INIT_BODY,
    responses=errors(
        400,
        401,
        403,
        413,
        503,
        notes={
            **JSON_ONLY,
            **UPSTREAM,
            404: "`not_found`: the payment service is not registered",
            409: "`conflict`: this MaThamChieu was already initiated",
            422: "`schema_violation` (`details.errors[*].path` names the field), `no_route`, or "
            "`local_failure` (the connector could not build the INIT, e.g. a MaDVC that "
            "contradicts MaTTHC)",
        },
    ),
)
def initiate_payment(
    request: Request, hub: HubDep, caller: CallerDep, body: InitBody
) -> JSONResponse:
    envelope = submission_from(request, Payload.of(b"", "application/json"), "", [])
    done = initiate(hub, caller, body, envelope, hub.settings)
    return JSONResponse(
        {
            "MaThamChieu": done.reference,
            "UrlThanhToan": done.payment_url,
            "message_id": done.message_id,
        },
        status_code=201,
    )


@router.post(
    "/callback",
    summary="The payment platform's callback (authenticated by MaXacThuc, not by an API key)",
    response_model=dict[str, str],
    openapi_extra=CALLBACK_BODY,
    responses={
        200: {"description": "Recorded (or a replay of a recorded one): the configured reply"},
        **errors(
            400,
            413,
            503,
            notes={
                **JSON_ONLY,
                401: "`unauthenticated`: wrong MaXacThuc or unknown MaDoiTac (recorded as a "
                "denial)",
                404: "`unknown_transaction`: no such transaction (the callback is kept)",
                409: "`amount_mismatch` (the amount differs from the ledger's) or `conflict` "
                "(paid twice); kept for an admin",
                422: "`schema_violation`: a field is missing or invalid "
                "(`details.errors[*].path` names it)",
            },
        ),
    },
)
def payment_callback(request: Request, hub: HubDep, body: CallbackBody) -> dict[str, str]:
    address = request.client.host if request.client else None
    return callbacks.receive(hub, body, address, hub.settings)


@router.get(
    "",
    summary="The payment ledger, newest first, with a cursor (admins)",
    dependencies=KEY_SCHEMES,
    response_model=Page[Payment],
    responses=errors(401, 403, 422, 503),
)
def list_payments(
    hub: HubDep,
    admin: AdminDep,
    state: Annotated[list[State], Query(description="Only these states")] = [],  # noqa: B006
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        return ledger.page(conn, cursor, limit, [s.value for s in state])


@router.get(
    "/{reference}",
    summary="One payment (its initiating system or an admin); `refresh=true` QUERYs it now",
    dependencies=KEY_SCHEMES,
    response_model=Payment,
    responses=errors(
        401,
        503,
        notes={
            **UPSTREAM,
            404: "`not_found`: no such payment (or not the caller's)",
            422: "`invalid_request`: a parameter is invalid, or `local_failure`",
        },
    ),
)
def get_payment(
    reference: Reference,
    hub: HubDep,
    caller: CallerDep,
    refresh: Annotated[bool, Query(description="Ask the platform first (QUERY)")] = False,
) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        row = ledger.find(conn, reference, caller)
    if refresh:
        row = partner.refresh(hub, row)
    return ledger.shown(row)


@router.get(
    "/{reference}/bill",
    summary="The platform's bill of a payment (GET_BILL), as it gives it",
    dependencies=KEY_SCHEMES,
    response_model=dict[str, Any],
    responses=errors(
        401,
        503,
        notes={
            **UPSTREAM,
            404: "`not_found`: no such payment (or not the caller's)",
            422: "`invalid_request`: a parameter is invalid, or `local_failure`",
        },
    ),
)
def get_bill(reference: Reference, hub: HubDep, caller: CallerDep) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        row = ledger.find(conn, reference, caller)
    return partner.bill(hub, row)
