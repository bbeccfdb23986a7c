"""The registry's kinds of entry, and reading them as the admin API shows them; a system's key
hashes are never among what is shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, select

from hub.errors import NotFound
from hub.store.db import as_utc
from hub.store.tables import (
    access_rules,
    agencies,
    connector_instances,
    routes,
    services,
    systems,
)

__all__ = ["KINDS", "HIDDEN", "Kind", "get", "list_all", "public_system"]

HIDDEN = frozenset({"key_hash", "previous_key_hash"})  # never leave the store


@dataclass(frozen=True)
class Kind:
    """One kind of registry entry: its table, the columns that name an entry (an access rule
    is named ``SYSTEM/SERVICE``: codes hold no ``/``), and the flag that disables it."""

    name: str
    label: str
    table: Table
    keys: tuple[Column, ...]
    switch: str = "enabled"

    def key_of(self, row: Mapping[str, Any]) -> str:
        return "/".join(str(row[c.name]) for c in self.keys)

    def where(self, key: str):
        parts = key.split("/")
        if len(parts) != len(self.keys):
            raise NotFound(f"{self.label} {key!r} does not exist")
        return and_(*(c == v for c, v in zip(self.keys, parts, strict=True)))

    @property
    def shown(self) -> list[Column]:
        return [c for c in self.table.c if c.name not in HIDDEN]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("agencies", "agency", agencies, (agencies.c.code,)),
        Kind("systems", "system", systems, (systems.c.code,), switch="active"),
        Kind("services", "service", services, (services.c.code,)),
        Kind(
            "access_rules",
            "access rule",
            access_rules,
            (access_rules.c.system_code, access_rules.c.service_code),
        ),
        Kind("connectors", "connector", connector_instances, (connector_instances.c.name,)),
        Kind("routes", "route", routes, (routes.c.name,)),
    )
}


def public_system(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in HIDDEN}


def _utc(row: Mapping[str, Any]) -> dict[str, Any]:
    """SQLite hands back naive datetimes; the registry's are UTC, and say so."""
    return {k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


def list_all(conn: Connection, kind: str) -> list[dict[str, Any]]:
    k = KINDS[kind]
    return [_utc(r) for r in conn.execute(select(*k.shown).order_by(*k.keys)).mappings()]


def get(conn: Connection, kind: str, key: str, *, hidden: bool = False) -> dict[str, Any]:
    """One entry by its key (``NotFound`` naming it); ``hidden``: with the key hashes too."""
    k = KINDS[kind]
    columns = list(k.table.c) if hidden else k.shown
    row = conn.execute(select(*columns).where(k.where(key))).mappings().first()
    if row is None:
        raise NotFound(f"{k.label} {key!r} does not exist")
    return _utc(row)
