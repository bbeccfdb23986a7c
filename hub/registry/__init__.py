"""The registry an integrator fills in — agencies, systems (API clients), services, access
rules, connector instances and routes: ``writes`` registers (audited, clearing the cache once
committed), ``lifecycle`` updates, disables, enables and deletes, ``keys`` rotates and revokes
a system's key, ``reads`` shows, ``cache`` keeps what every request reads for a few seconds,
``models`` says what each entry takes.

The names below are loaded when first used, so the CLI can read ``hub.registry.models``
without loading the store.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "RegistryCache": "cache",
    "revoke_key": "keys",
    "rotate_key": "keys",
    "UPDATABLE": "lifecycle",
    "delete_entry": "lifecycle",
    "set_enabled": "lifecycle",
    "update_entry": "lifecycle",
    "KINDS": "reads",
    "get": "reads",
    "list_all": "reads",
    **dict.fromkeys(
        (
            "add_agency",
            "add_connector",
            "add_route",
            "add_service",
            "add_system",
            "allow",
            "audit",
            "changing",
        ),
        "writes",
    ),
}


__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
