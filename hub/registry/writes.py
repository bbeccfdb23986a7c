"""Registering what the hub knows: agencies, systems (API clients), services, access rules,
connector instances and routes. Every change is written to the audit log with its actor.

A write clears this process's registry cache once its transaction has committed — not before,
or a request in between could cache the old answer again for ``ttl`` seconds. Each write runs
in its own transaction, unless it is given ``conn`` from ``changing(hub)``: then several writes
commit together (first start, the demo registry) and the cache is cleared once they have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

import jsonschema
from lxml import etree
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from hub.connector import connector_type, validate_config
from hub.content import media_family
from hub.directory import codes, rules
from hub.directory.history import record, snapshot
from hub.errors import Conflict, NotFound, SchemaViolation, UnknownReference
from hub.registry.reads import KINDS, public_system
from hub.routing import check_conditions
from hub.security import new_api_key
from hub.store.db import utcnow
from hub.store.tables import (
    agencies,
    audit_log,
    connector_instances,
    documents,
    services,
    systems,
)

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = [
    "CHECKS",
    "add_agency",
    "add_connector",
    "add_route",
    "add_service",
    "add_system",
    "allow",
    "audit",
    "changing",
    "register",
    "writing",
]

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
MODES = ("async", "sync")
ROLES = ("system", "admin")
UNROUTABLE = ("refuse", "park")
CHANGING = "lgsp_registry_changing"  # Connection.info mark: opened by ``changing``


@contextmanager
def changing(hub: Hub) -> Iterator[Connection]:
    """One transaction for several registry writes; the cache is cleared once it commits."""
    with hub.begin() as conn:
        conn.info[CHANGING] = True
        try:
            yield conn
        finally:
            conn.info.pop(CHANGING, None)  # info outlives the transaction (pooled connection)
    hub.registry_changed()


@contextmanager
def writing(hub: Hub, conn: Connection | None) -> Iterator[Connection]:
    """``conn`` if a ``changing`` transaction is under way, else one of the write's own."""
    if conn is None:
        with changing(hub) as own:
            yield own
    elif not conn.info.get(CHANGING):
        raise TypeError("a registry write's conn must come from registry.changing(hub)")
    else:
        yield conn


def audit(
    conn: Connection, actor: str, action: str, target: str | None, reason: str | None = None
) -> None:
    conn.execute(
        insert(audit_log).values(
            at=utcnow(), actor=actor, action=action, target=target, reason=reason
        )
    )


def _code(field: str, value: str) -> str:
    if not isinstance(value, str) or not CODE.match(value):
        raise SchemaViolation(
            f"{field} must be 1–100 letters, digits or . _ : -",
            errors=[{"path": f"/{field}", "message": "invalid code"}],
        )
    return value


def _budget(seconds: float | None) -> float | None:
    """A retry budget is a number of seconds above 0, or None for the hub's default."""
    if seconds is not None and (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 < seconds < float("inf")
    ):
        raise SchemaViolation(
            "retry_budget_seconds must be a number of seconds above 0, or "
            "null for the hub's default",
            errors=[{"path": "/retry_budget_seconds", "message": "must be > 0"}],
        )
    return seconds


def _require(conn: Connection, what: str, column, value: str | None, field: str) -> None:
    """A reference to another registry entry must name one that exists (422, naming the
    field) — checked before the insert, so a foreign-key failure never surfaces as a 500."""
    if value is not None and conn.execute(select(column).where(column == value)).first() is None:
        raise UnknownReference(
            f"{field} names {what} {value!r}, which is not registered",
            errors=[{"path": f"/{field}", "message": f"unknown {what}"}],
        )


def _uploaded_here(conn: Connection, kind: str, ref: str) -> bool:
    """Uploaded in this very transaction (a registry file applied whole): not yet in the
    caches, which read what is committed."""
    name, _, version = ref.partition("@")
    where = [documents.c.kind == kind, documents.c.name == name]
    if version.isdigit():
        where.append(documents.c.version == int(version))
    return conn.execute(select(documents.c.version).where(*where).limit(1)).first() is not None


# --- checks: one per kind, on the whole row, shared by registering and updating -------------


