"""The history of each agency: one row per change — created, renamed, re-parented, merged,
closed, reopened, its other fields updated, an alias added or removed — with the fields before
and after, who and why, written in the transaction that makes the change. Rows name the agency
by code without a foreign key, so the history outlives a deleted agency.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hub.directory.codes import fold
from hub.store.db import as_utc, utcnow
from hub.store.tables import agencies, agency_history

__all__ = ["CHANGES", "TRACKED", "agency_updated", "history", "record", "snapshot"]

# The fields of an agency its history follows (``enabled`` is the audit log's: an admin switch).
TRACKED = (
    "name",
    "parent_code",
    "level",
    "state",
    "successor_code",
    "valid_from",
    "valid_to",
    "document_system",
)
CHANGES = (
    "create",
    "rename",
    "reparent",
    "merge",
    "close",
    "reopen",
    "update",
    "alias_add",
    "alias_remove",
)
STATE_FIELDS = ("state", "successor_code", "valid_to")  # a merge or close sets them together
BY_STATE = {"merged": "merge", "closed": "close", "active": "reopen"}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def snapshot(row: Mapping[str, Any], fields: tuple[str, ...] = TRACKED) -> dict[str, Any]:
    """The ``fields`` of an agency row, as JSON."""
    return {name: _plain(row.get(name)) for name in fields}


def record(
    conn: Connection,
    code: str,
    change: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    actor: str,
    reason: str | None,
) -> None:
    conn.execute(
        insert(agency_history).values(
            agency_code=code,
            at=utcnow(),
            change=change,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
            actor=actor,
            reason=reason,
        )
    )


def agency_updated(
    conn: Connection,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    actor: str,
    reason: str | None,
) -> list[str]:
    """An agency's row has changed from ``before`` to ``after``: keep its search key and write
    one history row per kind of change (a state change, a rename, a re-parenting, the rest).
    Returns the kinds written."""
    code = after["code"]
    changed = [n for n in TRACKED if _plain(before.get(n)) != _plain(after.get(n))]
    if "name" in changed:
        conn.execute(
            update(agencies).where(agencies.c.code == code).values(name_key=fold(after["name"]))
        )
    groups: list[tuple[str, tuple[str, ...]]] = []
    if {"state", "successor_code"} & set(changed):
        state_fields = tuple(n for n in STATE_FIELDS if n in changed)
        groups.append((BY_STATE.get(after.get("state"), "update"), state_fields))
    else:
        state_fields = ()
    groups += [("rename", ("name",)), ("reparent", ("parent_code",))]
    rest = tuple(n for n in changed if n not in (*state_fields, "name", "parent_code"))
    groups.append(("update", rest))
    written = []
    for change, fields in groups:
        fields = tuple(n for n in fields if n in changed)
        if fields:
            record(
                conn,
                code,
                change,
                snapshot(before, fields),
                snapshot(after, fields),
                actor,
                reason,
            )
            written.append(change)
    return written


def history(
    conn: Connection, code: str, cursor: int | None = None, limit: int = 100
) -> dict[str, Any]:
    """The agency's history, newest first, a page of ``limit`` after ``cursor`` (an id)."""
    query = select(agency_history).where(agency_history.c.agency_code == code)
    if cursor is not None:
        query = query.where(agency_history.c.id < cursor)
    rows = conn.execute(query.order_by(agency_history.c.id.desc()).limit(limit + 1)).mappings()
    items = [{**row, "at": as_utc(row["at"])} for row in rows]
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": str(items[-1]["id"]) if more else None}
