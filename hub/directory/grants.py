"""Which agencies a registered system may send documents as ("speaks for"). A system always
speaks for its own agency; an admin grants it others, each alone or with its whole subtree (every
agency below it by ``parent_code``) — a provincial document system sending for the province's
departments, a hosted VDXP client for the communes it serves.

The agency a document names is resolved first (an alias, an old code merged since): the system
speaks for it if it speaks for any agency along that chain, so a system of the agency that took
over an old one speaks for documents still carrying the old code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, insert, literal, select, update

from hub.directory.resolution import named, reading, resolve
from hub.directory.rules import MAX_CHAIN
from hub.errors import NotFound
from hub.registry.lifecycle import why
from hub.registry.writes import audit, writing
from hub.store.db import as_utc, utcnow
from hub.store.tables import agencies, system_agencies, systems

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["grant", "grants", "revoke", "speaks_for"]


def _ancestors_query():
    """Every agency above ``:codes`` by ``parent_code`` (bounded, one recursive query; built
    once, as building it costs more than running it)."""
    codes = bindparam("codes", expanding=True)
    first = select(agencies.c.parent_code.label("code"), literal(0).label("depth")).where(
        agencies.c.code.in_(codes), agencies.c.parent_code.is_not(None)
    )
    up = first.cte("up", recursive=True)
    step = (
        select(agencies.c.parent_code, up.c.depth + 1)
        .select_from(agencies.join(up, agencies.c.code == up.c.code))
        .where(agencies.c.parent_code.is_not(None), up.c.depth < 4 * MAX_CHAIN)
    )
    up = up.union_all(step)
    return select(up.c.code).distinct()


ANCESTORS = _ancestors_query()


def speaks_for(hub_or_conn: Hub | Connection, system_code: str, agency_code: str) -> bool:
    """May system ``system_code`` send documents as ``agency_code`` (resolved)? An unknown
    system or agency speaks for nothing and is spoken for by none."""
    with reading(hub_or_conn) as conn:
        own = conn.execute(
            select(systems.c.agency_code).where(systems.c.code == system_code)
        ).scalar()
        target = resolve(conn, agency_code)
        if own is None or not target.known:
            return False
        granted = {own: False}
        for code, subtree in conn.execute(
            select(system_agencies.c.agency_code, system_agencies.c.subtree).where(
                system_agencies.c.system_code == system_code
            )
        ):
            granted[code] = granted.get(code, False) or subtree
        if any(code in granted for code in target.chain):
            return True
        wide = {code for code, subtree in granted.items() if subtree}
        return bool(wide) and bool(
            wide & set(conn.execute(ANCESTORS, {"codes": list(target.chain)}).scalars())
        )


def grants(conn: Connection, system_code: str) -> list[dict[str, Any]]:
    """The agencies ``system_code`` speaks for: its own first (``own``), then those granted."""
    own = conn.execute(select(systems.c.agency_code).where(systems.c.code == system_code)).scalar()
    if own is None:
        raise NotFound(f"system {system_code!r} does not exist")
    rows = conn.execute(
        select(system_agencies, agencies.c.name, agencies.c.state)
        .join(agencies, agencies.c.code == system_agencies.c.agency_code)
        .where(system_agencies.c.system_code == system_code)
        .order_by(system_agencies.c.agency_code)
    ).mappings()
    listed = [
        {**row, "created_at": as_utc(row["created_at"]), "own": row["agency_code"] == own}
        for row in rows
    ]
    if not any(item["own"] for item in listed):
        agency = conn.execute(
            select(agencies.c.name, agencies.c.state).where(agencies.c.code == own)
        ).one()
        listed.insert(
            0,
            {
                "system_code": system_code,
                "agency_code": own,
                "subtree": False,
                "created_at": None,
                "name": agency.name,
                "state": agency.state,
                "own": True,
            },
        )
    return sorted(listed, key=lambda item: not item["own"])


def grant(
    hub: Hub,
    actor: str,
    system_code: str,
    agency_code: str,
    subtree: bool = False,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """Let a system speak for an agency (named by code or alias), and with ``subtree`` for
    every agency below it; granting again changes ``subtree``. Audited."""
    with writing(hub, conn) as conn:
        if (
            conn.execute(select(systems.c.code).where(systems.c.code == system_code)).first()
            is None
        ):
            raise NotFound(f"system {system_code!r} does not exist")
        agency = named(conn, agency_code)[0]["code"]
        key = (system_agencies.c.system_code == system_code) & (
            system_agencies.c.agency_code == agency
        )
        current = conn.execute(select(system_agencies.c.subtree).where(key)).first()
        if current is None:
            conn.execute(
                insert(system_agencies).values(
                    system_code=system_code,
                    agency_code=agency,
                    subtree=subtree,
                    created_at=utcnow(),
                )
            )
        elif current.subtree != subtree:
            conn.execute(update(system_agencies).where(key).values(subtree=subtree))
        if current is None or current.subtree != subtree:
            audit(
                conn,
                actor,
                "grant_agency",
                f"{system_code}/{agency}",
                why(reason, subtree="yes" if subtree else "no"),
            )
        return next(g for g in grants(conn, system_code) if g["agency_code"] == agency)


def revoke(
    hub: Hub,
    actor: str,
    system_code: str,
    agency_code: str,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> None:
    """Take back a grant (a system's own agency is not a grant: it stays). Audited."""
    with writing(hub, conn) as conn:
        removed = conn.execute(
            delete(system_agencies).where(
                system_agencies.c.system_code == system_code,
                system_agencies.c.agency_code == agency_code,
            )
        ).rowcount
        if not removed:
            raise NotFound(f"system {system_code!r} has no grant for agency {agency_code!r}")
        audit(conn, actor, "revoke_agency", f"{system_code}/{agency_code}", reason)
