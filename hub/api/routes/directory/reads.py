"""Reading the directory, for any caller with a key: search, one agency with everything
around it, its history, resolving a code as documents carry it, the tree of an era."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub import directory
from hub.api.deps import CallerDep, HubDep
from hub.api.models import KEY_SCHEMES, Page, errors
from hub.api.routes.directory.models import (
    NO_AGENCY,
    PARAMS,
    AgencyDetail,
    CodePath,
    DirectoryAgency,
    HistoryEntry,
    ResolutionOut,
    Tree,
)
from hub.directory.history import history
from hub.directory.resolution import named
from hub.errors import NotFound
from hub.registry.models import AgencyState

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["directory"], dependencies=KEY_SCHEMES)


@router.get(
    "/directory/agencies",
    response_model=Page[DirectoryAgency],
    responses=errors(401, 422, 503, notes={422: PARAMS}),
    summary="Search agencies by name (accents and case aside) or code prefix, by code",
)
def search_agencies(
    hub: HubDep,
    caller: CallerDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Words of the name, or a code prefix")
    ] = None,
    level: Annotated[int | None, Query(ge=1, le=4)] = None,
    state: AgencyState | None = None,
    as_of: Annotated[date | None, Query(description="In force on this day")] = None,
    cursor: Annotated[
        str | None, Query(max_length=64, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    return directory.search(
        hub, q, level=level, state=state, as_of=as_of, cursor=cursor, limit=limit
    )


@router.get(
    "/directory/agencies/{code}",
    response_model=AgencyDetail,
    responses=errors(401, 503, notes={404: NO_AGENCY, 422: PARAMS}),
    summary="One agency (by code or alias): its resolution, parent, children, aliases",
)
def show_agency(code: CodePath, hub: HubDep, caller: CallerDep) -> dict[str, Any]:
    return directory.detail(hub, code)


@router.get(
    "/directory/agencies/{code}/history",
    response_model=Page[HistoryEntry],
    responses=errors(401, 503, notes={422: PARAMS}),
    summary="An agency's changes, newest first (by code or alias; a deleted agency's too)",
)
def agency_history(
    code: CodePath,
    hub: HubDep,
    caller: CallerDep,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        try:
            code = named(conn, code)[0]["code"]
        except NotFound:  # a deleted agency keeps its history; an unknown code has none
            pass
        return history(conn, code, int(cursor) if cursor else None, limit)


@router.get(
    "/directory/resolve",
    response_model=ResolutionOut,
    responses=errors(401, 503, notes={422: PARAMS}),
    summary="The agency that answers today for a code as a document carries it",
    description="An alias to its agency, a merged agency along its successors; an unknown "
    "code is `known: false`.",
)
def resolve_code(
    hub: HubDep, caller: CallerDep, code: Annotated[str, Query(min_length=1, max_length=64)]
) -> dict[str, Any]:
    return directory.resolve(hub, code).as_dict()


@router.get(
    "/directory/tree",
    response_model=Tree,
    responses=errors(
        401, 503, notes={404: "`not_found`: the root is unknown or not in force then", 422: PARAMS}
    ),
    summary="The agencies in force on a day, as a tree (today's by default)",
)
def agency_tree(
    hub: HubDep,
    caller: CallerDep,
    root: Annotated[str | None, Query(max_length=64, description="Only under this agency")] = None,
    as_of: Annotated[date | None, Query(description="Default: today in Vietnam")] = None,
) -> dict[str, Any]:
    return directory.tree(hub, root, as_of)
