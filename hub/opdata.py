"""Operational data, X-Road style: one flat record per exchange between the hub and a partner —
a delivery attempt — and per-service health, both read from the trace (``message_events``). No
table of their own, so they can never disagree with the trace an admin is shown.

A record is the event that closed an attempt (``delivered``, ``retrying``, ``failed``,
``dead``; ``hub.attempt``) joined to its message:

=================  ======================================================================
record field       taken from
=================  ======================================================================
client_*           the message's sender (agency, system)
service_*          the message's service code and version
request_in         the message's ``received`` time (``messages.created_at``)
request_out        the closing event's ``at`` minus its ``duration_ms`` (the connector call)
response_in        the closing event's ``at``
response_out       a synchronous call only (its message was never queued): ``response_in``
message_size       ``messages.size``: the request as the client sent it
request_size       the event's ``size_out``: what went to the partner, after the mapping
response_size      the event's ``size_in``: the partner's answer
fault_*, status    the event's ``error_code``, ``error`` (masked), ``remote_status``
=================  ======================================================================

Records are read by a window on ``response_in``, ordered by (``at``, event id), in pages whose
``next_records_from`` names the last record given. An event's ``at`` is taken before its
transaction commits, so a row can appear a moment after later ones: the window is cut at
``now - SETTLE_SECONDS`` (X-Road's records-available offset) and ``records_available_before``
says where, so a reader that comes back later skips nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, literal, or_, select

from hub.model import ATTEMPT_CLOSED
from hub.security import mask_text
from hub.store.db import as_utc, utcnow
from hub.store.tables import deliveries, message_events, messages

__all__ = [
    "MAX_WINDOW",
    "SETTLE_SECONDS",
    "QUIET",
    "Cursor",
    "by_connector",
    "health",
    "records",
]

SETTLE_SECONDS = 3.0  # longer than an event's wait between its ``at`` and its commit
MAX_WINDOW = timedelta(days=31)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    """The last record a page gave: its ``response_in`` and its event id. Shown as
    ``<microseconds since the epoch>-<id>``, opaque to readers."""

    at: datetime
    id: int

    def __str__(self) -> str:
        return f"{(self.at - _EPOCH) // _MICROSECOND}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Raises ``ValueError`` when ``text`` is not a cursor this module made."""
        micros, _, row_id = text.partition("-")
        if not (micros.isdigit() and row_id.isdigit()):
            raise ValueError(f"not a next_records_from value: {text!r}")
        try:
            return cls(_EPOCH + timedelta(microseconds=int(micros)), int(row_id))
        except OverflowError:
            raise ValueError(f"not a next_records_from value: {text!r}") from None


e, m = message_events, messages
_queued = message_events.alias("queued")
# A synchronous call's message is never queued. A scalar subquery with LIMIT, not EXISTS:
# PostgreSQL would hash EXISTS over every queued event of the table instead of looking up the
# few messages of a page by the (message_id, seq) index.
_SYNCHRONOUS = (
    select(literal(1))
    .where(_queued.c.message_id == e.c.message_id, _queued.c.event == "queued")
    .limit(1)
    .scalar_subquery()
    .is_(None)
)
_WINDOW = and_(
    e.c.event.in_(ATTEMPT_CLOSED), e.c.at >= bindparam("since"), e.c.at < bindparam("until")
)
_RECORDS = (
    select(
        e.c.id,
        e.c.message_id,
        e.c.delivery_id,
        e.c.event,
        e.c.at,
        e.c.attempt,
        e.c.connector,
        e.c.remote_status,
        e.c.error_code,
        e.c.error,
        e.c.size_in,
        e.c.size_out,
        e.c.duration_ms,
        m.c.sender_agency,
        m.c.sender_system,
        m.c.service_code,
        m.c.service_version,
        m.c.correlation_id,
        m.c.created_at,
        m.c.size,
        _SYNCHRONOUS.label("synchronous"),
    )
    .join_from(e, m, m.c.id == e.c.message_id)
    .where(_WINDOW)
    .order_by(e.c.at, e.c.id)
    .limit(bindparam("limit"))
)
# After a cursor: ``at >= since`` (the index range) already starts at the cursor's time.
_RECORDS_AFTER = _RECORDS.where(or_(e.c.at > bindparam("since"), e.c.id > bindparam("after_id")))


