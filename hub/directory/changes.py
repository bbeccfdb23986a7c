"""Changing an agency's place in the directory: merge it into another, close it, reopen it,
rename it, give or take an alias. Each change is checked by the registry's rule for an agency,
written with its history row and its audit row in one transaction, and clears the registry
cache once committed (``hub.registry.writes.writing``).

A merge or a close ends the code's validity (``valid_to``: the day given, today in Vietnam by
default), so the era's tree leaves it out from that day; documents still carrying the code
resolve to the successor (``hub.directory.resolve``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, insert, select, update

from hub.directory.codes import check_alias
from hub.directory.history import agency_updated, record
from hub.directory.resolution import named, resolve
from hub.directory.rules import check, today
from hub.errors import Conflict, NotFound, SchemaViolation
from hub.registry.lifecycle import update_entry, why
from hub.registry.writes import audit, writing
from hub.store.db import utcnow
from hub.store.tables import agencies, agency_aliases

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["add_alias", "close", "merge", "remove_alias", "rename", "reopen"]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "name_key"}


def _refused(field: str, message: str, short: str) -> SchemaViolation:
    return SchemaViolation(message, errors=[{"path": f"/{field}", "message": short}])


def _ending(row: dict[str, Any], on: date | None) -> date:
    """The day a merge or close takes effect; after the day the code came into force."""
    on = on or today()
    if row["valid_from"] is not None and on <= row["valid_from"]:
        raise _refused(
            "on",
            f"agency {row['code']!r} is in force from {row['valid_from']}: it can end only after",
            "before valid_from",
        )
    return on


def _change(
    conn: Connection,
    actor: str,
    action: str,
    row: dict[str, Any],
    changes: dict[str, Any],
    reason: str | None,
) -> dict[str, Any]:
    after = {**row, **changes}
    check(conn, after)
    conn.execute(update(agencies).where(agencies.c.code == row["code"]).values(**changes))
    agency_updated(conn, row, after, actor, reason)
    audit(conn, actor, action, row["code"], reason)
    return _public(after)


def merge(
    hub: Hub,
    actor: str,
    code: str,
    into: str,
    *,
    reason: str | None = None,
    reparent_children: bool = False,
    on: date | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Merge agency ``code`` into ``into`` (each by code or alias) from day ``on``: it becomes
    ``merged`` with ``into`` its successor; with ``reparent_children`` the agencies under it
    move under ``into`` (each re-parenting in their history). Refused into itself, into an
    agency closed or merged, or into one of its own descendants when its children move."""
    with writing(hub, conn) as conn:
        row, _ = named(conn, code)
        target, _ = named(conn, into)
        if target["code"] == row["code"]:
            raise _refused("into", f"agency {row['code']!r} cannot be merged into itself", "itself")
        if target["state"] == "merged":
            end = resolve(conn, target["code"]).code
            raise Conflict(
                f"agency {target['code']!r} is itself merged into {target['successor_code']!r}: "
                f"merge into {end!r} instead",
                key=target["code"],
            )
        if target["state"] == "closed":
            raise Conflict(
                f"agency {target['code']!r} is closed: an agency cannot be merged into it",
                key=target["code"],
            )
        if row["state"] == "merged":
            if row["successor_code"] == target["code"]:
                return _public(row)
            raise Conflict(
                f"agency {row['code']!r} is already merged into {row['successor_code']!r}; "
                "reopen it first to merge it elsewhere",
                key=row["code"],
            )
        if reparent_children and _under(conn, target["code"], row["code"]):
            raise _refused(
                "into",
                f"agency {target['code']!r} is under {row['code']!r}: its children cannot move "
                "under it",
                "a descendant",
            )
        changes = {
            "state": "merged",
            "successor_code": target["code"],
            "valid_to": _ending(row, on),
        }
        said = why(reason, into=target["code"])
        after = _change(conn, actor, "merge_agency", row, changes, said)
        if reparent_children:
            moved = why(reason, merged=f"{row['code']} into {target['code']}")
            children = conn.execute(
                select(agencies.c.code).where(agencies.c.parent_code == row["code"])
            ).scalars()
            for child in list(children):
                update_entry(
                    hub,
                    actor,
                    "agencies",
                    child,
                    {"parent_code": target["code"]},
                    reason=moved,
                    conn=conn,
                )
        return after


