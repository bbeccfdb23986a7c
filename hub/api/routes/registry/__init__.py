"""The registry, for admins: agencies, systems (the API key is shown once), services, access
rules, connector instances and types, and routes — one module per resource. Registering is
POST, listing GET; the body is read only after the admin check (``hub.api.models.json_body``).
"""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.routes.registry import (
    access_rules,
    agencies,
    connectors,
    file,
    mappings,
    routes,
    schemas,
    services,
    systems,
)

__all__ = ["router"]

router = APIRouter()
for _module in (
    agencies,
    systems,
    services,
    access_rules,
    connectors,
    routes,
    schemas,
    mappings,
    file,
):
    router.include_router(_module.router)