def records(
    conn: Connection,
    since: datetime,
    until: datetime,
    after: Cursor | None = None,
    limit: int = 500,
    *,
    now: datetime | None = None,
    settle: float = SETTLE_SECONDS,
) -> dict[str, Any]:
    """The exchanges that ended in [``since``, ``until``) — cut at ``now - settle`` — after
    ``after``, oldest first, at most ``limit``: ``{"records", "next_records_from",
    "records_available_before"}``. ``next_records_from`` is set while more remain before the
    cut; past the cut, ask again with the same window once the time has passed."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    available = min(until, (now or utcnow()) - timedelta(seconds=settle))
    params: dict[str, Any] = {"since": since, "until": available, "limit": limit + 1}
    query = _RECORDS
    if after is not None:
        query = _RECORDS_AFTER
        if after.at >= since:
            params.update(since=after.at, after_id=after.id)
        else:  # a cursor from before the window: the window's start is later anyway
            params.update(after_id=-1)
    rows = conn.execute(query, params).mappings().all() if since < available else []
    page = [_record(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {
        "records": page,
        "next_records_from": str(Cursor(page[-1]["response_in"], page[-1]["id"])) if more else None,
        "records_available_before": available,
    }


def _record(r: Mapping[str, Any]) -> dict[str, Any]:
    response_in = as_utc(r["at"])
    took = r["duration_ms"]
    request_out = response_in - timedelta(milliseconds=took) if took is not None else None
    synchronous = bool(r["synchronous"])
    request_in = as_utc(r["created_at"])
    correlation = r["correlation_id"]
    return {
        "id": r["id"],
        "message_id": r["message_id"],
        "delivery_id": r["delivery_id"],
        "correlation_id": correlation if correlation == r["message_id"] else mask_text(correlation),
        "client_agency": r["sender_agency"],
        "client_system": r["sender_system"],
        "service_code": r["service_code"],
        "service_version": r["service_version"],
        "connector": r["connector"],
        "attempt": r["attempt"],
        "synchronous": synchronous,
        "request_in": request_in,
        "request_out": request_out,
        "response_in": response_in,
        "response_out": response_in if synchronous else None,
        "message_size": r["size"],
        "request_size": r["size_out"],
        "response_size": r["size_in"],
        "succeeded": r["event"] == "delivered",
        "outcome": r["event"],
        "fault_code": r["error_code"],
        "fault_string": mask_text(r["error"]) if r["error"] is not None else None,
        "status_code": mask_text(r["remote_status"]) if r["remote_status"] is not None else None,
    }


# ── health ───────────────────────────────────────────────────────────────────────────────

_OK = e.c.event == "delivered"
_OK_MS = case((_OK, e.c.duration_ms))
_HEALTH = (
    select(
        m.c.service_code,
        e.c.connector,
        func.sum(case((_OK, 1), else_=0)).label("successes"),
        func.sum(case((_OK, 0), else_=1)).label("failures"),
        func.min(_OK_MS).label("latency_min_ms"),
        func.max(_OK_MS).label("latency_max_ms"),
        func.sum(_OK_MS).label("latency_sum_ms"),
        func.count(_OK_MS).label("timed"),
        func.max(case((_OK, e.c.at))).label("last_success_at"),
        func.max(case((e.c.event != "delivered", e.c.at))).label("last_failure_at"),
    )
    .join_from(e, m, m.c.id == e.c.message_id)
    .where(_WINDOW)
    .group_by(m.c.service_code, e.c.connector)
)
_DEAD = (
    select(m.c.service_code, deliveries.c.connector, func.count().label("dead_letters"))
    .join_from(deliveries, m, m.c.id == deliveries.c.message_id)
    .where(deliveries.c.status == "dead")
    .group_by(m.c.service_code, deliveries.c.connector)
)

_IDLE = {  # a connector with dead letters but no attempt in the window
    "successes": 0,
    "failures": 0,
    "latency_min_ms": None,
    "latency_max_ms": None,
    "latency_sum_ms": None,
    "timed": 0,
    "last_success_at": None,
    "last_failure_at": None,
}


def health(conn: Connection, since: datetime, until: datetime) -> dict[str, Any]:
    """Per service, and within it per connector: attempts that succeeded and failed in
    [``since``, ``until``) (by ``response_in``), the latency of the successful ones (min, avg,
    max of the connector call, ms, as X-Road counts it), the last success and failure, and
    the dead letters waiting now (whenever they died). Not cut at the settle offset: a summary
    that lags by a row is still right a moment later."""
    params = {"since": since.astimezone(UTC), "until": until.astimezone(UTC)}
    traffic = conn.execute(_HEALTH, params).mappings().all()
    dead = {
        (r["service_code"], r["connector"]): r["dead_letters"]
        for r in conn.execute(_DEAD).mappings()
    }
    by_service: dict[str | None, list[dict[str, Any]]] = {}
    for r in traffic:
        by_service.setdefault(r["service_code"], []).append(
            {**r, "dead_letters": dead.pop((r["service_code"], r["connector"]), 0)}
        )
    for (service, connector), count in dead.items():  # dead letters, no traffic in the window
        by_service.setdefault(service, []).append(
            {**_IDLE, "connector": connector, "dead_letters": count}
        )
    services = [
        {
            "service_code": service,
            **_fold(rows),
            "dead_letters": sum(r["dead_letters"] for r in rows),
            "connectors": sorted(
                (
                    {"connector": r["connector"], **_fold([r]), "dead_letters": r["dead_letters"]}
                    for r in rows
                ),
                key=lambda c: c["connector"] or "",
            ),
        }
        for service, rows in by_service.items()
    ]
    services.sort(key=lambda s: s["service_code"] or "")
    return {
        "from": params["since"],
        "to": params["until"],
        "services": services,
        "dead_letters": sum(s["dead_letters"] for s in services),
    }


def _fold(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Groups' counts added, their latencies combined (the average weighted by count); no
    rows: a connector or service with no attempt in the window."""
    rows = list(rows)
    timed = sum(r["timed"] for r in rows)

    def extreme(pick, name: str) -> Any:
        values = [r[name] for r in rows if r[name] is not None]
        return pick(values) if values else None

    total_ms = sum(r["latency_sum_ms"] or 0.0 for r in rows)
    return {
        "successes": int(sum(r["successes"] for r in rows)),
        "failures": int(sum(r["failures"] for r in rows)),
        "latency_min_ms": extreme(min, "latency_min_ms"),
        "latency_avg_ms": total_ms / timed if timed else None,
        "latency_max_ms": extreme(max, "latency_max_ms"),
        "last_success_at": as_utc(extreme(max, "last_success_at")),
        "last_failure_at": as_utc(extreme(max, "last_failure_at")),
    }


QUIET = _fold([])  # the figures of a window without an attempt


def by_connector(conn: Connection, since: datetime, until: datetime) -> dict[str, dict[str, Any]]:
    """``health``'s traffic figures per connector, whatever the service (the console's
    overview); a connector without an attempt in the window is absent (``QUIET``)."""
    params = {"since": since.astimezone(UTC), "until": until.astimezone(UTC)}
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in conn.execute(_HEALTH, params).mappings():
        rows.setdefault(r["connector"], []).append(r)
    return {connector: _fold(group) for connector, group in rows.items()}
