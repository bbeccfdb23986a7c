"""Importing a list of agencies (a CSV file, a JSON list or the VDXP agency list, read by
``hub.directory.lists``).

All or nothing, in one transaction: the whole file is read and checked against the directory
and itself first — rows in any order (a parent may come after its children) — and a single
bad row stores nothing; each error names its row and field (``row 7: level: must be 1-4``;
a CSV file's rows are numbered as a spreadsheet shows them, the header being row 1, a JSON
list's items from 1). Idempotent: a field the file gives that already holds its value is not
a change, so importing the same file twice changes nothing and writes no history the second
time. A field the file does not give (a column or key absent) is left as it is; an empty cell
is null. A state other than ``merged`` clears the successor. Aliases are added, never removed.
``dry_run`` answers what would change and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, insert, select, update

from hub.directory.codes import fold
from hub.directory.history import TRACKED, agency_updated, snapshot
from hub.directory.lists import Entry, Errors, Format, read
from hub.directory.rules import loops, problems
from hub.registry.lifecycle import why
from hub.registry.writes import audit, writing
from hub.store.db import utcnow
from hub.store.tables import agencies, agency_aliases, agency_history

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["Plan", "import_agencies", "plan"]


# ── checking it against the directory ───────────────────────────────────────────────────────


@dataclass
class Plan:
    """What importing the file does: agencies created (their final rows), changed (before,
    after and the fields), aliases added, and how many rows change nothing."""

    created: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any], list[str]]] = field(default_factory=list)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self, applied: bool, rows: int) -> dict[str, Any]:
        return {
            "applied": applied,
            "rows": rows,
            "created": [row["code"] for row in self.created],
            "changed": [{"code": after["code"], "fields": f} for _, after, f in self.changed],
            "aliases_added": [{"alias": a, "agency_code": c} for a, c in self.aliases],
            "unchanged": self.unchanged,
        }


NEW = {name: None for name in TRACKED} | {"state": "active"}


def plan(conn: Connection, entries: list[Entry]) -> Plan:
    """Check the whole file against the directory and itself; what it would change."""
    stored = {
        r["code"]: dict(r) for r in conn.execute(select(agencies.c.code, *_tracked())).mappings()
    }
    owners = dict(conn.execute(select(agency_aliases.c.alias, agency_aliases.c.agency_code)).all())
    errors = Errors()
    first_at: dict[str, int] = {}
    final: dict[str, dict[str, Any]] = {}
    for entry in entries:
        code = entry.values["code"]
        if code in first_at:
            errors.add(entry.row, "code", f"{code} is listed twice (first at row {first_at[code]})")
            continue
        first_at[code] = entry.row
        given = dict(entry.values)
        if given.get("state") is None and "state" in given:
            given["state"] = "active"
        if given.get("state", "merged") != "merged" and "successor_code" not in given:
            given["successor_code"] = None
        final[code] = {**stored.get(code, {**NEW, "code": code}), **given}
        if code not in stored and code in owners:
            errors.add(entry.row, "code", f"{code} is already an alias of agency {owners[code]}")
    every = {**stored, **final}
    alias_rows: dict[str, int] = {}
    result = Plan()
    for entry in entries:
        code = entry.values["code"]
        if first_at.get(code) != entry.row:
            continue
        row = final[code]
        for name, message in problems(row):
            errors.add(entry.row, name, message)
        for name in ("parent_code", "successor_code"):
            ref = row.get(name)
            if ref is not None and ref not in every:
                errors.add(entry.row, name, f"{ref} is neither in the file nor in the directory")
            elif ref is not None and loops(code, ref, lambda c, n=name: every.get(c, {}).get(n)):
                errors.add(entry.row, name, "makes a cycle")
        adds = len(result.aliases)
        for alias in entry.aliases:
            if alias in every:
                errors.add(entry.row, "aliases", f"{alias} is the code of an agency")
            elif owners.get(alias, code) != code:
                errors.add(entry.row, "aliases", f"{alias} is already an alias of {owners[alias]}")
            elif alias_rows.setdefault(alias, entry.row) != entry.row:
                errors.add(
                    entry.row, "aliases", f"{alias} is listed at row {alias_rows[alias]} too"
                )
            elif alias not in owners:
                result.aliases.append((alias, code))
        if code not in stored:
            result.created.append(row)
            continue
        fields = [n for n in TRACKED if n in entry.values or n == "successor_code"]
        differ = [n for n in fields if row.get(n) != stored[code].get(n)]
        if differ:
            result.changed.append((stored[code], row, differ))
        elif len(result.aliases) == adds:  # nor an alias added
            result.unchanged += 1
    errors.raise_any()
    return result


def _tracked():
    return [agencies.c[name] for name in TRACKED]


# ── importing ───────────────────────────────────────────────────────────────────────────────


def import_agencies(
    hub: Hub,
    actor: str,
    data: bytes,
    fmt: Format,
    *,
    dry_run: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """Import a file of agencies (see the module's docstring): what changed, or with
    ``dry_run`` what would; all of it or, on any error, nothing."""
    entries = read(data, fmt)
    if dry_run:
        with hub.reader.connect() as conn:
            return plan(conn, entries).as_dict(False, len(entries))
    with writing(hub, None) as conn:
        result = plan(conn, entries)
        _carry_out(conn, result, actor, reason)
        if result.created or result.changed or result.aliases:
            audit(
                conn,
                actor,
                "import_agencies",
                f"{fmt} file of {len(entries)} rows",
                why(
                    reason,
                    created=len(result.created),
                    changed=len(result.changed),
                    aliases=len(result.aliases),
                ),
            )
    return result.as_dict(True, len(entries))


def _carry_out(conn: Connection, result: Plan, actor: str, reason: str | None) -> None:
    """New agencies first without what they name (the file's order is any), then every
    reference and change; each with its history."""
    now = utcnow()
    if result.created:
        conn.execute(
            insert(agencies),
            [
                {
                    **row,
                    "parent_code": None,
                    "successor_code": None,
                    "name_key": fold(row["name"]),
                    "enabled": True,
                    "created_at": now,
                }
                for row in result.created
            ],
        )
        referring = [
            {"_code": r["code"], "_parent": r["parent_code"], "_successor": r["successor_code"]}
            for r in result.created
            if r["parent_code"] is not None or r["successor_code"] is not None
        ]
        if referring:
            conn.execute(
                update(agencies)
                .where(agencies.c.code == bindparam("_code"))
                .values(parent_code=bindparam("_parent"), successor_code=bindparam("_successor")),
                referring,
            )
        conn.execute(
            insert(agency_history),
            [
                _history(row["code"], "create", None, snapshot(row), actor, reason, now)
                for row in result.created
            ],
        )
    for before, after, fields in result.changed:
        values = {n: after[n] for n in fields}
        conn.execute(update(agencies).where(agencies.c.code == after["code"]).values(**values))
        agency_updated(conn, before, after, actor, reason)
    if result.aliases:
        conn.execute(
            insert(agency_aliases),
            [
                {"alias": alias, "agency_code": code, "note": None, "created_at": now}
                for alias, code in result.aliases
            ],
        )
        conn.execute(
            insert(agency_history),
            [
                _history(
                    code, "alias_add", None, {"alias": alias, "note": None}, actor, reason, now
                )
                for alias, code in result.aliases
            ],
        )


def _history(
    code: str,
    change: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    actor: str,
    reason: str | None,
    at: datetime,
) -> dict[str, Any]:
    return {
        "agency_code": code,
        "at": at,
        "change": change,
        "before": before,
        "after": after,
        "actor": actor,
        "reason": reason,
    }
