"""Changing the directory, for admins, audited with ``reason``: importing a list, merging,
closing and reopening an agency, its aliases."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from hub import directory
from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, errors, json_body, raw_body, request_body
from hub.api.routes.directory.models import (
    NO_AGENCY,
    PARAMS,
    AddedAlias,
    AliasIn,
    CloseIn,
    CodePath,
    DirectoryAgency,
    ImportResult,
    MergeIn,
)
from hub.api.routes.registry._common import ReasonQuery
from hub.directory import changes
from hub.directory.lists import FORMATS, MAX_BYTES

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["directory"], dependencies=KEY_SCHEMES)
MergeBody = json_body(MergeIn)
CloseBody = json_body(CloseIn)
AliasBody = json_body(AliasIn)
ImportBody = raw_body(MAX_BYTES)
CHANGE_ERRORS = errors(
    401,
    403,
    413,
    503,
    notes={
        404: NO_AGENCY,
        409: "`conflict`: into an agency closed or merged, or one already merged elsewhere",
        422: "`invalid_request` (a field of the body) or `schema_violation` (into itself, a "
        "day before the code came into force); `details.errors[*].path` names it",
    },
)


@router.post(
    "/directory/import",
    response_model=ImportResult,
    responses=errors(
        401,
        403,
        503,
        notes={
            400: "`malformed_input`: not UTF-8, not CSV or not JSON",
            413: f"`payload_too_large`: over {MAX_BYTES} bytes or too many rows",
            422: "`schema_violation`: a bad row or field (`details.errors[*].path` is "
            "`/rows/{row}/{field}`), nothing imported; `invalid_request`: a parameter",
        },
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file: CSV with a header row, a JSON list, or the VDXP list",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
    summary="Import a list of agencies, all of it or nothing",
    description="CSV (`code,name,parent_code,level,state,successor_code,valid_from,valid_to,"
    "aliases`), JSON (a list of objects with those fields) or `vdxp` (`{code, pcode, name, …}`). "
    "Importing the same file again changes nothing. `dry_run=true` answers what would change.",
)
def import_agencies(
    data: ImportBody,
    hub: HubDep,
    admin: AdminDep,
    format: Annotated[Literal["csv", "json", "vdxp"], Query(description=", ".join(FORMATS))],
    dry_run: bool = False,
    reason: ReasonQuery = None,
) -> dict[str, Any]:
    return directory.import_agencies(
        hub, admin.system, data, format, dry_run=dry_run, reason=reason
    )


@router.post(
    "/directory/agencies/{code}/merge",
    response_model=DirectoryAgency,
    responses=CHANGE_ERRORS,
    openapi_extra=request_body(MergeIn),
    summary="Merge an agency into its successor (its code then resolves there)",
)
def merge_agency(
    code: CodePath,
    body: MergeBody,
    hub: HubDep,
    admin: AdminDep,
    reason: ReasonQuery = None,
) -> dict[str, Any]:
    return changes.merge(
        hub,
        admin.system,
        code,
        body.into,
        reason=reason,
        reparent_children=body.reparent_children,
        on=body.on,
    )


@router.post(
    "/directory/agencies/{code}/close",
    response_model=DirectoryAgency,
    responses=CHANGE_ERRORS,
    openapi_extra=request_body(CloseIn),
    summary="Close an agency that has no successor",
)
def close_agency(
    code: CodePath,
    body: CloseBody,
    hub: HubDep,
    admin: AdminDep,
    reason: ReasonQuery = None,
) -> dict[str, Any]:
    return changes.close(hub, admin.system, code, reason=reason, on=body.on)


@router.post(
    "/directory/agencies/{code}/reopen",
    response_model=DirectoryAgency,
    responses=errors(401, 403, 503, notes={404: NO_AGENCY, 422: PARAMS}),
    summary="Make a closed or merged agency active again",
)
def reopen_agency(
    code: CodePath, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return changes.reopen(hub, admin.system, code, reason=reason)


@router.post(
    "/directory/agencies/{code}/aliases",
    status_code=201,
    response_model=AddedAlias,
    responses=errors(
        401,
        403,
        413,
        503,
        notes={
            404: "`not_found`: no agency has this code",
            409: "`conflict`: the alias is an agency's code or another agency's alias",
            422: "`invalid_request` or `schema_violation`: the alias (empty, too long)",
        },
    ),
    openapi_extra=request_body(AliasIn),
    summary="Another spelling of an agency's code, resolved like it",
)
def add_alias(
    code: CodePath,
    body: AliasBody,
    hub: HubDep,
    admin: AdminDep,
    reason: ReasonQuery = None,
) -> dict[str, Any]:
    return changes.add_alias(hub, admin.system, code, body.alias, body.note, reason=reason)


@router.delete(
    "/directory/agencies/{code}/aliases/{alias}",
    status_code=204,
    response_class=Response,
    responses=errors(
        401, 403, 503, notes={404: "`not_found`: the agency has no such alias", 422: PARAMS}
    ),
    summary="Remove an alias",
)
def remove_alias(
    code: CodePath, alias: str, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> Response:
    changes.remove_alias(hub, admin.system, code, alias, reason=reason)
    return Response(status_code=204)
