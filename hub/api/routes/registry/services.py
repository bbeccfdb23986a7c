"""Services: what a system can send (queued) or call (synchronous), and its schemas."""

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
from hub.registry.models import ServiceIn, ServicePatch

__all__ = ["Service", "ServiceIn", "ServicePatch", "router"]

router = registry_router()


class Service(BaseModel):
    code: str
    name: str
    mode: str
    content_type: str
    version: str
    request_schema: str | None
    response_schema: str | None
    retry_budget_seconds: float | None
    unroutable: str
    personal_data: bool
    enabled: bool
    created_at: datetime


ServiceBody = json_body(ServiceIn)


@router.post(
    "/services",
    status_code=201,
    response_model=Service,
    responses=REGISTER_ERRORS,
    openapi_extra=request_body(ServiceIn),
    summary="Register a service",
)
def add_service(
    body: ServiceBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return registry.add_service(hub, admin.system, **body.model_dump(), reason=reason)


@router.get("/services", response_model=list[Service], responses=ADMIN_ERRORS)
def list_services(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "services")


lifecycle_routes(router, "services", "/services/{code}", Service, ServicePatch)