def check_agency(hub: Hub, conn: Connection, row: dict[str, Any]) -> None:
    _code("code", row["code"])
    rules.check(conn, row)


def check_system(hub: Hub, conn: Connection, row: dict[str, Any]) -> None:
    _code("code", row["code"])
    if row["role"] not in ROLES:
        raise SchemaViolation(
            "role must be 'system' or 'admin'",
            errors=[{"path": "/role", "message": "invalid role"}],
        )
    _require(conn, "agency", agencies.c.code, row["agency_code"], "agency_code")


def check_service(hub: Hub, conn: Connection, row: dict[str, Any]) -> None:
    _code("code", row["code"])
    if row["mode"] not in MODES:
        raise SchemaViolation(
            "mode must be 'async' or 'sync'", errors=[{"path": "/mode", "message": "invalid mode"}]
        )
    for field in ("request_schema", "response_schema"):
        schema = row.get(field)
        if schema and not (hub.schemas.exists(schema) or _uploaded_here(conn, "schema", schema)):
            raise UnknownReference(
                f"schema {schema!r} is not in the registry",
                errors=[{"path": f"/{field}", "message": "unknown schema"}],
            )
    if media_family(row["content_type"]) is None:
        raise SchemaViolation(
            "content_type must be a JSON or XML media type",
            errors=[{"path": "/content_type", "message": "not JSON or XML"}],
        )
    _budget(row.get("retry_budget_seconds"))
    if row.get("unroutable", "refuse") not in UNROUTABLE:
        raise SchemaViolation(
            "unroutable must be 'refuse' or 'park'",
            errors=[{"path": "/unroutable", "message": "invalid choice"}],
        )
    if row.get("personal_data") and row["mode"] != "sync":
        raise SchemaViolation(
            "personal_data is for synchronous lookups: a queued message must be kept whole "
            "to be delivered",
            errors=[{"path": "/personal_data", "message": "only with mode 'sync'"}],
        )


def check_access_rule(hub: Hub, conn: Connection, row: dict[str, Any]) -> None:
    _require(conn, "system", systems.c.code, row["system_code"], "system_code")
    _require(conn, "service", services.c.code, row["service_code"], "service_code")


def check_connector(hub: Hub, conn: Connection, row: dict[str, Any]) -> None:
    _code("name", row["name"])
    validate_config(connector_type(row["type"]), row["config"])
    _budget(row.get("retry_budget_seconds"))


def check_route(hub: Hub, conn: Connection, row: dict[str, Any]) -> None:
    _code("name", row["name"])
    _require(conn, "connector", connector_instances.c.name, row["connector"], "connector")
    _require(conn, "service", services.c.code, row.get("service_code"), "service_code")
    if row.get("mapping") is not None and not _uploaded_here(conn, "mapping", row["mapping"]):
        try:
            hub.mappings.load(row["mapping"])
        except NotFound:
            raise UnknownReference(
                f"mapping {row['mapping']!r} does not exist",
                errors=[{"path": "/mapping", "message": "unknown mapping"}],
            ) from None
    if row.get("condition"):
        try:
            check_conditions(row["condition"])
        except (jsonschema.ValidationError, re.error, etree.XPathError, ValueError) as exc:
            raise SchemaViolation(
                "invalid route condition",
                errors=[{"path": "/condition", "message": getattr(exc, "message", str(exc))}],
            ) from None


CHECKS = {
    "agencies": check_agency,
    "systems": check_system,
    "services": check_service,
    "access_rules": check_access_rule,
    "connectors": check_connector,
    "routes": check_route,
}


def _add(
    hub: Hub,
    conn: Connection | None,
    kind: str,
    row: dict[str, Any],
    actor: str,
    reason: str | None,
) -> dict[str, Any]:
    """Check ``row`` and insert it as a new entry of ``kind``, audited."""
    table, key = KINDS[kind].table, KINDS[kind].key_of(row)
    with writing(hub, conn) as conn:
        CHECKS[kind](hub, conn, row)
        row["created_at"] = utcnow()
        try:
            with conn.begin_nested():
                conn.execute(insert(table).values(**row))
        except IntegrityError:
            raise Conflict(
                f"{KINDS[kind].label} {key!r} already exists or refers to something unknown",
                key=key,
            ) from None
        audit(conn, actor, f"register_{KINDS[kind].label.replace(' ', '_')}", key, reason)
    return row


