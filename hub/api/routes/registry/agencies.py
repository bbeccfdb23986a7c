"""Agencies (QĐ 20/2020 codes): who sends and receives. The directory (``hub.directory``,
``/v1/directory``) reads them, merges and closes them, and keeps their aliases and history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, json_body, request_body
from hub.api.routes.registry._common import (
    REGISTER_ERRORS,
    ReasonQuery,
    lifecycle_routes,
    listed,
    registry_router,
)
from hub.registry.models import AgencyIn, AgencyPatch, AgencyState

__all__ = ["Agency", "AgencyIn", "AgencyPatch", "router"]

router = registry_router()


class Agency(BaseModel):
    code: str
    name: str
    parent_code: str | None
    level: int | None
    enabled: bool
    created_at: datetime
    state: AgencyState = Field(description="`merged` into `successor_code`, or `closed`")
    successor_code: str | None
    valid_from: date | None = Field(description="The code in force from (null: always)")
    valid_to: date | None = Field(description="… until this date, exclusive (null: still)")
    document_system: str | None = Field(description="The system that receives its documents")


AgencyBody = json_body(AgencyIn)


@router.post(
    "/agencies",
    status_code=201,
    response_model=Agency,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(AgencyIn),
    summary="Register an agency",
)
def add_agency(
    body: AgencyBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.add_agency(hub, admin.system, **body.model_dump(), reason=reason)


@router.get("/agencies", response_model=list[Agency], responses=ADMIN_ERRORS)
def list_agencies(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "agencies")


lifecycle_routes(router, "agencies", "/agencies/{code}", Agency, AgencyPatch)
