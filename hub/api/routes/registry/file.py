"""The registry as one file (``hub.registry.ascode``): export it, and apply one — with a plan
first, a dry run on request, and the change made whole or not at all."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.api.deps import AdminDep, HubDep
from hub.api.models import ADMIN_ERRORS, errors, yaml_body
from hub.api.routes.registry._common import ReasonQuery, registry_router
from hub.registry import ascode

__all__ = ["Applied", "PlannedChange", "router"]

router = registry_router()

MAX_FILE_BYTES = 8 * 1024 * 1024  # a province's registry is a few hundred kilobytes
RegistryFileBody = yaml_body(MAX_FILE_BYTES)


class PlannedChange(BaseModel):
    kind: str
    key: str
    action: Literal["upload", "create", "update", "enable", "disable"]
    fields: list[str] = Field(description="For an update: the fields that change")


class Applied(BaseModel):
    applied: bool = Field(description="false: a dry run, nothing was changed")
    changes: list[PlannedChange]
    api_keys: dict[str, str] = Field(
        description="The key of each system the file created, shown this once"
    )


@router.get(
    "/registry",
    responses=ADMIN_ERRORS,
    summary="The whole registry as a registry file (no keys, no secrets: only references)",
)
def export_registry(hub: HubDep, admin: AdminDep) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        return ascode.export(conn)


@router.post(
    "/registry/apply",
    response_model=Applied,
    responses=errors(
        401,
        403,
        503,
        notes={
            400: "`malformed_input`: not YAML or JSON, or YAML anchors, aliases or tags",
            413: f"`payload_too_large`: over {MAX_FILE_BYTES} bytes",
            404: "`not_found`: a connector type that is not installed",
            409: "`conflict`: the change would leave no admin able to act",
            422: "`schema_violation` or `unknown_reference`: an entry or the whole file is not "
            "valid (`details.errors[*].path` names where); nothing was changed",
        },
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
    summary="Make the registry match a registry file (YAML or JSON)",
    description="Creates what is new, changes what differs, disables what the file no longer "
    "lists (never deletes). `dry_run=true` answers the plan and changes nothing.",
)
def apply_registry(
    document: RegistryFileBody,
    hub: HubDep,
    admin: AdminDep,
    dry_run: bool = False,
    reason: ReasonQuery = None,
) -> dict[str, Any]:
    return ascode.apply(hub, admin.system, document, dry_run=dry_run, reason=reason)
