"""Registry entries as the admin API lists them; a system's key hash is never among them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, select

from hub.errors import NotFound
from hub.store.tables import (
    access_rules,
    agencies,
    connector_instances,
    routes,
    services,
    systems,
)

__all__ = ["LISTABLE", "get", "list_all"]

LISTABLE: dict[str, tuple[Table, Any]] = {
    "agencies": (agencies, agencies.c.code),
    "systems": (systems, systems.c.code),
    "services": (services, services.c.code),
    "access_rules": (access_rules, access_rules.c.id),
    "connectors": (connector_instances, connector_instances.c.name),
    "routes": (routes, routes.c.name),
}


def list_all(conn: Connection, kind: str) -> list[dict[str, Any]]:
    table, order = LISTABLE[kind]
    cols = [c for c in table.c if c.name != "key_hash"]
    return [dict(r) for r in conn.execute(select(*cols).order_by(order)).mappings()]


def get(conn: Connection, kind: str, key: str) -> dict[str, Any]:
    table, pk = LISTABLE[kind]
    row = conn.execute(select(table).where(pk == key)).mappings().first()
    if row is None:
        raise NotFound(f"{kind[:-1]} {key!r} does not exist")
    return dict(row)
