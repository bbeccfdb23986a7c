"""Services: what a system can send (queued) or call (synchronous), and its schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, json_body, request_body
from hub.api.routes.registry._common import REGISTER_ERRORS, listed, registry_router

__all__ = ["Service", "ServiceIn", "router"]

router = registry_router()


class ServiceIn(BaseModel):
    code: str = Field(max_length=100)
    name: str = Field(min_length=1, max_length=300)
    mode: str = Field("async", description="`async` (queued) or `sync` (answered at once)")
    content_type: str = "application/json"
    version: str = "1"
    request_schema: str | None = Field(None, description="A schema file in the hub's catalog")
    response_schema: str | None = None
    retry_budget_seconds: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Keep retrying a delivery this long; null = the hub default",
    )


class Service(BaseModel):
    code: str
    name: str
    mode: str
    content_type: str
    version: str
    request_schema: str | None
    response_schema: str | None
    retry_budget_seconds: float | None
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
def add_service(body: ServiceBody, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return registry.add_service(hub, admin.system, **body.model_dump())


@router.get("/services", response_model=list[Service], responses=ADMIN_ERRORS)
def list_services(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed(hub, "services")
