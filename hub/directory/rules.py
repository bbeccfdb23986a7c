"""What an agency entry must satisfy: on its own (``problems``: its state and successor, its
dates, its level — shared by the registry's check and the directory import, so an entry
accepted one way is accepted the other), and against the store (``check``: the registry's rule
for an agency, through the API, the registry file and the directory's own changes). The import
checks the references of a whole file against the store and the file together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Connection, select

from hub.directory.codes import check_code
from hub.errors import Conflict, SchemaViolation, UnknownReference
from hub.store.tables import agencies, agency_aliases, systems

__all__ = [
    "LEVELS",
    "MAX_CHAIN",
    "STATES",
    "VIETNAM",
    "check",
    "in_force",
    "loops",
    "problems",
    "today",
]

STATES = ("active", "closed", "merged")
LEVELS = range(1, 5)  # 1 central, 2 province, 3 district, 4 commune
MAX_CHAIN = 16  # successors followed at most: mergers do not chain deeper than a few steps
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def today() -> date:
    """The date in Vietnam: codes come into and go out of force on Vietnamese dates."""
    return datetime.now(VIETNAM).date()


def problems(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for each rule one entry breaks on its own."""
    found: list[tuple[str, str]] = []
    code, state, successor = row.get("code"), row.get("state", "active"), row.get("successor_code")
    level = row.get("level")
    if level is not None and (isinstance(level, bool) or level not in LEVELS):
        found.append(("level", "must be 1-4"))
    if state not in STATES:
        found.append(("state", "must be active, closed or merged"))
    elif state == "merged" and not successor:
        found.append(("successor_code", "required when the state is merged"))
    elif state != "merged" and successor:
        found.append(("successor_code", "only a merged agency has a successor"))
    if successor and successor == code:
        found.append(("successor_code", "names the agency itself"))
    if row.get("parent_code") and row.get("parent_code") == code:
        found.append(("parent_code", "names the agency itself"))
    start, end = row.get("valid_from"), row.get("valid_to")
    if isinstance(start, date) and isinstance(end, date) and start >= end:
        found.append(("valid_to", "must be after valid_from"))
    return found


def loops(code: str, first: str | None, step: Callable[[str], str | None]) -> bool:
    """Would ``code`` come back to itself following ``step`` (its parent, or its successor)
    from ``first``? A walk longer than any real one counts as a loop."""
    seen, current = {code}, first
    for _ in range(64):
        if current is None:
            return False
        if current in seen:
            return True
        seen.add(current)
        current = step(current)
    return True


def in_force(row: Mapping[str, Any], on: date) -> bool:
    """Was the code in force on ``on``: ``valid_from <= on < valid_to``, a missing date open."""
    start, end = row.get("valid_from"), row.get("valid_to")
    return (start is None or start <= on) and (end is None or on < end)


def check(conn: Connection, row: Mapping[str, Any]) -> None:
    """An agency entry, whole, against the store: a new agency's code must be a directory code
    and not already an alias (one registered before the directory keeps its code); what it
    names must exist; its successors must not come back to it. Each refusal names the field."""
    code = row["code"]
    if conn.execute(select(agencies.c.code).where(agencies.c.code == code)).first() is None:
        check_code("code", code)
        named = conn.execute(
            select(agency_aliases.c.agency_code).where(agency_aliases.c.alias == code)
        ).scalar()
        if named is not None:
            raise Conflict(f"{code!r} is already an alias of agency {named!r}", key=code)
    for field, what, column in (
        ("parent_code", "agency", agencies.c.code),
        ("successor_code", "agency", agencies.c.code),
        ("document_system", "system", systems.c.code),
    ):
        _exists(conn, field, what, column, row.get(field))
    found = problems(row)
    if found:
        raise SchemaViolation(
            "; ".join(f"{field}: {message}" for field, message in found),
            errors=[{"path": f"/{field}", "message": message} for field, message in found],
        )
    if row.get("successor_code") and loops(
        code,
        row["successor_code"],
        lambda c: conn.execute(
            select(agencies.c.successor_code).where(agencies.c.code == c)
        ).scalar(),
    ):
        raise SchemaViolation(
            f"agency {code!r} would be its own successor",
            errors=[{"path": "/successor_code", "message": "makes a cycle"}],
        )


def _exists(conn: Connection, field: str, what: str, column: Column, value: str | None) -> None:
    if value is not None and conn.execute(select(column).where(column == value)).first() is None:
        raise UnknownReference(
            f"{field} names {what} {value!r}, which is not registered",
            errors=[{"path": f"/{field}", "message": f"unknown {what}"}],
        )
