"""The overview's figures, read from the store in a few grouped queries: messages per minute
by status over the last hour, per hour over the last day, counts by service and status, the
error rate, what waits in each connector's queue, the dead letters, and each connector's
health: its circuit, and from the trace's last hour its last success and failure and latency
(reading a busy day's events would cost the page more than the rest together).

Every query reads a time range through an index (``messages.created_at``,
``message_events.at``) or the deliveries' status index, so the page costs the same with a
million messages in the store as with a thousand (``bench/console.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, func, select

from hub.context import Hub
from hub.store.db import as_utc, utcnow
from hub.store.tables import connector_instances, deliveries, message_events, messages

__all__ = ["Overview", "overview"]

WAITING = ("queued", "retrying", "delivering")
FAILING = ("failed", "dead")
CLOSING = ("delivered", "retrying", "failed", "dead")  # events that end a delivery attempt
IDLE = {  # a connector with no attempt in the window
    "succeeded": 0,
    "failed": 0,
    "last_success": None,
    "last_failure": None,
    "latency_avg": None,
    "latency_max": None,
}


@dataclass
class Overview:
    now: datetime
    per_minute: list[tuple[datetime, dict[str, int]]]  # last hour, a bucket a minute
    per_hour: list[tuple[datetime, dict[str, int]]]  # last day, a bucket an hour
    by_service: list[dict[str, Any]]  # service, counts by status (last hour and day)
    hour_total: int = 0
    hour_failed: int = 0
    queues: dict[str, dict[str, int]] = field(default_factory=dict)  # connector → status → n
    dead: dict[str, int] = field(default_factory=dict)
    connectors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def queued_total(self) -> int:
        return sum(n for statuses in self.queues.values() for n in statuses.values())

    @property
    def dead_total(self) -> int:
        return sum(self.dead.values())

    @property
    def error_rate(self) -> float | None:
        return self.hour_failed / self.hour_total if self.hour_total else None


def _truncated(conn: Connection, column, unit: str):
    """``column`` cut to the minute or the hour, as a value both stores group by."""
    if conn.dialect.name == "postgresql":
        return func.date_trunc(unit, column)
    return func.substr(column, 1, 16 if unit == "minute" else 13)  # stored ISO text


def _bucket_time(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite: '2026-11-27 08:05' or '2026-11-27 08'
        value = datetime.fromisoformat(value if len(value) > 13 else value + ":00")
    return as_utc(value)


Counts = list[tuple[datetime, str, str, int]]  # bucket, service, status, messages


def _counts(conn: Connection, since: datetime, unit: str) -> Counts:
    """Messages since ``since`` by ``unit`` (minute or hour), service and status: one range
    read of ``created_at``, feeding both a chart and the by-service table."""
    bucket = _truncated(conn, messages.c.created_at, unit).label("bucket")
    rows = conn.execute(
        select(bucket, messages.c.service_code, messages.c.status, func.count())
        .where(messages.c.created_at >= since)
        .group_by(bucket, messages.c.service_code, messages.c.status)
    ).all()
    return [(_bucket_time(when), service or "—", status, n) for when, service, status, n in rows]


def _series(
    counts: Counts, since: datetime, step: timedelta, count: int
) -> list[tuple[datetime, dict[str, int]]]:
    first = since.replace(second=0, microsecond=0)
    if step >= timedelta(hours=1):
        first = first.replace(minute=0)
    slots: dict[datetime, dict[str, int]] = {first + step * i: {} for i in range(count + 1)}
    for when, _, status, n in counts:
        slot = slots.setdefault(when, {})
        slot[status] = slot.get(status, 0) + n
    return sorted(slots.items())[-count:]


def _by_service(hour: Counts, day: Counts) -> list[dict[str, Any]]:
    services: dict[str, dict[str, Any]] = {}
    for window, counts in (("hour", hour), ("day", day)):
        for _, service, status, n in counts:
            entry = services.setdefault(service, {"service": service, "hour": {}, "day": {}})
            entry[window][status] = entry[window].get(status, 0) + n
    for entry in services.values():
        entry["day_total"] = sum(entry["day"].values())
        entry["hour_total"] = sum(entry["hour"].values())
    return sorted(services.values(), key=lambda e: -e["day_total"])


def _waiting(conn: Connection) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    rows = conn.execute(
        select(deliveries.c.connector, deliveries.c.status, func.count())
        .where(deliveries.c.status.in_((*WAITING, "dead")))
        .group_by(deliveries.c.connector, deliveries.c.status)
    ).all()
    queues: dict[str, dict[str, int]] = {}
    dead: dict[str, int] = {}
    for connector, status, n in rows:
        if status == "dead":
            dead[connector] = n
        else:
            queues.setdefault(connector, {})[status] = n
    return queues, dead


def _connector_health(conn: Connection, hub: Hub, since: datetime) -> list[dict[str, Any]]:
    ok = message_events.c.event == "delivered"
    rows = conn.execute(
        select(
            message_events.c.connector,
            func.sum(case((ok, 1), else_=0)),
            func.count(),
            func.max(case((ok, message_events.c.at), else_=None)),
            func.max(case((~ok, message_events.c.at), else_=None)),
            func.avg(message_events.c.duration_ms),
            func.max(message_events.c.duration_ms),
        )
        .where(message_events.c.at >= since, message_events.c.event.in_(CLOSING))
        .group_by(message_events.c.connector)
    ).all()
    seen = {
        r[0]: {
            "succeeded": int(r[1] or 0),
            "failed": int(r[2] - (r[1] or 0)),
            "last_success": as_utc(r[3]) if r[3] else None,
            "last_failure": as_utc(r[4]) if r[4] else None,
            "latency_avg": r[5],
            "latency_max": r[6],
        }
        for r in rows
    }
    circuits = hub.circuits.all()
    out = []
    for row in conn.execute(
        select(
            connector_instances.c.name, connector_instances.c.type, connector_instances.c.enabled
        ).order_by(connector_instances.c.name)
    ).mappings():
        circuit = circuits.get(row["name"]) or {}
        out.append(
            {
                **row,
                "circuit": circuit.get("state", "closed"),
                **seen.get(row["name"], IDLE),
            }
        )
    return out


def overview(hub: Hub, now: datetime | None = None) -> Overview:
    now = now or utcnow()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    with hub.reader.connect() as conn:
        by_minute = _counts(conn, hour, "minute")
        by_hour = _counts(conn, day, "hour")
        queues, dead = _waiting(conn)
        connectors = _connector_health(conn, hub, hour)
    per_minute = _series(by_minute, hour, timedelta(minutes=1), 60)
    per_hour = _series(by_hour, day, timedelta(hours=1), 24)
    services = _by_service(by_minute, by_hour)
    total = sum(e["hour_total"] for e in services)
    failed = sum(e["hour"].get(s, 0) for e in services for s in FAILING)
    return Overview(
        now=now,
        per_minute=per_minute,
        per_hour=per_hour,
        by_service=services,
        hour_total=total,
        hour_failed=failed,
        queues=queues,
        dead=dead,
        connectors=connectors,
    )
