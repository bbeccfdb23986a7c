"""Systems: the hub's API clients, each with its own key (shown once, stored as a hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, json_body, request_body
from hub.api.routes.registry._common import REGISTER_ERRORS, listed, registry_router

__all__ = ["System", "SystemCreated", "SystemIn", "router"]

router = registry_router()


class SystemIn(BaseModel):
    code: str = Field(max_length=64)
    agency_code: str
    name: str = Field(min_length=1, max_length=300)
    role: str = Field("system", description="`system` or `admin`")


class System(BaseModel):
    code: str
    agency_code: str
    name: str
    role: str
    key_prefix: str = Field(description="The public part of the key, to recognise it")
    active: bool
    created_at: datetime


class SystemCreated(System):
    api_key: str = Field(description="Shown this once; the hub keeps only its hash")


SystemBody = json_body(SystemIn)


@router.post(
    "/systems",
    status_code=201,
    response_model=SystemCreated,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(SystemIn),
    summary="Register a system; its API key is shown once",
)
def add_system(body: SystemBody, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return registry.add_system(hub, admin.system, **body.model_dump())


@router.get("/systems", response_model=list[System], responses=ADMIN_ERRORS)
def list_systems(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "systems")
