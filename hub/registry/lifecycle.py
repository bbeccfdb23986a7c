"""Changing what is registered: update, disable and enable, delete — each entry checked whole
by the same rules as when it was registered, each change audited with who and why.

Disabling keeps the entry and stops its use: a disabled agency's systems and a deactivated
system are refused at the door; a disabled service or access rule refuses submissions; a
disabled route takes no new messages and what it queued waits; a disabled connector's queue
waits (the worker pauses it, as for an open circuit). Nothing queued is lost. Deleting
something still referenced is refused, naming what refers to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, select, update

from hub.directory.history import agency_updated
from hub.errors import Conflict, SchemaViolation
from hub.model import TERMINAL, Status
from hub.registry.reads import KINDS, get, public_system
from hub.registry.writes import CHECKS, audit, writing
from hub.store.tables import (
    access_rules,
    agencies,
    agency_aliases,
    circuits,
    deliveries,
    routes,
    system_agencies,
    systems,
)

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = [
    "UPDATABLE",
    "delete_entry",
    "keep_an_admin",
    "references",
    "set_enabled",
    "update_entry",
    "why",
]

FINISHED = (*TERMINAL, Status.FAILED)  # a delivery in any other state may still be sent

# What an update may change; the key and the kind (a connector's type) are the entry itself.
UPDATABLE: dict[str, frozenset[str]] = {
    "agencies": frozenset(
        {
            "name",
            "parent_code",
            "level",
            "state",
            "successor_code",
            "valid_from",
            "valid_to",
            "document_system",
        }
    ),
    "systems": frozenset({"name", "agency_code", "role"}),
    "services": frozenset(
        {
            "name",
            "mode",
            "content_type",
            "version",
            "request_schema",
            "response_schema",
            "retry_budget_seconds",
            "unroutable",
            "personal_data",
        }
    ),
    "access_rules": frozenset(),
    "connectors": frozenset({"config", "retry_budget_seconds"}),
    "routes": frozenset(
        {"connector", "service_code", "recipient", "condition", "mapping", "priority"}
    ),
}


def why(reason: str | None, **facts: Any) -> str | None:
    """The audit row's reason: the caller's, then what changed (``fields: a, b``)."""
    said = [f"{k}: {v}" for k, v in facts.items() if v]
    return "; ".join([*([reason] if reason else []), *said]) or None


def update_entry(
    hub: Hub,
    actor: str,
    kind: str,
    key: str,
    changes: Mapping[str, Any],
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Change some fields of one entry; the result must pass the registration checks."""
    k = KINDS[kind]
    fixed = sorted(set(changes) - UPDATABLE[kind])
    if fixed:
        raise SchemaViolation(
            f"{', '.join(fixed)} cannot be changed on a {k.label}; delete it and register it again",
            errors=[{"path": f"/{name}", "message": "cannot be changed"} for name in fixed],
        )
    required = sorted(n for n, v in changes.items() if v is None and not k.table.c[n].nullable)
    if required:
        raise SchemaViolation(
            f"{', '.join(required)} cannot be null",
            errors=[{"path": f"/{name}", "message": "cannot be null"} for name in required],
        )
    with writing(hub, conn) as conn:
        current = get(conn, kind, key, hidden=True)
        row = {**current, **changes}
        CHECKS[kind](hub, conn, row)
        if kind == "agencies":
            _no_parent_cycle(conn, key, row.get("parent_code"))
        if kind == "systems" and current["role"] == "admin" and row["role"] != "admin":
            keep_an_admin(conn, key, "take the admin role from")
        changed = sorted(name for name in changes if changes[name] != current.get(name))
        if changed:
            conn.execute(update(k.table).where(k.where(key)).values(**dict(changes)))
            if kind == "agencies":
                agency_updated(conn, current, row, actor, reason)
            audit(
                conn,
                actor,
                f"update_{k.label.replace(' ', '_')}",
                key,
                why(reason, fields=", ".join(changed)),
            )
    return public_system(row)