def _under(conn: Connection, code: str, ancestor: str) -> bool:
    """Is ``code`` below ``ancestor`` by ``parent_code``?"""
    seen, current = set(), code
    while current is not None and current not in seen:
        seen.add(current)
        current = conn.execute(
            select(agencies.c.parent_code).where(agencies.c.code == current)
        ).scalar()
        if current == ancestor:
            return True
    return False


def close(
    hub: Hub,
    actor: str,
    code: str,
    *,
    reason: str | None = None,
    on: date | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Close an agency with no successor from day ``on``; closing a closed one changes
    nothing. A merged agency keeps its successor: reopen it first."""
    with writing(hub, conn) as conn:
        row, _ = named(conn, code)
        if row["state"] == "closed":
            return _public(row)
        if row["state"] == "merged":
            raise Conflict(
                f"agency {row['code']!r} is merged into {row['successor_code']!r}; reopen it "
                "first to close it",
                key=row["code"],
            )
        changes = {"state": "closed", "valid_to": _ending(row, on)}
        return _change(conn, actor, "close_agency", row, changes, reason)


def reopen(
    hub: Hub,
    actor: str,
    code: str,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Make a closed or merged agency active again, in force from then on (no ``valid_to``,
    no successor); its old children stay where a merge moved them."""
    with writing(hub, conn) as conn:
        row, _ = named(conn, code)
        if row["state"] == "active":
            return _public(row)
        changes = {"state": "active", "successor_code": None, "valid_to": None}
        return _change(conn, actor, "reopen_agency", row, changes, reason)


def rename(
    hub: Hub,
    actor: str,
    code: str,
    name: str,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """A new name, the code kept (``PATCH /v1/agencies/{code}`` does the same)."""
    return update_entry(hub, actor, "agencies", code, {"name": name}, reason=reason, conn=conn)


def add_alias(
    hub: Hub,
    actor: str,
    code: str,
    alias: str,
    note: str | None = None,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Another spelling of agency ``code``'s code, resolved like it. Refused if it is an
    agency's code or another agency's alias; given again, its note is kept as it was."""
    check_alias(alias)
    with writing(hub, conn) as conn:
        if conn.execute(select(agencies.c.code).where(agencies.c.code == code)).first() is None:
            raise NotFound(f"agency {code!r} does not exist")
        if conn.execute(select(agencies.c.code).where(agencies.c.code == alias)).first():
            raise Conflict(f"{alias!r} is the code of an agency, not an alias", key=alias)
        current = (
            conn.execute(select(agency_aliases).where(agency_aliases.c.alias == alias))
            .mappings()
            .first()
        )
        if current is not None:
            if current["agency_code"] != code:
                raise Conflict(
                    f"{alias!r} is already an alias of agency {current['agency_code']!r}",
                    key=alias,
                )
            return {"alias": alias, "agency_code": code, "note": current["note"]}
        entry = {"alias": alias, "agency_code": code, "note": note}
        conn.execute(insert(agency_aliases).values(**entry, created_at=utcnow()))
        record(conn, code, "alias_add", None, {"alias": alias, "note": note}, actor, reason)
        audit(conn, actor, "add_agency_alias", f"{code}/{alias}", reason)
        return entry


def remove_alias(
    hub: Hub,
    actor: str,
    code: str,
    alias: str,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> None:
    with writing(hub, conn) as conn:
        current = (
            conn.execute(
                select(agency_aliases).where(
                    agency_aliases.c.alias == alias, agency_aliases.c.agency_code == code
                )
            )
            .mappings()
            .first()
        )
        if current is None:
            raise NotFound(f"agency {code!r} has no alias {alias!r}")
        conn.execute(delete(agency_aliases).where(agency_aliases.c.alias == alias))
        before = {"alias": alias, "note": current["note"]}
        record(conn, code, "alias_remove", before, None, actor, reason)
        audit(conn, actor, "remove_agency_alias", f"{code}/{alias}", reason)
