"""Which agencies a system may send documents as ("speaks for"): the registry's, for admins,
audited with ``reason`` — ``/v1/systems/{code}/agencies``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, errors, json_body, request_body
from hub.api.routes.directory.models import PARAMS, Grant, GrantIn
from hub.api.routes.registry._common import ReasonQuery
from hub.directory import grants

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["registry"], dependencies=KEY_SCHEMES)
GrantBody = json_body(GrantIn)

SYSTEM_CODE = Annotated[str, Path(max_length=64, description="The system's code")]


@router.get(
    "/systems/{code}/agencies",
    response_model=list[Grant],
    responses=errors(401, 403, 503, notes={404: "`not_found`: no such system", 422: PARAMS}),
    tags=["registry"],
    summary="The agencies a system may send documents as: its own, then those granted",
)
def list_grants(code: SYSTEM_CODE, hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    with hub.reader.connect() as conn:
        return grants.grants(conn, code)


@router.post(
    "/systems/{code}/agencies",
    response_model=Grant,
    responses=errors(
        401,
        403,
        413,
        503,
        notes={
            404: "`not_found`: no such system, or no agency has this code or alias",
            422: "`invalid_request`: a field of the body",
        },
    ),
    openapi_extra=request_body(GrantIn),
    tags=["registry"],
    summary="Let a system speak for an agency (and with `subtree`, everything below it)",
)
def add_grant(
    code: SYSTEM_CODE,
    body: GrantBody,
    hub: HubDep,
    admin: AdminDep,
    reason: ReasonQuery = None,
) -> dict[str, Any]:
    return grants.grant(hub, admin.system, code, body.agency_code, body.subtree, reason=reason)


@router.delete(
    "/systems/{code}/agencies/{agency_code}",
    status_code=204,
    response_class=Response,
    responses=errors(
        401, 403, 503, notes={404: "`not_found`: the system has no such grant", 422: PARAMS}
    ),
    tags=["registry"],
    summary="Take back a grant (a system's own agency stays)",
)
def remove_grant(
    code: SYSTEM_CODE,
    agency_code: Annotated[str, Path(max_length=64)],
    hub: HubDep,
    admin: AdminDep,
    reason: ReasonQuery = None,
) -> Response:
    grants.revoke(hub, admin.system, code, agency_code, reason=reason)
    return Response(status_code=204)
