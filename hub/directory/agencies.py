"""Reading the directory: one agency with everything around it, search, and the tree of an era.

Codes are valid for a time (``valid_from <= day < valid_to``, a missing date open), so the
tree on 30 June 2025 has four levels — districts included — and the tree today three. Search
compares names word by word without accents or case ("so tai chinh" finds "Sở Tài chính",
"tai chinh" too) and codes (or aliases) by prefix, pages by code.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, or_, select

from hub.directory.codes import INTERNAL_CODES, fold
from hub.directory.resolution import named, reading, resolve
from hub.directory.rules import in_force, today
from hub.errors import NotFound
from hub.store.db import as_utc
from hub.store.tables import agencies, agency_aliases, systems

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["BRIEF", "PUBLIC", "detail", "search", "tree"]

PUBLIC = [c for c in agencies.c if c.name != "name_key"]  # what an agency shows
BRIEF = [
    agencies.c.code,
    agencies.c.name,
    agencies.c.level,
    agencies.c.state,
    agencies.c.parent_code,
    agencies.c.valid_from,
    agencies.c.valid_to,
]


def _shown(row: Any) -> dict[str, Any]:
    out = {c.name: row[c.name] for c in PUBLIC}
    out["created_at"] = as_utc(out["created_at"])
    return out


def _in_force_on(on: date):
    return and_(
        or_(agencies.c.valid_from.is_(None), agencies.c.valid_from <= on),
        or_(agencies.c.valid_to.is_(None), agencies.c.valid_to > on),
    )


def detail(hub_or_conn: Hub | Connection, code: str) -> dict[str, Any]:
    """The agency ``code`` names (by code or alias) with its resolution, parent, children,
    aliases and document system; ``NotFound`` if it names none."""
    with reading(hub_or_conn) as conn:
        row, alias = named(conn, code)
        parent = None
        if row["parent_code"] is not None:
            parent = dict(
                conn.execute(select(*BRIEF).where(agencies.c.code == row["parent_code"]))
                .mappings()
                .one()
            )
        children = conn.execute(
            select(*BRIEF).where(agencies.c.parent_code == row["code"]).order_by(agencies.c.code)
        ).mappings()
        aliases = conn.execute(
            select(agency_aliases.c.alias, agency_aliases.c.note)
            .where(agency_aliases.c.agency_code == row["code"])
            .order_by(agency_aliases.c.alias)
        ).mappings()
        system = None
        if row["document_system"] is not None:
            system = dict(
                conn.execute(
                    select(
                        systems.c.code, systems.c.name, systems.c.agency_code, systems.c.active
                    ).where(systems.c.code == row["document_system"])
                )
                .mappings()
                .one()
            )
        return {
            **_shown(row),
            "named_by_alias": alias,
            "resolution": resolve(conn, code).as_dict(),
            "parent": parent,
            "children": [dict(c) for c in children],
            "aliases": [dict(a) for a in aliases],
            "receiving_system": system,
        }


def search(
    hub_or_conn: Hub | Connection,
    q: str | None = None,
    *,
    level: int | None = None,
    state: str | None = None,
    as_of: date | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Agencies whose name has a word beginning with each word of ``q`` (accents and case
    aside), or whose code or an alias starts with ``q``; by ``level``, ``state``, in force
    ``as_of``; a page by code after ``cursor``."""
    query = select(*PUBLIC)
    if q and q.strip():
        q = q.strip()
        words = fold(q).split()
        aliased = select(agency_aliases.c.agency_code).where(
            or_(
                agency_aliases.c.alias.startswith(q, autoescape=True),
                agency_aliases.c.alias.startswith(q.upper(), autoescape=True),
            )
        )
        starts = [  # each word begins a word of the name
            or_(
                agencies.c.name_key.startswith(w, autoescape=True),
                agencies.c.name_key.contains(" " + w, autoescape=True),
            )
            for w in words
        ]
        query = query.where(
            or_(
                and_(*starts),
                agencies.c.code.startswith(q, autoescape=True),
                agencies.c.code.startswith(q.upper(), autoescape=True),
                agencies.c.code.in_(aliased),
            )
        )
    if level is not None:
        query = query.where(agencies.c.level == level)
    if state is not None:
        query = query.where(agencies.c.state == state)
    if as_of is not None:
        query = query.where(_in_force_on(as_of))
    if cursor is not None:
        query = query.where(agencies.c.code > cursor)
    with reading(hub_or_conn) as conn:
        rows = conn.execute(query.order_by(agencies.c.code).limit(limit + 1)).mappings().all()
    items = [_shown(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["code"] if len(rows) > limit else None}


def tree(
    hub_or_conn: Hub | Connection, root: str | None = None, as_of: date | None = None
) -> dict[str, Any]:
    """The agencies in force on ``as_of`` (today in Vietnam by default) as a tree by
    ``parent_code``: under ``root`` (a code or alias), or every agency whose parent is not in
    force then (the hub's own operator agency left out: it is no government body).
    ``NotFound`` for a root unknown or not in force on that day."""
    on = as_of or today()
    with reading(hub_or_conn) as conn:
        rows = conn.execute(select(*BRIEF).where(_in_force_on(on))).mappings().all()
        top = named(conn, root)[0] if root is not None else None
    present = {r["code"]: dict(r) for r in rows if r["code"] not in INTERNAL_CODES}
    below: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(present.values(), key=lambda r: r["code"]):
        parent = row["parent_code"] if row["parent_code"] in present else None
        below[parent].append(row)

    def node(row: dict[str, Any], seen: frozenset[str]) -> dict[str, Any]:
        seen = seen | {row["code"]}
        kids = [node(k, seen) for k in below.get(row["code"], []) if k["code"] not in seen]
        return {**row, "children": kids}

    if top is None:
        roots = [node(r, frozenset()) for r in below[None]]
    elif top["code"] in present and in_force(present[top["code"]], on):
        roots = [node(present[top["code"]], frozenset())]
    else:
        raise NotFound(f"agency {top['code']!r} was not in force on {on.isoformat()}")
    return {"as_of": on, "roots": roots}
