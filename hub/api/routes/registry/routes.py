"""Routes: which connector a service's messages go to, for which recipient, on what
condition, through which mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

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
from hub.registry.models import RouteIn, RoutePatch

__all__ = ["Route", "RouteIn", "RoutePatch", "router"]

router = registry_router()


class Route(BaseModel):
    name: str
    connector: str
    service_code: str | None
    recipient: str | None
    condition: list[dict[str, Any]] | None
    mapping: str | None
    priority: int
    enabled: bool
    created_at: datetime


RouteBody = json_body(RouteIn)


@router.post(
    "/routes",
    status_code=201,
    response_model=Route,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(RouteIn),
    summary="Register a route",
)
def add_route(
    body: RouteBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.add_route(hub, admin.system, **body.model_dump(), reason=reason)


@router.get("/routes", response_model=list[Route], responses=ADMIN_ERRORS)
def list_routes(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "routes")


lifecycle_routes(router, "routes", "/routes/{name}", Route, RoutePatch)
