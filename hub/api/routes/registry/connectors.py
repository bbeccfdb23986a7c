"""Connector instances (a type plus its configuration; secrets referenced, never stored) and
the connector types installed in this hub."""

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
from hub.connector import connector_types
from hub.context import Hub
from hub.registry.models import ConnectorIn, ConnectorPatch, ConnectorUpdate

__all__ = [
    "Circuit",
    "Connector",
    "ConnectorIn",
    "ConnectorPatch",
    "ConnectorType",
    "ConnectorUpdate",
    "router",
]

router = registry_router()


class Circuit(BaseModel):
    """The connector's circuit breaker (``hub.circuit``): ``open`` while its partner fails
    and its queue waits; ``half_open`` while one message probes it."""

    state: str = Field(description="closed, open or half_open")
    failures: int = Field(description="consecutive transient failures")
    opened_at: datetime | None = None
    probe_at: datetime | None = Field(None, description="when an open circuit is probed next")
    last_error: str | None = None


class Connector(BaseModel):
    name: str
    type: str
    config: dict[str, Any]
    retry_budget_seconds: float | None
    enabled: bool
    created_at: datetime
    circuit: Circuit = Field(default_factory=lambda: Circuit(state="closed", failures=0))


class ConnectorType(BaseModel):
    config_schema: dict[str, Any]
    doc: str


ConnectorBody = json_body(ConnectorIn)
ConnectorUpdateBody = json_body(ConnectorUpdate)


@router.post(
    "/connectors",
    status_code=201,
    response_model=Connector,
    responses={
        **REGISTER_ERRORS,
        **errors(
            notes={
                404: "`not_found`: no such connector type is installed (`details.installed` "
                "lists them)"
            }
        ),
    },
    openapi_extra=request_body(ConnectorIn),
    summary="Register a connector instance",
)
def add_connector(
    body: ConnectorBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    return with_circuit(
        hub,
        registry.add_connector(
            hub,
            admin.system,
            body.name,
            body.type,
            body.config,
            body.retry_budget_seconds,
            reason=reason,
        ),
    )


@router.put(
    "/connectors/{name}",
    response_model=Connector,
    responses=errors(
        401,
        403,
        413,
        503,
        notes={
            404: "`not_found`: no such connector instance",
            422: "`invalid_request` or `schema_violation`: the configuration is not valid "
            "for the type (`details.errors[*].path` names the field)",
        },
    ),
    openapi_extra=request_body(ConnectorUpdate),
    summary="Replace a connector instance's configuration and retry budget",
)
def update_connector(
    name: str, body: ConnectorUpdateBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    registry.update_entry(hub, admin.system, "connectors", name, body.model_dump(), reason=reason)
    with hub.reader.connect() as conn:
        return with_circuit(hub, registry.get(conn, "connectors", name))


def with_circuit(
    hub: Hub, row: dict[str, Any], circuits: dict[str, Any] | None = None
) -> dict[str, Any]:
    circuits = hub.circuits.all(fresh=True) if circuits is None else circuits
    return {**row, "circuit": circuits.get(row["name"]) or {"state": "closed", "failures": 0}}


@router.get("/connectors", response_model=list[Connector], responses=ADMIN_ERRORS)
def list_connectors(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    circuits = hub.circuits.all(fresh=True)
    return [with_circuit(hub, row, circuits) for row in listed(hub, "connectors")]


@router.get(
    "/connector-types",
    response_model=dict[str, ConnectorType],
    responses=ADMIN_ERRORS,
    summary="Connector types installed in this hub",
)
def list_connector_types(admin: AdminDep) -> dict[str, dict[str, Any]]:
    return {
        name: {"config_schema": cls.config_schema, "doc": (cls.__doc__ or "").strip()}
        for name, cls in connector_types().items()
    }


lifecycle_routes(
    router, "connectors", "/connectors/{name}", Connector, ConnectorPatch, shown=with_circuit
)
