"""``POST /v1/connectors/{name}/check``: test connection and the conformance suite
(``hub.conformance``) for one registered connector instance, run here, in the hub process,
where the instance's secrets live.

The example message is the body's ``example``, else the first of the ``examples`` of the
request schema of the body's ``service``. With a ``service`` it is a message as a sender sends
it for that service: the mapping of that service's route to this connector (the lowest
priority) is applied first, as the worker would, so the partner gets what it will get.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from hub import conformance, registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, errors, json_body, request_body
from hub.connector import connector_type
from hub.context import Hub
from hub.errors import SchemaViolation
from hub.payload import Payload
from hub.store.tables import routes

__all__ = ["CheckIn", "CheckItem", "ConnectorCheck", "router"]

router = APIRouter(prefix="/v1", tags=["registry"], dependencies=KEY_SCHEMES)


class CheckIn(BaseModel):
    service: str | None = Field(
        None, max_length=100, description="Service code: its request schema's first example"
    )
    example: Any = Field(
        None,
        description="The example message: a JSON value (sent serialised) for a JSON content "
        "type, else its text",
    )
    content_type: str | None = Field(
        None, min_length=1, max_length=100, description="The example's; default the service's"
    )


class CheckItem(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail", "skipped"]
    detail: str


class ConnectorCheck(BaseModel):
    connector: str
    type: str
    example: str | None = Field(description="Where the example came from; null: none")
    ok: bool = Field(description="No check failed")
    checks: list[CheckItem] = Field(description="The type's test connection (`check()`)")
    conformance: list[CheckItem] = Field(
        description="reachable, authentication, round trip, error classification"
    )


CheckBody = json_body(CheckIn)


@router.post(
    "/connectors/{name}/check",
    response_model=ConnectorCheck,
    responses=errors(
        401,
        403,
        413,
        503,
        notes={
            404: "`not_found`: no such connector instance, service, or installed type",
            422: "`invalid_request`, `schema_violation` (an example that cannot be encoded "
            "for its content type) or `local_failure` (the route's mapping refused it)",
        },
    ),
    openapi_extra=request_body(CheckIn),
    summary="Test a connector instance: its connection, a round trip, its error classes",
)
def check_connector(name: str, body: CheckBody, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    """Sends the example to the partner for real (once); a failed check is still a 200 with
    ``ok: false``."""
    with hub.reader.connect() as conn:
        row = registry.get(conn, "connectors", name)
        service = registry.get(conn, "services", body.service) if body.service else None
        mapping = _mapping(conn, body.service, name) if body.service else None
    cls = connector_type(row["type"])
    example = _example(hub, body, service)
    if example is not None and mapping:
        mapped = hub.mappings.apply(mapping, Payload.of(example.data, example.content_type))
        example = conformance.Example(
            mapped.read(), mapped.content_type, f"{example.source}, mapped by {mapping}"
        )
    report = conformance.run(
        cls,
        name,
        row["config"],
        example,
        service=body.service,
        sender=(admin.agency, admin.system),
    )
    result = report.as_dict()
    with hub.begin() as conn:  # a real message went to the partner: say who sent it, and why
        registry.audit(
            conn,
            admin.system,
            "check_connector",
            name,
            f"{'passed' if result['ok'] else 'failed'}; example: {result['example'] or 'none'}",
        )
    return result


def _example(hub: Hub, body: CheckIn, service: dict[str, Any] | None) -> conformance.Example | None:
    content_type = service["content_type"] if service else "application/json"
    if body.example is not None:
        content_type = body.content_type or content_type
        return conformance.Example(_encode(body.example, content_type), content_type)
    schema = service.get("request_schema") if service else None
    if not schema or not schema.endswith(".json"):
        return None
    examples = hub.schemas.json_validator(schema).schema.get("examples")
    if not isinstance(examples, list) or not examples:
        return None
    return conformance.Example(_encode(examples[0], content_type), content_type, f"schema {schema}")


def _encode(value: Any, content_type: str) -> bytes:
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return json.dumps(value, ensure_ascii=False).encode()
    if isinstance(value, str):
        return value.encode()
    raise SchemaViolation(
        f"an example of type {content_type} must be text",
        errors=[{"path": "/example", "message": "expected a string"}],
    )


def _mapping(conn: Connection, service: str, connector: str) -> str | None:
    """The mapping of the route the worker would take from ``service`` to ``connector``."""
    return conn.execute(
        select(routes.c.mapping)
        .where(
            routes.c.service_code == service,
            routes.c.connector == connector,
            routes.c.enabled.is_(True),
        )
        .order_by(routes.c.priority, routes.c.name)
        .limit(1)
    ).scalar()
