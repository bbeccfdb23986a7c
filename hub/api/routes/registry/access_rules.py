"""Access rules: which system may send to which service (the admin's included)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, errors, json_body, request_body
from hub.api.routes.registry._common import REGISTER_ERRORS, listed, registry_router

__all__ = ["AccessRule", "AccessRuleIn", "router"]

router = registry_router()


class AccessRuleIn(BaseModel):
    system_code: str
    service_code: str


class AccessRule(AccessRuleIn):
    id: int | None = None
    created_at: datetime


AccessRuleBody = json_body(AccessRuleIn)


@router.post(
    "/access-rules",
    status_code=201,
    response_model=AccessRule,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(AccessRuleIn),
    summary="Allow a system to send to a service",
)
def add_access_rule(body: AccessRuleBody, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return registry.allow(hub, admin.system, **body.model_dump())


@router.delete(
    "/access-rules/{system_code}/{service_code}",
    status_code=204,
    response_class=Response,
    summary="Revoke a system's access to a service",
    responses=errors(401, 403, 422, 503, notes={404: "`not_found`: no such rule"}),
)
def revoke_access_rule(
    system_code: str, service_code: str, hub: HubDep, admin: AdminDep
) -> Response:
    registry.revoke(hub, admin.system, system_code, service_code)
    return Response(status_code=204)


@router.get("/access-rules", response_model=list[AccessRule], responses=ADMIN_ERRORS)
def list_access_rules(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "access_rules")
