"""Operational data for admins, X-Road style (``hub.opdata``): the records of every exchange
with a partner in a time window, paged with ``next_records_from``, and per-service health.
A window is given with its time zone and spans at most 31 days; anything else is a 422 naming
the parameter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub import opdata
from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, errors
from hub.store.db import utcnow

__all__ = ["router"]

router = APIRouter(prefix="/v1/opdata", tags=["operational data"], dependencies=KEY_SCHEMES)

From = Annotated[
    AwareDatetime,
    Query(alias="from", description="Start of the window (inclusive), with its time zone"),
]
To = Annotated[
    AwareDatetime | None,
    Query(description="End of the window (exclusive), with its time zone; default: now"),
]
NEXT = Annotated[
    str | None,
    Query(
        pattern=r"^\d{1,19}-\d{1,19}$",
        description="`next_records_from` of the previous page (same window)",
    ),
]


class Record(BaseModel):
    """One exchange between the hub and a partner: one delivery attempt. The hub is the
    client's server and the partner's client at once, so the four timestamps are the hub's."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    id: int
    """The record's id: its closing trace event's id."""
    message_id: str
    """The hub's message id (`X-LGSP-Message-Id`, the `Idempotency-Key` sent to partners)."""
    delivery_id: str | None
    """The delivery (one per target of the message) this attempt belongs to."""
    correlation_id: str
    """The caller's `X-Correlation-Id` (masked), or the message id when none was given."""
    client_agency: str
    """The sending system's agency code."""
    client_system: str
    """The sending system's code (the API key that submitted the message)."""
    service_code: str | None
    """The service the client named."""
    service_version: str | None
    """The service's version when the message was accepted."""
    connector: str | None
    """The connector instance called: the partner serving this exchange."""
    attempt: int | None
    """1 for the first attempt at this delivery, counted afresh after a replay."""
    synchronous: bool
    """A synchronous call (the client waited for the answer), not a queued message."""
    request_in: datetime
    """When the hub accepted the client's request (for a synchronous call, recorded as it is
    answered: not later than `request_out`)."""
    request_out: datetime | None
    """When the hub's connector started sending the request to the partner (null when the
    attempt failed on the hub's side before anything was sent)."""
    response_in: datetime
    """When the hub had the partner's answer, or gave up on it (error, timeout)."""
    response_out: datetime | None
    """When the hub answered the client: a synchronous call only (queued messages were
    answered 202 at `request_in`)."""
    message_size: int
    """Bytes of the request as the client sent it."""
    request_size: int | None
    """Bytes sent to the partner (after the route's mapping)."""
    response_size: int | None
    """Bytes of the partner's answer (null when none came)."""
    succeeded: bool
    """The partner took the message (the attempt ended `delivered`)."""
    outcome: str
    """How the attempt ended: `delivered`, `retrying`, `failed` (a synchronous call) or
    `dead`."""
    fault_code: str | None
    """The hub's error code for a failed attempt, e.g. `delivery_transient`, `local_failure`."""
    fault_string: str | None
    """The error, as the hub recorded it (masked)."""
    status_code: str | None
    """The partner's status: an HTTP status, a protocol code, or `timeout` /
    `connection_error`."""


class Records(BaseModel):
    records: list[Record]
    next_records_from: str | None = Field(
        description="Pass back (with the same window) for the next page; null on the last one"
    )
    records_available_before: datetime = Field(
        description="Records are complete before this instant (the window's end, or a few "
        "seconds ago: later ones may still be committing); ask again later for the rest"
    )


class Figures(BaseModel):
    """X-Road's health data, measured at the hub on each attempt's end (`response_in`)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    successes: int
    """Attempts in the window that delivered."""
    failures: int
    """Attempts in the window that did not (retrying, failed or dead)."""
    latency_min_ms: float | None
    """Shortest connector call of the successful attempts (`request_out` → `response_in`)."""
    latency_avg_ms: float | None
    """Average connector call of the successful attempts."""
    latency_max_ms: float | None
    """Longest connector call of the successful attempts."""
    last_success_at: datetime | None
    """`response_in` of the last successful attempt in the window."""
    last_failure_at: datetime | None
    """`response_in` of the last failed attempt in the window."""
    dead_letters: int
    """Deliveries dead now, waiting for an admin (whenever they died)."""


class ConnectorFigures(Figures):
    connector: str | None


class ServiceFigures(Figures):
    service_code: str | None
    connectors: list[ConnectorFigures]


class Health(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    since: datetime = Field(alias="from")
    until: datetime = Field(alias="to")
    services: list[ServiceFigures]
    dead_letters: int = Field(description="Every dead delivery, waiting for an admin")


def _invalid(name: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])


def _window(since: datetime, to: datetime | None) -> datetime:
    """The window's end (``to``, or now), or a 422 naming what is wrong with the window."""
    until = to or utcnow()
    if until < since:
        raise _invalid("to", "is before from") if to else _invalid("from", "is in the future")
    if until - since > opdata.MAX_WINDOW:
        raise _invalid("from", f"the window spans more than {opdata.MAX_WINDOW.days} days")
    return until


@router.get(
    "/records",
    response_model=Records,
    responses=errors(401, 403, 422, 503),
    summary="Records of the exchanges with partners in a window, oldest first",
)
def list_records(
    hub: HubDep,
    admin: AdminDep,
    since: From,
    to: To = None,
    next_records_from: NEXT = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    until = _window(since, to)
    try:
        after = opdata.Cursor.parse(next_records_from) if next_records_from else None
    except ValueError as exc:
        raise _invalid("next_records_from", str(exc)) from None
    with hub.reader.connect() as conn:
        return opdata.records(conn, since, until, after, limit)


@router.get(
    "/health",
    response_model=Health,
    responses=errors(401, 403, 422, 503),
    summary="Per service and connector: successes, failures, latency, dead letters",
)
def service_health(hub: HubDep, admin: AdminDep, since: From, to: To = None) -> dict[str, Any]:
    until = _window(since, to)
    with hub.reader.connect() as conn:
        return opdata.health(conn, since, until)
