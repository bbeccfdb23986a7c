"""Access rules: which system may send to which service (the admin's included)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
from hub.registry.models import AccessRuleIn

__all__ = ["AccessRule", "AccessRuleIn", "router"]

router = registry_router()


class AccessRule(AccessRuleIn):
    id: int | None = None
    enabled: bool
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
def add_access_rule(
    body: AccessRuleBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.allow(hub, admin.system, **body.model_dump(), reason=reason)


@router.get("/access-rules", response_model=list[AccessRule], responses=ADMIN_ERRORS)
def list_access_rules(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "access_rules")


lifecycle_routes(router, "access_rules", "/access-rules/{system_code}/{service_code}", AccessRule)
