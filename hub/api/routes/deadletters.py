"""Dead letters for admins: list, replay, discard with a reason (all audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub import deadletters, trace
from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, DeadLetter, Page, errors, json_body, request_body

__all__ = ["router"]

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"], dependencies=KEY_SCHEMES)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="Kept in the audit log")


class OptionalReason(BaseModel):
    reason: str | None = Field(None, max_length=1000, description="Kept in the audit log")


class Done(BaseModel):
    id: str
    status: str


ReasonBody = json_body(Reason)
OptionalReasonBody = json_body(OptionalReason)
NOT_DEAD = {
    404: "`not_found`: no such delivery",
    409: "`conflict`: the delivery is not dead (`details.status` says what it is)",
}


@router.get(
    "",
    response_model=Page[DeadLetter],
    responses=errors(401, 403, 422, 503),
    summary="Dead deliveries, newest first, with a cursor",
)
def list_dead_letters(
    hub: HubDep,
    admin: AdminDep,
    connector: str | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        return trace.dead_letters(conn, cursor, limit, connector)


@router.post(
    "/{delivery_id}/replay",
    response_model=Done,
    responses=errors(401, 403, 413, 422, 503, notes=NOT_DEAD),
    openapi_extra=request_body(OptionalReason),
    summary="Queue a dead delivery again, its attempts counted afresh",
)
def replay(
    delivery_id: str, hub: HubDep, admin: AdminDep, body: OptionalReasonBody
) -> dict[str, str]:
    deadletters.replay(hub, delivery_id, admin.system, body.reason)
    return {"id": delivery_id, "status": "queued"}


@router.post(
    "/{delivery_id}/discard",
    response_model=Done,
    responses=errors(
        401,
        403,
        413,
        503,
        notes={**NOT_DEAD, 422: "`invalid_request` or `schema_violation`: a reason is required"},
    ),
    openapi_extra=request_body(Reason),
    summary="Give up on a dead delivery",
)
def discard(delivery_id: str, body: ReasonBody, hub: HubDep, admin: AdminDep) -> dict[str, str]:
    deadletters.discard(hub, delivery_id, admin.system, body.reason)
    return {"id": delivery_id, "status": "discarded"}
