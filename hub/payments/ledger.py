"""The payment ledger: one row per INIT the platform accepted, and the only place its state
changes. The hub must be able to say, for any fee, whether the citizen paid — even when the
platform's callback never came — so every transaction is here from its INIT on, and every move
between states is one conditional ``UPDATE`` (``move``): a callback and a reconciliation that
race cannot both decide, and neither can undo a payment.

States::

    initiated ──► paid / failed           (callback, QUERY 1 / 4)
        │  └────► pending ──► …            (QUERY 3: the platform does not know yet)
        └───────► unresolved               (still unknown after the reconciliation window)
    failed ─────► paid                    (a later success wins: the money was taken)

The payer's name and ID number (``HoTenNguoiNop``, ``SoCMNDNguoiNop``) are never stored here:
the row keeps what reconciliation and an admin need — reference, amount, dossier, who initiated
it through which connector, the platform's transaction id and result code, and times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub.context import Hub
from hub.errors import Conflict, NotFound
from hub.ids import new_id
from hub.model import Caller
from hub.security import mask_text
from hub.store.db import as_utc
from hub.store.tables import payment_transactions as payments

__all__ = [
    "MOVES",
    "UNKNOWN",
    "State",
    "already",
    "find",
    "known",
    "locked",
    "move",
    "page",
    "record",
    "shown",
]


class State(StrEnum):
    INITIATED = "initiated"
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    UNRESOLVED = "unresolved"


# the states a transaction may come from, for each state it moves to
MOVES: dict[State, frozenset[State]] = {
    State.PAID: frozenset({State.INITIATED, State.PENDING, State.UNRESOLVED, State.FAILED}),
    State.FAILED: frozenset({State.INITIATED, State.PENDING, State.UNRESOLVED}),
    State.PENDING: frozenset({State.INITIATED, State.PENDING}),
    State.UNRESOLVED: frozenset({State.INITIATED, State.PENDING}),
}
UNKNOWN = frozenset({State.INITIATED, State.PENDING})  # what reconciliation asks about


def record(
    hub: Hub,
    *,
    partner: str,
    reference: str,
    amount: int,
    dossier: str | None,
    connector: str,
    caller: Caller,
    message_id: str,
    payment_url: str,
    now: datetime,
) -> str:
    """A new ``initiated`` transaction, in its own store transaction; ``Conflict`` when the
    partner already has the reference (the store's uniqueness decides, so two concurrent INITs
    cannot both be recorded)."""
    ident = new_id()
    try:
        with hub.begin() as conn:
            conn.execute(
                insert(payments).values(
                    id=ident,
                    partner=partner,
                    reference=reference,
                    amount=amount,
                    currency="VND",
                    dossier=dossier,
                    connector=connector,
                    system_code=caller.system,
                    agency=caller.agency,
                    message_id=message_id,
                    state=State.INITIATED,
                    payment_url=payment_url,
                    initiated_at=now,
                    updated_at=now,
                    checks=0,
                )
            )
    except IntegrityError:
        raise already(reference, message_id=message_id) from None
    return ident


def already(reference: str, **details: Any) -> Conflict:
    return Conflict(
        "a payment with this MaThamChieu was already initiated", MaThamChieu=reference, **details
    )


def known(conn: Connection, reference: str) -> bool:
    """Is ``reference`` in the ledger, for any partner? The API names a payment by its
    reference alone, so the hub keeps references unique across its payment partners."""
    found = conn.execute(select(payments.c.id).where(payments.c.reference == reference)).first()
    return found is not None


def find(conn: Connection, reference: str, caller: Caller) -> Mapping[str, Any]:
    """The transaction, for the system that initiated it or an admin; anyone else is told it
    does not exist (as for messages)."""
    query = select(payments).where(payments.c.reference == reference)
    if not caller.is_admin:
        query = query.where(payments.c.system_code == caller.system)
    row = conn.execute(query.order_by(payments.c.id.desc())).mappings().first()
    if row is None:
        raise NotFound("no such payment", MaThamChieu=mask_text(reference))
    return row


def locked(conn: Connection, partner: str, reference: str) -> Mapping[str, Any] | None:
    """The partner's transaction, locked until the transaction ends (PostgreSQL; SQLite's
    writer already holds the whole store)."""
    query = select(payments).where(payments.c.partner == partner, payments.c.reference == reference)
    return conn.execute(query.with_for_update()).mappings().first()


def move(conn: Connection, payment_id: str, to: State, now: datetime, **changes: Any) -> bool:
    """Move the transaction to ``to`` if it is in a state that may; False if not (someone
    decided first). ``changes``: columns set along with it."""
    done = conn.execute(
        update(payments)
        .where(payments.c.id == payment_id, payments.c.state.in_(list(MOVES[to])))
        .values(state=to, updated_at=now, **changes)
    )
    return done.rowcount == 1


def page(
    conn: Connection, cursor: str | None, limit: int, states: Iterable[str] = ()
) -> dict[str, Any]:
    """Newest first (ids are UUIDv7), after ``cursor``, optionally only in ``states``."""
    query = select(payments)
    if states:
        query = query.where(payments.c.state.in_(list(states)))
    if cursor:
        query = query.where(payments.c.id < cursor)
    rows = conn.execute(query.order_by(payments.c.id.desc()).limit(limit + 1)).mappings().all()
    more = len(rows) > limit
    return {
        "items": [shown(r) for r in rows[:limit]],
        "next_cursor": rows[limit - 1]["id"] if more else None,
    }


def shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """The transaction as the API shows it: protocol values under their protocol names, the
    caller-supplied reference and dossier masked like any caller-supplied value."""
    return {
        "id": row["id"],
        "MaThamChieu": mask_text(row["reference"]),
        "MaDoiTac": row["partner"],
        "SoTien": row["amount"],
        "MaTienTe": row["currency"],
        "MaHoSo": mask_text(row["dossier"]) if row["dossier"] else None,
        "state": row["state"],
        "UrlThanhToan": row["payment_url"],
        "MaGiaoDich": row["transaction_id"],
        "MaLoi": row["result_code"],
        "settled_at": as_utc(row["settled_at"]),
        "system": row["system_code"],
        "connector": row["connector"],
        "message_id": row["message_id"],
        "initiated_at": as_utc(row["initiated_at"]),
        "updated_at": as_utc(row["updated_at"]),
        "checked_at": as_utc(row["checked_at"]),
        "checks": row["checks"],
    }