def set_enabled(
    hub: Hub,
    actor: str,
    kind: str,
    key: str,
    enabled: bool,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    k = KINDS[kind]
    with writing(hub, conn) as conn:
        row = get(conn, kind, key)
        if kind == "systems" and not enabled and row["role"] == "admin":
            keep_an_admin(conn, key, "deactivate")
        if kind == "agencies" and not enabled:
            keep_an_admin(conn, key, "disable", agency=True)
        if row[k.switch] != enabled:
            conn.execute(update(k.table).where(k.where(key)).values({k.switch: enabled}))
            action = "enable" if enabled else "disable"
            audit(conn, actor, f"{action}_{k.label.replace(' ', '_')}", key, reason)
    return {**row, k.switch: enabled}


def delete_entry(
    hub: Hub,
    actor: str,
    kind: str,
    key: str,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> None:
    """Delete one entry, or refuse (409 ``conflict``, ``details.references``) while anything
    registered, or a delivery not yet finished, still names it."""
    k = KINDS[kind]
    with writing(hub, conn) as conn:
        row = get(conn, kind, key)
        if kind == "systems" and row["role"] == "admin":
            keep_an_admin(conn, key, "delete")
        refs = references(conn, kind, key)
        if refs:
            raise Conflict(
                f"{k.label} {key!r} is still referenced by {', '.join(refs[:10])}"
                + (f" and {len(refs) - 10} more" if len(refs) > 10 else ""),
                key=key,
                references=refs,
            )
        if kind == "connectors":
            conn.execute(delete(circuits).where(circuits.c.connector == key))
        conn.execute(delete(k.table).where(k.where(key)))
        audit(conn, actor, f"delete_{k.label.replace(' ', '_')}", key, reason)


def references(conn: Connection, kind: str, key: str) -> list[str]:
    """What still names entry ``key`` of ``kind``, as ``"<kind> <key>"`` phrases."""

    def named(label: str, column, where) -> list[str]:
        return [f"{label} {v}" for v in conn.execute(select(column).where(where)).scalars()]

    rule = access_rules.c.system_code + "/" + access_rules.c.service_code
    if kind == "agencies":
        return [
            *named("system", systems.c.code, systems.c.agency_code == key),
            *named("agency", agencies.c.code, agencies.c.parent_code == key),
            *named("merged agency", agencies.c.code, agencies.c.successor_code == key),
            *named("alias", agency_aliases.c.alias, agency_aliases.c.agency_code == key),
            *named(
                "system speaking for it",
                system_agencies.c.system_code,
                system_agencies.c.agency_code == key,
            ),
            *named("route", routes.c.name, routes.c.recipient == key),
        ]
    if kind == "systems":
        return [
            *named("access rule", rule, access_rules.c.system_code == key),
            *named("agency receiving by it", agencies.c.code, agencies.c.document_system == key),
            *named(
                "agency it speaks for",
                system_agencies.c.agency_code,
                system_agencies.c.system_code == key,
            ),
        ]
    if kind == "services":
        return [
            *named("access rule", rule, access_rules.c.service_code == key),
            *named("route", routes.c.name, routes.c.service_code == key),
        ]
    if kind == "connectors":
        unfinished = conn.execute(
            select(func.count())
            .select_from(deliveries)
            .where(deliveries.c.connector == key, deliveries.c.status.not_in(FINISHED))
        ).scalar_one()
        waiting = (
            [f"{unfinished} deliveries not finished (queued, retrying or {Status.DEAD})"]
            if unfinished
            else []
        )
        return [*named("route", routes.c.name, routes.c.connector == key), *waiting]
    return []


def _no_parent_cycle(conn: Connection, code: str, parent: str | None) -> None:
    seen = {code}
    while parent is not None:
        if parent in seen:
            raise SchemaViolation(
                f"agency {code!r} would be its own ancestor",
                errors=[{"path": "/parent_code", "message": "makes a cycle"}],
            )
        seen.add(parent)
        parent = conn.execute(
            select(agencies.c.parent_code).where(agencies.c.code == parent)
        ).scalar()


def keep_an_admin(conn: Connection, code: str, action: str, *, agency: bool = False) -> None:
    """The hub keeps at least one admin that can act: never lock every admin out. ``code`` is
    the system about to lose that (or, with ``agency``, the agency whose systems would)."""
    lost = systems.c.agency_code == code if agency else systems.c.code == code
    others = conn.execute(
        select(func.count())
        .select_from(systems.join(agencies, agencies.c.code == systems.c.agency_code))
        .where(
            systems.c.role == "admin",
            systems.c.active.is_(True),
            systems.c.key_revoked_at.is_(None),
            agencies.c.enabled.is_(True),
            ~lost,
        )
    ).scalar_one()
    if not others:
        raise Conflict(
            f"cannot {action} {code!r}: "
            + ("its systems include" if agency else "it is")
            + " the only admin able to act; register another admin first",
            key=code,
        )
