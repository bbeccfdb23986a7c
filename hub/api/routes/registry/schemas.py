"""Schemas in the registry: the built-in files and the uploaded versions, by name. An upload
is checked (a valid JSON Schema or XSD) before it is kept; the latest version is the one in
force everywhere within the registry cache window, and ``name@N`` pins an older one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, errors, raw_body
from hub.api.routes.registry._common import ReasonQuery, registry_router
from hub.context import Hub
from hub.errors import MalformedInput, NotFound
from hub.registry import documents

__all__ = [
    "SchemaEntry",
    "SchemaUploaded",
    "SchemaVersion",
    "listed_documents",
    "router",
    "version_routes",
]

router = registry_router()
SchemaBody = raw_body(documents.MAX_DOCUMENT_BYTES)


class SchemaEntry(BaseModel):
    name: str
    version: int = Field(description="The version in force; 0: the built-in file")
    source: str = Field(description="`registry` (uploaded) or `built-in`")


class SchemaVersion(BaseModel):
    version: int
    sha256: str
    actor: str
    created_at: datetime


class SchemaUploaded(BaseModel):
    name: str
    version: int
    created: bool = Field(description="false: the latest version already held this document")


def listed_documents(hub: Hub, kind: str, names: list[str]) -> list[dict[str, Any]]:
    """Each name with the version in force: the latest uploaded, or 0 for a built-in file."""
    uploaded = hub.documents.latest(kind)
    return [
        {
            "name": name,
            "version": uploaded.get(name, 0),
            "source": "registry" if name in uploaded else "built-in",
        }
        for name in names
    ]


def version_routes(router: APIRouter, kind: str, path: str) -> None:
    """``GET {path}/{name}/versions``: every uploaded version of a ``kind`` document."""

    def versions(name: str, hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
        return hub.documents.history(kind, name)

    router.add_api_route(
        f"{path}/{{name}}/versions",
        versions,
        methods=["GET"],
        response_model=list[SchemaVersion],
        responses=errors(401, 403, 503, notes={422: "`invalid_request`: a parameter"}),
        summary=f"Every uploaded version of a {kind}, oldest first",
    )


@router.get("/schemas", response_model=list[SchemaEntry], responses=ADMIN_ERRORS)
def list_schemas(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed_documents(hub, "schema", hub.schemas.names())


@router.get(
    "/schemas/{name}",
    response_class=Response,
    responses={
        200: {
            "description": "The schema document",
            "content": {
                "application/schema+json": {"schema": {"type": "object"}},
                "application/xml": {"schema": {"type": "string"}},
            },
        },
        **errors(
            401,
            403,
            503,
            notes={
                404: "`not_found`: no such schema, or no such version",
                422: "`invalid_request`: `version` is not a number above 0",
            },
        ),
    },
    summary="A schema as it is in force (or `version`), with `X-LGSP-Version`",
)
def get_schema(
    name: str,
    hub: HubDep,
    admin: AdminDep,
    version: int | None = Query(None, ge=1, description="An uploaded version; default: latest"),
) -> Response:
    ref = f"{name}@{version}" if version else name
    document = hub.documents.get("schema", ref)
    if document is not None:
        content, number = document.content, document.version
    elif version is None and name in hub.schemas.names():
        content, number = hub.schemas.builtin_text(name), 0
    else:
        raise NotFound(f"schema {name!r} is not in the registry")
    media = "application/xml" if name.endswith(".xsd") else "application/schema+json"
    return Response(content, media_type=media, headers={"X-LGSP-Version": str(number)})


version_routes(router, "schema", "/schemas")


@router.put(
    "/schemas/{name}",
    response_model=SchemaUploaded,
    responses=errors(
        401,
        403,
        503,
        notes={
            400: "`malformed_input`: not UTF-8 text",
            413: f"`payload_too_large`: over {documents.MAX_DOCUMENT_BYTES} bytes",
            422: "`schema_violation`: not a valid JSON Schema or XSD (the last good version "
            "stays in force)",
        },
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/schema+json": {}, "application/xml": {}},
        }
    },
    summary="Upload a schema: a new version, in force everywhere within the cache window",
)
def upload_schema(
    name: str, body: SchemaBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    try:
        content = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput("a schema is UTF-8 text") from None
    hub.schemas.check(name, content)
    version, created = documents.store(hub, admin.system, "schema", name, content, reason=reason)
    return {"name": name, "version": version, "created": created}
