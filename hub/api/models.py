"""What the API documents: the error body and the statuses each route can answer with, the
API-key schemes, the shapes of what the read side (``hub.trace``) returns, and the JSON body
of an admin route parsed only once the caller is known to be an admin.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from hub.api.deps import AdminDep, HubDep
from hub.content import loads_yaml
from hub.errors import PayloadTooLarge

__all__ = [
    "ADMIN_ERRORS",
    "KEY_SCHEMES",
    "PAYLOAD_BODY",
    "Accepted",
    "AuditEntry",
    "DeadLetter",
    "Delivery",
    "Denial",
    "Error",
    "MessageSummary",
    "MessageTrace",
    "Page",
    "TraceEvent",
    "errors",
    "json_body",
    "raw_body",
    "yaml_body",
    "request_body",
]


class Error(BaseModel):
    """Every refusal and failure: ``code`` for programs, ``message`` for people, ``details``
    naming what is wrong (``details.errors[*].path`` for invalid fields)."""

    code: str
    message: str
    details: dict[str, Any]


# The codes each status can carry; a route may describe one status more precisely.
STATUS_CODES: dict[int, str] = {
    400: "`malformed_input` (not JSON, not well-formed XML) or `hostile_input` (a DOCTYPE or "
    "an entity declaration, refused before anything is expanded)",
    401: "`unauthenticated`: no API key, or one that is unknown or revoked (recorded as a denial)",
    403: "`forbidden`: the caller may not do this (recorded as a denial)",
    404: "`not_found`",
    409: "`conflict`",
    413: "`payload_too_large`: the body is over the hub's limit",
    415: "`unsupported_media_type`: the body's type is not the service's",
    422: "`invalid_request`: a parameter or a body field is invalid "
    "(`details.errors[*].path` names it)",
    502: "`upstream_failed`: the partner failed or its answer is not valid for the service",
    503: "`store_unavailable` or `broker_unavailable`: the request changed nothing; try again "
    "after `Retry-After` seconds",
    504: "`upstream_failed`: the partner did not answer in time",
}


def errors(
    *statuses: int, notes: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status it can answer with, as an ``Error``; ``notes``
    describes a status more precisely for this route (and adds it)."""
    notes = notes or {}
    return {
        status: {"model": Error, "description": notes.get(status, STATUS_CODES[status])}
        for status in sorted({*statuses, *notes})
    }


ADMIN_ERRORS = errors(401, 403, 503)

# The API key goes in ``Authorization: Bearer …`` or in ``X-API-Key``. Authentication itself
# is ``hub.api.deps.get_caller``; these dependencies only tell OpenAPI (they never refuse).
KEY_SCHEMES = [
    Security(
        HTTPBearer(
            auto_error=False, scheme_name="bearer", description="`Authorization: Bearer lgsp_…`"
        )
    ),
    Security(
        APIKeyHeader(
            name="X-API-Key",
            auto_error=False,
            scheme_name="apiKey",
            description="The same API key in an `X-API-Key` header",
        )
    ),
]


M = TypeVar("M", bound=BaseModel)


def json_body(model: type[M]) -> Any:
    """``Annotated[model, …]`` for a route parameter: the JSON body validated as ``model`` in a
    dependency that needs the admin, so an unauthenticated or non-admin caller is refused —
    and recorded — before the body is looked at (FastAPI parses a declared body before any
    dependency runs). An empty body is ``{}``; an invalid one is the usual 422, naming the
    field under ``/body``. Document it with ``openapi_extra=request_body(model)``."""

    async def parse(request: Request, hub: HubDep, _admin: AdminDep) -> M:
        raw = await _read(request, hub.settings.max_body_bytes)
        try:
            return model.model_validate_json(raw.strip() or b"{}")
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None

    return Annotated[model, Depends(parse)]


def raw_body(limit: int) -> Any:
    """``Annotated[bytes, …]``: the body as it came, at most ``limit`` bytes, read only after
    the admin check."""

    async def read(request: Request, _admin: AdminDep) -> bytes:
        return await _read(request, limit)

    return Annotated[bytes, Depends(read)]


def yaml_body(limit: int) -> Any:
    """``Annotated[Any, …]``: a YAML (or JSON: JSON is YAML) body of at most ``limit`` bytes,
    read strictly (``hub.content.loads_yaml``) only after the admin check."""

    async def parse(request: Request, _admin: AdminDep) -> Any:
        return loads_yaml(await _read(request, limit))

    return Annotated[Any, Depends(parse)]


async def _read(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` naming ``model`` as the JSON request body that ``json_body`` parses
    (a flat model: its schema is given inline)."""
    required = any(field.is_required() for field in model.model_fields.values())
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


# A message's payload is the request body itself, read as a stream (``hub.api.deps``).
PAYLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The payload: JSON, or XML (no DOCTYPE, no entities)",
        "content": {
            "application/json": {"schema": {}},
            "application/xml": {"schema": {"type": "string"}},
        },
    }
}


# ── what the read side returns (hub.trace) ────────────────────────────────────────────────

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last one."
    )


class Accepted(BaseModel):
    id: str
    duplicate: bool
    trace: str


class MessageSummary(BaseModel):
    """A message without its payload. Values the caller supplied (envelope headers,
    correlation, causation and idempotency keys, document id) are shown masked."""

    id: str
    correlation_id: str
    causation_id: str | None
    sender_agency: str
    sender_system: str
    service_code: str | None
    service_version: str | None
    recipients: list[str]
    content_type: str
    payload_sha256: str
    size: int
    headers: dict[str, str]
    document_id: str | None
    idempotency_key: str | None
    status: str
    trace_seq: int
    trace_hash: str | None
    created_at: datetime
    updated_at: datetime


class Delivery(BaseModel):
    id: str
    message_id: str
    route: str
    connector: str
    mapping: str | None
    recipient: str | None
    status: str
    attempts: int
    next_attempt_at: datetime | None
    remote_status: str | None
    last_error: str | None
    queued_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TraceEvent(BaseModel):
    id: int
    message_id: str
    delivery_id: str | None
    seq: int
    event: str
    at: datetime
    attempt: int | None
    connector: str | None
    remote_status: str | None
    error_code: str | None
    error: str | None
    size_in: int | None
    size_out: int | None
    duration_ms: float | None
    details: dict[str, Any] | None
    hash: str


class MessageTrace(MessageSummary):
    deliveries: list[Delivery]
    events: list[TraceEvent]
    trace_intact: bool
    trace_problems: list[str]


class DeadLetter(Delivery):
    service_code: str | None
    sender_system: str


class Denial(BaseModel):
    """A refused request; identical refusals are folded into one row with a ``count``."""

    id: int
    at: datetime
    system_code: str | None
    service_code: str | None
    action: str
    reason: str
    remote_addr: str | None
    count: int


class PersonalDataAccess(BaseModel):
    """One lookup of a citizen's personal data (``hub.personal``)."""

    id: int
    at: datetime
    message_id: str = Field(description="The message that traces the call")
    service_code: str
    agency: str
    system_code: str
    officer: str
    purpose: str
    subject: str | None = Field(description="The looked-up ID number, masked")
    result: str = Field(description="`found`, `not_found`, `answered` or `failed`")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    reason: str | None
