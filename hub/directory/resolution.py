"""Resolving a code as documents carry it to the agency that answers for it today: an alias to
the agency it names, a merged agency along its successors to the end. The original stays in
the result, for the trace. A closed agency without a successor resolves to itself, state
``closed``: refusing it as a recipient is the caller's decision. An unknown code is
``known=False``, never an error: liberal on input.

It runs per document per recipient, so it is one indexed query (a recursive one: the alias,
then the chain of successors, bounded by ``MAX_CHAIN``); a loop in the chain — which the checks
never let in, but a store edited by hand might hold — stops where it closes, and the result's
``state`` stays ``merged`` so that the caller sees it is not resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, String, bindparam, literal, or_, select

from hub.directory.rules import MAX_CHAIN
from hub.errors import NotFound
from hub.store.tables import agencies, agency_aliases

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["Resolution", "named", "reading", "resolve", "resolve_many"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resolution:
    """``original`` as given; ``code`` the agency that answers for it (``original`` if
    unknown); ``chain`` the agencies followed, first to last; ``state`` the last one's;
    ``alias`` whether ``original`` is another spelling of the first."""

    original: str
    code: str
    chain: tuple[str, ...]
    state: str | None
    known: bool
    alias: bool = False

    @property
    def changed(self) -> bool:
        """Does the document's code differ from the agency that answers for it?"""
        return self.code != self.original

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "chain": list(self.chain)}


@contextmanager
def reading(hub_or_conn: Hub | Connection) -> Iterator[Connection]:
    """A connection: the one given, or one of the hub's readers for the duration."""
    if isinstance(hub_or_conn, Connection):
        yield hub_or_conn
        return
    with hub_or_conn.reader.connect() as conn:
        yield conn


def _chain_query():
    """Every agency from the one ``:code`` names (by code, or as an alias) along its successors,
    with its depth; ``start`` carries the first one's code to tell a code from an alias. Built
    once: building the statement costs far more than running it."""
    code = bindparam("code", type_=String)
    aliased = select(agency_aliases.c.agency_code).where(agency_aliases.c.alias == code)
    first = select(
        agencies.c.code,
        agencies.c.successor_code,
        agencies.c.state,
        agencies.c.code.label("start"),
        literal(0).label("depth"),
    ).where(or_(agencies.c.code == code, agencies.c.code == aliased.scalar_subquery()))
    chain = first.cte("chain", recursive=True)
    step = (
        select(
            agencies.c.code,
            agencies.c.successor_code,
            agencies.c.state,
            chain.c.start,
            chain.c.depth + 1,
        )
        .select_from(agencies.join(chain, agencies.c.code == chain.c.successor_code))
        .where(chain.c.state == "merged", chain.c.depth < MAX_CHAIN)
    )
    chain = chain.union_all(step)
    return select(chain.c.code, chain.c.state, chain.c.start).order_by(chain.c.depth)


CHAIN = _chain_query()


def resolve(hub_or_conn: Hub | Connection, code: str) -> Resolution:
    """The agency that answers for ``code`` today (see the module's docstring)."""
    with reading(hub_or_conn) as conn:
        rows = conn.execute(CHAIN, {"code": code}).all()
    if not rows:
        return Resolution(code, code, (), None, False)
    # A code is never also an alias (the checks refuse it); if a store holds both, the code wins.
    start = code if any(r.start == code for r in rows) else rows[0].start
    chain: list[str] = []
    state = None
    for row in rows:
        if row.start != start:
            continue
        if row.code in chain:
            log.warning("the successors of agency %s loop at %s", chain[0], row.code)
            break
        chain.append(row.code)
        state = row.state
    if state == "merged" and len(chain) > MAX_CHAIN:
        log.warning("the successors of agency %s go on past %d agencies", chain[0], MAX_CHAIN)
    return Resolution(code, chain[-1], tuple(chain), state, True, alias=start != code)


def resolve_many(hub_or_conn: Hub | Connection, codes: Iterable[str]) -> dict[str, Resolution]:
    """Each of ``codes`` resolved (a document's recipients), on one connection."""
    with reading(hub_or_conn) as conn:
        return {code: resolve(conn, code) for code in dict.fromkeys(codes)}


def named(conn: Connection, code: str) -> tuple[dict[str, Any], bool]:
    """The agency row that ``code`` names — by its code, or as an alias — without following
    merges, and whether ``code`` is an alias; ``NotFound`` if it names none."""
    row = conn.execute(select(agencies).where(agencies.c.code == code)).mappings().first()
    if row is not None:
        return dict(row), False
    row = (
        conn.execute(
            select(agencies)
            .join(agency_aliases, agency_aliases.c.agency_code == agencies.c.code)
            .where(agency_aliases.c.alias == code)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no agency has the code or alias {code!r}", code=code)
    return dict(row), True
