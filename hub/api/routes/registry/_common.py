"""What the registry's route modules share: their router, the errors a registration can
answer with, and listing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub import registry
from hub.api.models import KEY_SCHEMES, errors
from hub.context import Hub

REGISTER_ERRORS = errors(
    401,
    403,
    413,
    503,
    notes={
        409: "`conflict`: already registered (`details.key` names it)",
        422: "`invalid_request` (a field of the body), `schema_violation` (a code, a mode, a "
        "condition …) or `unknown_reference` (names something not registered); "
        "`details.errors[*].path` names the field",
    },
)


def registry_router() -> APIRouter:
    return APIRouter(prefix="/v1", tags=["registry"], dependencies=KEY_SCHEMES)


def listed(hub: Hub, kind: str) -> list[dict[str, Any]]:
    with hub.reader.connect() as conn:
        return registry.list_all(conn, kind)
