"""Systems: the hub's API clients, each with its own key (shown once, stored as a hash)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, errors, json_body, request_body
from hub.api.routes.registry._common import (
    REGISTER_ERRORS,
    ReasonQuery,
    lifecycle_routes,
    listed,
    registry_router,
)
from hub.registry.models import KeyRotation, SystemIn, SystemPatch

__all__ = ["KeyRotation", "System", "SystemCreated", "SystemIn", "SystemPatch", "router"]

router = registry_router()


class System(BaseModel):
    code: str
    agency_code: str
    name: str
    role: str
    key_prefix: str = Field(description="The public part of the key, to recognise it")
    active: bool = Field(description="false: deactivated, every request refused")
    previous_key_prefix: str | None = Field(
        None, description="The key before the last rotation, valid until `previous_key_until`"
    )
    previous_key_until: datetime | None = None
    key_revoked_at: datetime | None = Field(
        None, description="Set: no key of this system is accepted until a rotation"
    )
    created_at: datetime


class SystemCreated(System):
    api_key: str = Field(description="Shown this once; the hub keeps only its hash")


SystemBody = json_body(SystemIn)
RotationBody = json_body(KeyRotation)
KEY_ERRORS = errors(
    401,
    403,
    503,
    notes={
        404: "`not_found`: no such system",
        409: "`conflict`: the only admin able to act",
        422: "`invalid_request`: `grace_seconds` out of range",
    },
)


@router.post(
    "/systems",
    status_code=201,
    response_model=SystemCreated,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(SystemIn),
    summary="Register a system; its API key is shown once",
)
def add_system(
    body: SystemBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.add_system(hub, admin.system, **body.model_dump(), reason=reason)


@router.get("/systems", response_model=list[System], responses=ADMIN_ERRORS)
def list_systems(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "systems")


lifecycle_routes(router, "systems", "/systems/{code}", System, SystemPatch)


@router.post(
    "/systems/{code}/rotate-key",
    response_model=SystemCreated,
    responses=KEY_ERRORS,
    openapi_extra=request_body(KeyRotation),
    summary="Issue a new key (shown once); the old one stays valid for a grace period",
)
def rotate_key(
    code: str, body: RotationBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.rotate_key(hub, admin.system, code, body.grace_seconds, reason=reason)


@router.post(
    "/systems/{code}/revoke-key",
    response_model=System,
    responses=KEY_ERRORS,
    summary="Refuse every key of a system at once (a rotation issues a new one)",
)
def revoke_key(
    code: str, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.revoke_key(hub, admin.system, code, reason=reason)