# --- registering ----------------------------------------------------------------------------


def add_agency(
    hub: Hub,
    actor: str,
    code: str,
    name: str,
    parent_code: str | None = None,
    level: int | None = None,
    state: str = "active",
    successor_code: str | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    document_system: str | None = None,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Registers an agency of the directory; its history starts with this creation."""
    row = {
        "code": code,
        "name": name,
        "parent_code": parent_code,
        "level": level,
        "state": state,
        "successor_code": successor_code,
        "valid_from": valid_from,
        "valid_to": valid_to,
        "document_system": document_system,
        "enabled": True,
        "name_key": codes.fold(name),
    }
    with writing(hub, conn) as conn:
        row = _add(hub, conn, "agencies", row, actor, reason)
        record(conn, code, "create", None, snapshot(row), actor, reason)
    del row["name_key"]
    return row


def add_system(
    hub: Hub,
    actor: str,
    code: str,
    agency_code: str,
    name: str,
    role: str = "system",
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Registers a client system and returns its API key, which is not stored and not shown
    again."""
    key, prefix, digest = new_api_key()
    row = {
        "code": code,
        "agency_code": agency_code,
        "name": name,
        "role": role,
        "key_prefix": prefix,
        "key_hash": digest,
        "active": True,
    }
    row = _add(hub, conn, "systems", row, actor, reason)
    return {**public_system(row), "api_key": key}


def add_service(
    hub: Hub,
    actor: str,
    code: str,
    name: str,
    mode: str = "async",
    content_type: str = "application/json",
    version: str = "1",
    request_schema: str | None = None,
    response_schema: str | None = None,
    retry_budget_seconds: float | None = None,
    unroutable: str = "refuse",
    personal_data: bool = False,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    row = {
        "code": code,
        "name": name,
        "mode": mode,
        "content_type": content_type,
        "version": version,
        "request_schema": request_schema,
        "response_schema": response_schema,
        "retry_budget_seconds": retry_budget_seconds,
        "unroutable": unroutable,
        "personal_data": personal_data,
        "enabled": True,
    }
    return _add(hub, conn, "services", row, actor, reason)


def allow(
    hub: Hub,
    actor: str,
    system_code: str,
    service_code: str,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    row = {"system_code": system_code, "service_code": service_code, "enabled": True}
    return _add(hub, conn, "access_rules", row, actor, reason)


def add_connector(
    hub: Hub,
    actor: str,
    name: str,
    type_name: str,
    config: Mapping[str, Any],
    retry_budget_seconds: float | None = None,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    row = {
        "name": name,
        "type": type_name,
        "config": dict(config),
        "enabled": True,
        "retry_budget_seconds": retry_budget_seconds,
    }
    return _add(hub, conn, "connectors", row, actor, reason)


def add_route(
    hub: Hub,
    actor: str,
    name: str,
    connector: str,
    service_code: str | None = None,
    recipient: str | None = None,
    condition: list[dict[str, Any]] | None = None,
    mapping: str | None = None,
    priority: int = 100,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    row = {
        "name": name,
        "connector": connector,
        "service_code": service_code,
        "recipient": recipient,
        "condition": condition,
        "mapping": mapping,
        "priority": priority,
        "enabled": True,
    }
    return _add(hub, conn, "routes", row, actor, reason)


def register(
    hub: Hub,
    actor: str,
    kind: str,
    values: Mapping[str, Any],
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Register an entry of ``kind`` from its fields as ``hub.registry.models`` names them
    (a connector's ``type`` included); a system's result carries its new ``api_key``."""
    values = dict(values)
    if kind == "connectors":
        values["type_name"] = values.pop("type")
    adders = {
        "agencies": add_agency,
        "systems": add_system,
        "services": add_service,
        "access_rules": allow,
        "connectors": add_connector,
        "routes": add_route,
    }
    return adders[kind](hub, actor, **values, reason=reason, conn=conn)
