"""The registry, for admins: agencies, systems (the API key is shown once), services, access
rules, connector instances and routes. Registering is POST; listing is GET."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.connector import connector_types

router = APIRouter(prefix="/v1", tags=["registry"])


class AgencyIn(BaseModel):
    code: str = Field(max_length=64)
    name: str = Field(min_length=1, max_length=300)
    parent_code: str | None = None
    level: int | None = Field(None, ge=1, le=4)


class SystemIn(BaseModel):
    code: str = Field(max_length=64)
    agency_code: str
    name: str = Field(min_length=1, max_length=300)
    role: str = "system"


class ServiceIn(BaseModel):
    code: str = Field(max_length=100)
    name: str = Field(min_length=1, max_length=300)
    mode: str = "async"
    content_type: str = "application/json"
    version: str = "1"
    request_schema: str | None = None
    response_schema: str | None = None


class AccessRuleIn(BaseModel):
    system_code: str
    service_code: str


class ConnectorIn(BaseModel):
    name: str = Field(max_length=100)
    type: str
    config: dict[str, Any]


class RouteIn(BaseModel):
    name: str = Field(max_length=100)
    connector: str
    service_code: str | None = None
    recipient: str | None = None
    condition: list[dict[str, Any]] | None = None
    mapping: str | None = None
    priority: int = 100


def _register(hub, fn, admin, **fields) -> Any:
    with hub.engine.begin() as conn:
        result = fn(conn, admin.system, **fields)
    hub.registry.clear()
    return result


def _list(hub, kind: str) -> list[dict[str, Any]]:
    with hub.reader.connect() as conn:
        return registry.list_all(conn, kind)


@router.post("/agencies", status_code=201)
def add_agency(body: AgencyIn, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return _register(hub, registry.add_agency, admin, **body.model_dump())


@router.get("/agencies")
def list_agencies(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return _list(hub, "agencies")


@router.post("/systems", status_code=201, summary="Register a system; its API key is shown once")
def add_system(body: SystemIn, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return _register(hub, registry.add_system, admin, **body.model_dump())


@router.get("/systems")
def list_systems(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return _list(hub, "systems")


@router.post("/services", status_code=201)
def add_service(body: ServiceIn, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return _register(hub, registry.add_service, admin, **body.model_dump())


@router.get("/services")
def list_services(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return _list(hub, "services")


@router.post("/access-rules", status_code=201)
def add_access_rule(body: AccessRuleIn, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return _register(hub, registry.allow, admin, **body.model_dump())


@router.delete("/access-rules/{system_code}/{service_code}", status_code=204,
               summary="Revoke a system's access to a service")
def revoke_access_rule(system_code: str, service_code: str, hub: HubDep,
                       admin: AdminDep) -> Response:
    _register(hub, registry.revoke, admin, system_code=system_code, service_code=service_code)
    return Response(status_code=204)


@router.get("/access-rules")
def list_access_rules(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return _list(hub, "access_rules")


@router.post("/connectors", status_code=201)
def add_connector(body: ConnectorIn, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return _register(hub, registry.add_connector, admin, name=body.name, type_name=body.type,
                     config=body.config)


@router.get("/connectors")
def list_connectors(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return _list(hub, "connectors")


@router.get("/connector-types")
def list_connector_types(admin: AdminDep) -> dict[str, Any]:
    return {name: {"config_schema": cls.config_schema, "doc": (cls.__doc__ or "").strip()}
            for name, cls in connector_types().items()}


@router.post("/routes", status_code=201)
def add_route(body: RouteIn, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    return _register(hub, registry.add_route, admin, **body.model_dump())


@router.get("/routes")
def list_routes(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return _list(hub, "routes")
