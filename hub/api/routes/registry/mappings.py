"""Mappings in the registry: the built-in files and the uploaded versions, each with its
example pairs. An upload is compiled and every one of its pairs run before it is kept; one that
fails is refused whole and the last good version stays in force. Routes name a mapping by name
(the latest version, everywhere within the registry cache window) or ``name@N``."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, ValidationError

from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, errors, yaml_body
from hub.api.routes.registry._common import ReasonQuery, registry_router
from hub.api.routes.registry.schemas import (
    SchemaEntry,
    SchemaUploaded,
    listed_documents,
    version_routes,
)
from hub.errors import SchemaViolation
from hub.mapping.catalog import verify
from hub.mapping.sources import stored_examples
from hub.registry import documents
from hub.registry.models import Form, MappingExample

__all__ = ["MappingBundle", "router"]

router = registry_router()
BundleBody = yaml_body(documents.MAX_DOCUMENT_BYTES)


class MappingBundle(Form):
    """What an upload carries: the mapping document and at least one example pair."""

    mapping: dict[str, Any]
    examples: list[MappingExample] = Field(min_length=1)


@router.get("/mappings", response_model=list[SchemaEntry], responses=ADMIN_ERRORS)
def list_mappings(hub: HubDep, admin: AdminDep) -> list[dict[str, Any]]:
    return listed_documents(hub, "mapping", hub.mappings.names())


@router.get(
    "/mappings/{name}",
    responses=errors(401, 403, 422, 503, notes={404: "`not_found`: no such mapping or version"}),
    summary="A mapping as it is in force (`name@N`: that version), with its example pairs",
)
def get_mapping(name: str, hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    version, document = hub.mappings.source.get(name)
    examples = hub.mappings.source.examples(name)
    return {
        "name": name,
        "version": version,
        "mapping": document,
        "examples": [
            {
                "case": e.case,
                "in": {"type": e.given[0], "text": e.given[1].decode()} if e.given else None,
                "out": {"type": e.expected[0], "text": e.expected[1].decode()}
                if e.expected
                else None,
            }
            for e in examples
        ],
    }


@router.put(
    "/mappings/{name}",
    response_model=SchemaUploaded,
    responses=errors(
        401,
        403,
        503,
        notes={
            400: "`malformed_input`: not YAML or JSON (or anchors, aliases, tags)",
            413: f"`payload_too_large`: over {documents.MAX_DOCUMENT_BYTES} bytes",
            422: "`invalid_mapping` (the document, each problem's place named), or "
            "`schema_violation` (the bundle, or an example pair that does not come out as "
            "given); the last good version stays in force",
        },
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": MappingBundle.model_json_schema(by_alias=True)},
                "application/json": {"schema": MappingBundle.model_json_schema(by_alias=True)},
            },
        }
    },
    summary="Upload a mapping with its example pairs: compiled, every pair run, then kept",
)
def upload_mapping(
    name: str, body: BundleBody, hub: HubDep, admin: AdminDep, reason: ReasonQuery = None
) -> dict[str, Any]:
    try:
        bundle = MappingBundle.model_validate(body)
    except ValidationError as exc:
        raise SchemaViolation(
            "not a mapping upload: {mapping, examples}",
            errors=[
                {"path": "/" + "/".join(map(str, e["loc"])), "message": e["msg"]}
                for e in exc.errors()[:20]
            ],
        ) from None
    documents.split_ref(name)  # a plain name: refused otherwise
    stored = [e.model_dump(by_alias=True) for e in bundle.examples]
    verify(name, bundle.mapping, stored_examples(stored), hub.schemas)
    content = json.dumps(bundle.mapping, ensure_ascii=False, indent=2)
    version, created = documents.store(
        hub, admin.system, "mapping", name, content, stored, reason=reason
    )
    return {"name": name, "version": version, "created": created}


version_routes(router, "mapping", "/mappings")
