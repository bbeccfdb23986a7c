"""The registry an integrator fills in — agencies, systems (API clients), services, access
rules, connector instances and routes: ``writes`` registers (audited, clearing the cache once
committed), ``reads`` lists, ``cache`` keeps what every request reads for a few seconds."""

from __future__ import annotations

from hub.registry.cache import RegistryCache
from hub.registry.reads import get, list_all
from hub.registry.writes import (
    add_agency,
    add_connector,
    add_route,
    add_service,
    add_system,
    allow,
    audit,
    changing,
    revoke,
    update_connector,
)

__all__ = [
    "RegistryCache",
    "add_agency",
    "add_connector",
    "add_route",
    "add_service",
    "add_system",
    "allow",
    "audit",
    "changing",
    "get",
    "list_all",
    "revoke",
    "update_connector",
]
