"""What admins check after the fact: refused requests (denials), the audit log of registry
changes and dead-letter operations, and the log of personal-data lookups. Pages, newest
first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub import trace
from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, AuditEntry, Denial, Page, PersonalDataAccess, errors

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["audit"], dependencies=KEY_SCHEMES)

Cursor = Annotated[
    str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=500)]
Until = Annotated[datetime | None, Query(description="Exclusive")]


@router.get(
    "/denials",
    response_model=Page[Denial],
    responses=errors(401, 403, 422, 503),
    summary="Refused requests, newest first",
)
def list_denials(
    hub: HubDep,
    admin: AdminDep,
    system: Annotated[str | None, Query(description="System code")] = None,
    service: Annotated[str | None, Query(description="Service code")] = None,
    since: datetime | None = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    filters = trace.DenialFilters(system=system, service=service, since=since, until=until)
    with hub.reader.connect() as conn:
        return trace.denials(conn, cursor, limit, filters)


@router.get(
    "/audit-log",
    response_model=Page[AuditEntry],
    responses=errors(401, 403, 422, 503),
    summary="The audit log, newest first",
)
def list_audit_log(
    hub: HubDep,
    admin: AdminDep,
    actor: Annotated[str | None, Query(description="System code")] = None,
    action: Annotated[
        str | None,
        Query(description="e.g. register_system, revoke_access_rule, replay_dead_letter"),
    ] = None,
    target: str | None = None,
    since: datetime | None = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    filters = trace.AuditFilters(
        actor=actor, action=action, target=target, since=since, until=until
    )
    with hub.reader.connect() as conn:
        return trace.audit_log(conn, cursor, limit, filters)


@router.get(
    "/personal-data-access",
    response_model=Page[PersonalDataAccess],
    responses=errors(401, 403, 422, 503),
    summary="Lookups of citizens' personal data, newest first",
)
def list_personal_data_access(
    hub: HubDep,
    admin: AdminDep,
    system: Annotated[str | None, Query(description="System code")] = None,
    service: Annotated[str | None, Query(description="Service code")] = None,
    officer: Annotated[
        str | None, Query(description="The officer, as the caller named them")
    ] = None,
    since: datetime | None = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    filters = trace.PersonalDataFilters(
        system=system, service=service, officer=officer, since=since, until=until
    )
    with hub.reader.connect() as conn:
        return trace.personal_data_access(conn, cursor, limit, filters)
