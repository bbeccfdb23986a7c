"""Agencies (QĐ 20/2020 codes): who sends and receives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, json_body, request_body
from hub.api.routes.registry._common import REGISTER_ERRORS, listed, registry_router

__all__ = ["Agency", "AgencyIn", "router"]

router = registry_router()


class AgencyIn(BaseModel):
    code: str = Field(max_length=64, description="e.g. 000.00.00.H49")
    name: str = Field(min_length=1, max_length=300)
    parent_code: str | None = None
    level: int | None = Field(None, ge=1, le=4, description="1 central … 4 commune")


class Agency(BaseModel):
    code: str
    name: str
    parent_code: str | None
    level: int | None
    created_at: datetime


AgencyBody = json_body(AgencyIn)


@router.post(
    "/agencies",
    status_code=201,
    response_model=Agency,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(AgencyIn),
    summary="Register an agency",
)
def add_agency(body: AgencyBody, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return registry.add_agency(hub, admin.system, **body.model_dump())


@router.get("/agencies", response_model=list[Agency], responses=ADMIN_ERRORS)
def list_agencies(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "agencies")
