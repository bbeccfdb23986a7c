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
from typing import TYPE_CHECKING, Any

import jsonschema
from lxml import etree
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.connector import connector_type, validate_config
from hub.content import media_family
from hub.errors import Conflict, NotFound, SchemaViolation, UnknownReference
from hub.registry.reads import get
from hub.routing import check_conditions
from hub.security import new_api_key
from hub.store.db import utcnow
from hub.store.tables import (
    access_rules,
    agencies,
    audit_log,
    connector_instances,
    routes,
    services,
    systems,
)

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = [
    "add_agency",
    "add_connector",
    "add_route",
    "add_service",
    "add_system",
    "allow",
    "audit",
    "changing",
    "revoke",
    "update_connector",
]

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
MODES = ("async", "sync")
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
    hub.registry.clear()


@contextmanager
def _writing(hub: Hub, conn: Connection | None) -> Iterator[Connection]:
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


def _insert(
    conn: Connection, table: Table, row: dict[str, Any], actor: str, what: str, key: str
) -> dict[str, Any]:
    row["created_at"] = utcnow()
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
    except IntegrityError:
        raise Conflict(
            f"{what} {key!r} already exists or refers to something unknown", key=key
        ) from None
    audit(conn, actor, f"register_{what}", key)
    return row


def add_agency(
    hub: Hub,
    actor: str,
    code: str,
    name: str,
    parent_code: str | None = None,
    level: int | None = None,
    *,
    conn: Connection | None = None,
) -> dict[str, Any]:
    with _writing(hub, conn) as conn:
        _require(conn, "agency", agencies.c.code, parent_code, "parent_code")
        return _insert(
            conn,
            agencies,
            {"code": _code("code", code), "name": name, "parent_code": parent_code, "level": level},
            actor,
            "agency",
            code,
        )


def add_system(
    hub: Hub,
    actor: str,
    code: str,
    agency_code: str,
    name: str,
    role: str = "system",
    *,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Registers a client system and returns its API key, which is not stored and not shown
    again."""
    if role not in ("system", "admin"):
        raise SchemaViolation(
            "role must be 'system' or 'admin'",
            errors=[{"path": "/role", "message": "invalid role"}],
        )
    with _writing(hub, conn) as conn:
        _require(conn, "agency", agencies.c.code, agency_code, "agency_code")
        key, prefix, digest = new_api_key()
        row = _insert(
            conn,
            systems,
            {
                "code": _code("code", code),
                "agency_code": agency_code,
                "name": name,
                "role": role,
                "key_prefix": prefix,
                "key_hash": digest,
                "active": True,
            },
            actor,
            "system",
            code,
        )
    public = {k: v for k, v in row.items() if k != "key_hash"}
    return {**public, "api_key": key}


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
    *,
    conn: Connection | None = None,
) -> dict[str, Any]:
    if mode not in MODES:
        raise SchemaViolation(
            "mode must be 'async' or 'sync'", errors=[{"path": "/mode", "message": "invalid mode"}]
        )
    for field, schema in (("request_schema", request_schema), ("response_schema", response_schema)):
        if schema and schema not in hub.schemas.names():
            raise UnknownReference(
                f"schema {schema!r} is not in the registry",
                errors=[{"path": f"/{field}", "message": "unknown schema"}],
            )
    if media_family(content_type) is None:
        raise SchemaViolation(
            "content_type must be a JSON or XML media type",
            errors=[{"path": "/content_type", "message": "not JSON or XML"}],
        )
    row = {
        "code": _code("code", code),
        "name": name,
        "mode": mode,
        "content_type": content_type,
        "version": version,
        "request_schema": request_schema,
        "response_schema": response_schema,
        "retry_budget_seconds": _budget(retry_budget_seconds),
    }
    with _writing(hub, conn) as conn:
        return _insert(conn, services, row, actor, "service", code)


def allow(
    hub: Hub, actor: str, system_code: str, service_code: str, *, conn: Connection | None = None
) -> dict[str, Any]:
    with _writing(hub, conn) as conn:
        _require(conn, "system", systems.c.code, system_code, "system_code")
        _require(conn, "service", services.c.code, service_code, "service_code")
        return _insert(
            conn,
            access_rules,
            {"system_code": system_code, "service_code": service_code},
            actor,
            "access_rule",
            f"{system_code}->{service_code}",
        )


def revoke(
    hub: Hub, actor: str, system_code: str, service_code: str, *, conn: Connection | None = None
) -> None:
    with _writing(hub, conn) as conn:
        result = conn.execute(
            delete(access_rules).where(
                access_rules.c.system_code == system_code,
                access_rules.c.service_code == service_code,
            )
        )
        if result.rowcount == 0:
            raise NotFound(f"no access rule {system_code}->{service_code}")
        audit(conn, actor, "revoke_access_rule", f"{system_code}->{service_code}")


def add_connector(
    hub: Hub,
    actor: str,
    name: str,
    type_name: str,
    config: Mapping[str, Any],
    retry_budget_seconds: float | None = None,
    *,
    conn: Connection | None = None,
) -> dict[str, Any]:
    validate_config(connector_type(type_name), config)
    row = {
        "name": _code("name", name),
        "type": type_name,
        "config": dict(config),
        "enabled": True,
        "retry_budget_seconds": _budget(retry_budget_seconds),
    }
    with _writing(hub, conn) as conn:
        return _insert(conn, connector_instances, row, actor, "connector", name)


def update_connector(
    hub: Hub,
    actor: str,
    name: str,
    config: Mapping[str, Any],
    retry_budget_seconds: float | None = None,
    *,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Replaces the instance's configuration and retry budget (None: the hub's default)."""
    values = {"config": dict(config), "retry_budget_seconds": _budget(retry_budget_seconds)}
    with _writing(hub, conn) as conn:
        row = get(conn, "connectors", name)
        validate_config(connector_type(row["type"]), config)
        conn.execute(
            update(connector_instances).where(connector_instances.c.name == name).values(**values)
        )
        audit(conn, actor, "update_connector", name)
    return {**row, **values}


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
    conn: Connection | None = None,
) -> dict[str, Any]:
    with _writing(hub, conn) as conn:
        _require(conn, "connector", connector_instances.c.name, connector, "connector")
        _require(conn, "service", services.c.code, service_code, "service_code")
        if mapping is not None:
            try:
                hub.mappings.load(mapping)
            except NotFound:
                raise UnknownReference(
                    f"mapping {mapping!r} does not exist",
                    errors=[{"path": "/mapping", "message": "unknown mapping"}],
                ) from None
        if condition:
            try:
                check_conditions(condition)
            except (jsonschema.ValidationError, re.error, etree.XPathError, ValueError) as exc:
                raise SchemaViolation(
                    "invalid route condition",
                    errors=[{"path": "/condition", "message": getattr(exc, "message", str(exc))}],
                ) from None
        return _insert(
            conn,
            routes,
            {
                "name": _code("name", name),
                "connector": connector,
                "service_code": service_code,
                "recipient": recipient,
                "condition": condition,
                "mapping": mapping,
                "priority": priority,
                "enabled": True,
            },
            actor,
            "route",
            name,
        )
