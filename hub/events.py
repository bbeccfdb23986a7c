"""The trace: one row per lifecycle step of a message, in the spirit of X-Road's operational
data — what happened, when, on which attempt, through which connector, what the partner
answered, sizes and duration.

Lifecycle: received → validated → routed → queued → transformed → delivering → delivered, with
side exits rejected, retrying, dead, replayed, discarded. Rows of one message are numbered
(``seq``) and hash-chained: each row's hash covers its fields and the previous row's hash, so an
edited, inserted or deleted row shows up in ``verify_chain``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from hub.store.db import as_utc, utcnow
from hub.store.tables import message_events, messages

LIFECYCLE = ("received", "validated", "routed", "queued", "transformed", "delivering",
             "delivered", "acknowledged")
SIDE_EXITS = ("rejected", "retrying", "dead", "replayed", "discarded", "failed")


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


_HASHED = ("message_id", "seq", "event", "at", "delivery_id", "attempt", "connector",
           "remote_status", "error_code", "error", "size_in", "size_out", "duration_ms",
           "details")


def _digest(row: dict[str, Any], prev_hash: str | None) -> str:
    fields = {k: row.get(k) for k in _HASHED}
    fields["at"] = as_utc(fields["at"]).isoformat(timespec="microseconds")
    if fields["duration_ms"] is not None:
        fields["duration_ms"] = round(float(fields["duration_ms"]), 3)
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{prev_hash or ''}|{blob}".encode()).hexdigest()


Tails = dict[str, tuple[int, str | None]]


def chain(events: Sequence[Event], tails: Tails) -> list[dict[str, Any]]:
    """Number and hash ``events`` after ``tails`` (message id → last seq, last hash), which
    is advanced in place. Pure: the caller stores the rows and the new tails."""
    rows = []
    for e in events:
        seq, prev = tails.get(e.message_id, (0, None))
        row = asdict(e)
        row["seq"] = seq + 1
        row["prev_hash"] = prev
        row["hash"] = _digest(row, prev)
        tails[e.message_id] = (row["seq"], row["hash"])
        rows.append(row)
    return rows


def record(conn: Connection, events: Sequence[Event],
           status: Mapping[str, str] | None = None) -> None:
    """Append ``events`` to their messages' traces inside the caller's transaction, and set
    each message's ``status`` if given. The trace's tail lives on the message row, locked here
    (PostgreSQL ``FOR UPDATE``; SQLite writers are serialised anyway), so two workers appending
    to one message (fan-out) take turns instead of colliding on ``seq``."""
    if not events:
        return
    ids = sorted({e.message_id for e in events})
    tails_query = (select(messages.c.id, messages.c.trace_seq, messages.c.trace_hash)
                   .where(messages.c.id.in_(ids)).order_by(messages.c.id))
    if conn.dialect.name == "postgresql":
        tails_query = tails_query.with_for_update()
    tails: Tails = {r.id: (r.trace_seq, r.trace_hash) for r in conn.execute(tails_query)}
    conn.execute(insert(message_events), chain(events, tails))
    now = utcnow()
    conn.execute(
        update(messages).where(messages.c.id == bindparam("message_id"))
        .values(trace_seq=bindparam("seq"), trace_hash=bindparam("tail"),
                **({"status": bindparam("new_status"), "updated_at": now} if status else {})),
        [{"message_id": mid, "seq": tails[mid][0], "tail": tails[mid][1],
          **({"new_status": status[mid]} if status else {})} for mid in ids])


def trace(conn: Connection, message_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(message_events).where(message_events.c.message_id == message_id)
                        .order_by(message_events.c.seq)).mappings().all()
    return [dict(r, at=as_utc(r["at"])) for r in rows]


def verify_chain(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Problems found in one message's trace rows (ordered by seq); empty when intact."""
    problems, prev, expected_seq = [], None, 1
    for row in rows:
        if row["seq"] != expected_seq:
            problems.append(f"seq {expected_seq} missing before {row['seq']}")
        if row["prev_hash"] != prev or _digest(row, prev) != row["hash"]:
            problems.append(f"event seq {row['seq']} ({row['event']}) does not match its hash")
        prev, expected_seq = row["hash"], row["seq"] + 1
    return problems
