"""The registry an integrator fills in: agencies, systems (API clients), services, access
rules, connector instances and routes. Every change is written to the audit log with its actor.
Functions take the caller's connection: the caller owns the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jsonschema
from lxml import etree
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub import schemas
from hub.connector import connector_type, validate_config
from hub.errors import Conflict, NotFound, SchemaViolation, UnknownReference
from hub.mapping import load as load_mapping
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

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
MODES = ("async", "sync")


def audit(conn: Connection, actor: str, action: str, target: str | None,
          reason: str | None = None) -> None:
    conn.execute(insert(audit_log).values(at=utcnow(), actor=actor, action=action,
                                          target=target, reason=reason))


def _code(field: str, value: str) -> str:
    if not isinstance(value, str) or not CODE.match(value):
        raise SchemaViolation(f"{field} must be 1–100 letters, digits or . _ : -",
                              errors=[{"path": f"/{field}", "message": "invalid code"}])
    return value


def _require(conn: Connection, what: str, column, value: str | None, field: str) -> None:
    """A reference to another registry entry must name one that exists (422, naming the
    field) — checked before the insert, so a foreign-key failure never surfaces as a 500."""
    if value is not None and conn.execute(select(column).where(column == value)).first() is None:
        raise UnknownReference(f"{field} names {what} {value!r}, which is not registered",
                               errors=[{"path": f"/{field}", "message": f"unknown {what}"}])


def _insert(conn: Connection, table: Table, row: dict[str, Any], actor: str, what: str,
            key: str) -> dict[str, Any]:
    row["created_at"] = utcnow()
    try:
        with conn.begin_nested():
            conn.execute(insert(table).values(**row))
    except IntegrityError:
        raise Conflict(f"{what} {key!r} already exists or refers to something unknown",
                       key=key) from None
    audit(conn, actor, f"register_{what}", key)
    return row


def add_agency(conn: Connection, actor: str, code: str, name: str,
               parent_code: str | None = None, level: int | None = None) -> dict[str, Any]:
    _require(conn, "agency", agencies.c.code, parent_code, "parent_code")
    return _insert(conn, agencies, {"code": _code("code", code), "name": name,
                                    "parent_code": parent_code, "level": level},
                   actor, "agency", code)


def add_system(conn: Connection, actor: str, code: str, agency_code: str, name: str,
               role: str = "system") -> dict[str, Any]:
    """Registers a client system and returns its API key, which is not stored and not shown
    again."""
    if role not in ("system", "admin"):
        raise SchemaViolation("role must be 'system' or 'admin'",
                              errors=[{"path": "/role", "message": "invalid role"}])
    _require(conn, "agency", agencies.c.code, agency_code, "agency_code")
    key, prefix, digest = new_api_key()
    row = _insert(conn, systems, {"code": _code("code", code), "agency_code": agency_code,
                                  "name": name, "role": role, "key_prefix": prefix,
                                  "key_hash": digest, "active": True},
                  actor, "system", code)
    public = {k: v for k, v in row.items() if k != "key_hash"}
    return {**public, "api_key": key}


def add_service(conn: Connection, actor: str, code: str, name: str, mode: str = "async",
                content_type: str = "application/json", version: str = "1",
                request_schema: str | None = None,
                response_schema: str | None = None) -> dict[str, Any]:
    if mode not in MODES:
        raise SchemaViolation("mode must be 'async' or 'sync'",
                              errors=[{"path": "/mode", "message": "invalid mode"}])
    for field, schema in (("request_schema", request_schema),
                          ("response_schema", response_schema)):
        if schema and schema not in schemas.schema_names():
            raise UnknownReference(f"schema {schema!r} is not in the registry",
                                   errors=[{"path": f"/{field}", "message": "unknown schema"}])
    if schemas.media_family(content_type) is None:
        raise SchemaViolation("content_type must be a JSON or XML media type", errors=[
            {"path": "/content_type", "message": "not JSON or XML"}])
    return _insert(conn, services, {"code": _code("code", code), "name": name, "mode": mode,
                                    "content_type": content_type, "version": version,
                                    "request_schema": request_schema,
                                    "response_schema": response_schema},
                   actor, "service", code)


def allow(conn: Connection, actor: str, system_code: str, service_code: str) -> dict[str, Any]:
    _require(conn, "system", systems.c.code, system_code, "system_code")
    _require(conn, "service", services.c.code, service_code, "service_code")
    return _insert(conn, access_rules, {"system_code": system_code,
                                        "service_code": service_code},
                   actor, "access_rule", f"{system_code}->{service_code}")


def revoke(conn: Connection, actor: str, system_code: str, service_code: str) -> None:
    result = conn.execute(delete(access_rules).where(
        access_rules.c.system_code == system_code, access_rules.c.service_code == service_code))
    if result.rowcount == 0:
        raise NotFound(f"no access rule {system_code}->{service_code}")
    audit(conn, actor, "revoke_access_rule", f"{system_code}->{service_code}")


def add_connector(conn: Connection, actor: str, name: str, type_name: str,
                  config: Mapping[str, Any]) -> dict[str, Any]:
    validate_config(connector_type(type_name), config)
    return _insert(conn, connector_instances, {"name": _code("name", name), "type": type_name,
                                               "config": dict(config), "enabled": True},
                   actor, "connector", name)


def update_connector(conn: Connection, actor: str, name: str,
                     config: Mapping[str, Any]) -> dict[str, Any]:
    row = get(conn, "connectors", name)
    validate_config(connector_type(row["type"]), config)
    conn.execute(update(connector_instances).where(connector_instances.c.name == name)
                 .values(config=dict(config)))
    audit(conn, actor, "update_connector", name)
    return {**row, "config": dict(config)}


def add_route(conn: Connection, actor: str, name: str, connector: str,
              service_code: str | None = None, recipient: str | None = None,
              condition: list[dict[str, Any]] | None = None, mapping: str | None = None,
              priority: int = 100) -> dict[str, Any]:
    _require(conn, "connector", connector_instances.c.name, connector, "connector")
    _require(conn, "service", services.c.code, service_code, "service_code")
    if mapping is not None:
        try:
            load_mapping(mapping)
        except NotFound:
            raise UnknownReference(f"mapping {mapping!r} does not exist", errors=[
                {"path": "/mapping", "message": "unknown mapping"}]) from None
    if condition:
        try:
            check_conditions(condition)
        except (jsonschema.ValidationError, re.error, etree.XPathError, ValueError) as exc:
            raise SchemaViolation("invalid route condition", errors=[
                {"path": "/condition", "message": getattr(exc, "message", str(exc))}]) from None
    return _insert(conn, routes, {"name": _code("name", name), "connector": connector,
                                  "service_code": service_code, "recipient": recipient,
                                  "condition": condition, "mapping": mapping,
                                  "priority": priority, "enabled": True},
                   actor, "route", name)


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
