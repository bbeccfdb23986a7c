"""The trace: one row per lifecycle step of a message, in the spirit of X-Road's operational
data — what happened, when, on which attempt, through which connector, what the partner
answered, sizes and duration.

Rows of one message are numbered (``seq``) and hash-chained (``hub.chain``), so an edited,
inserted or deleted row shows up in ``verify_chain``. ``record`` appends inside the caller's
transaction; observers (metrics, operational data) are told about the events once that
transaction has committed (``Hub.begin``), and an observer that fails never fails the write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from hub import chain as hash_chain
from hub.store.db import as_utc, utcnow
from hub.store.tables import message_events, messages

__all__ = ["Event", "Observers", "chain", "record", "stage", "trace", "verify_chain"]

log = logging.getLogger(__name__)
PENDING = "lgsp_pending_events"  # Connection.info key: events awaiting the commit


@dataclass
class Event:
    message_id: str
    event: str
    delivery_id: str | None = None
    attempt: int | None = None
    connector: str | None = None
    remote_status: str | None = None
    error_code: str | None = None
    error: str | None = None
    size_in: int | None = None
    size_out: int | None = None
    duration_ms: float | None = None
    details: dict[str, Any] | None = None
    at: datetime = field(default_factory=utcnow)


_HASHED = (
    "message_id",
    "seq",
    "event",
    "at",
    "delivery_id",
    "attempt",
    "connector",
    "remote_status",
    "error_code",
    "error",
    "size_in",
    "size_out",
    "duration_ms",
    "details",
)


def _digest(row: Mapping[str, Any], prev_hash: str | None) -> str:
    if row.get("duration_ms") is not None:
        row = {**row, "duration_ms": round(float(row["duration_ms"]), 3)}
    return hash_chain.digest(row, _HASHED, prev_hash)


Observer = Callable[[Sequence[Event]], None]


class Observers:
    """Who wants to know about committed events (metrics, operational data, the console)."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def notify(self, events: Sequence[Event]) -> None:
        for observer in self._observers:
            try:
                observer(events)
            except Exception:  # an observer's bug must not undo or fail a committed step
                log.exception("event observer %r failed", observer)


Tails = dict[str, tuple[int, str | None]]


def chain(events: Sequence[Event], tails: Tails) -> list[dict[str, Any]]:
    """Number and hash ``events`` after ``tails`` (message id → last seq, last hash), which
    is advanced in place. Pure: the caller stores the rows and the new tails."""
    rows = []
    for e in events:
        seq, prev = tails.get(e.message_id, (0, None))
        row = dict(vars(e))
        row["event"] = str(row["event"])  # an EventKind is stored as its plain value
        row["seq"] = seq + 1
        row["prev_hash"] = prev
        row["hash"] = _digest(row, prev)
        tails[e.message_id] = (row["seq"], row["hash"])
        rows.append(row)
    return rows


def stage(conn: Connection, events: Sequence[Event]) -> None:
    """Hold ``events`` for the observers until the transaction of ``conn`` commits."""
    pending = conn.info.get(PENDING)
    if pending is not None:
        pending.extend(events)


def record(
    conn: Connection, events: Sequence[Event], status: Mapping[str, str] | None = None
) -> None:
    """Append ``events`` to their messages' traces inside the caller's transaction, and set
    each message's ``status`` if given. The trace's tail lives on the message row, locked here
    (PostgreSQL ``FOR UPDATE``; SQLite writers are serialised anyway), so two workers appending
    to one message (fan-out) take turns instead of colliding on ``seq``."""
    if not events:
        return
    stage(conn, events)
    ids = sorted({e.message_id for e in events})
    tails_query = _TAILS_LOCKED if conn.dialect.name == "postgresql" else _TAILS
    tails: Tails = {
        r.id: (r.trace_seq, r.trace_hash) for r in conn.execute(tails_query, {"ids": ids})
    }
    conn.execute(_INSERT_EVENTS, chain(events, tails))
    now = utcnow()
    conn.execute(
        _SET_TAIL_AND_STATUS if status else _SET_TAIL,
        [
            {
                "message_id": mid,
                "seq": tails[mid][0],
                "tail": tails[mid][1],
                "now": now,
                "new_status": status[mid] if status else None,
            }
            for mid in ids
        ],
    )


# Built once: a statement object reused keeps SQLAlchemy from rebuilding and re-keying it.
_TAILS = (
    select(messages.c.id, messages.c.trace_seq, messages.c.trace_hash)
    .where(messages.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(messages.c.id)
)
_TAILS_LOCKED = _TAILS.with_for_update()
_TRACE = (
    select(message_events)
    .where(message_events.c.message_id == bindparam("message_id"))
    .order_by(message_events.c.seq)
)
_INSERT_EVENTS = insert(message_events)
_SET_TAIL = (
    update(messages)
    .where(messages.c.id == bindparam("message_id"))
    .values(trace_seq=bindparam("seq"), trace_hash=bindparam("tail"))
)
_SET_TAIL_AND_STATUS = _SET_TAIL.values(status=bindparam("new_status"), updated_at=bindparam("now"))


def trace(conn: Connection, message_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(_TRACE, {"message_id": message_id}).mappings().all()
    return [dict(r, at=as_utc(r["at"])) for r in rows]


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Problems found in one message's trace rows (ordered by seq); empty when intact."""
    return hash_chain.verify(rows, _digest, lambda r: f"event seq {r['seq']} ({r['event']})")
