"""The overview's figures, read from the store in a few grouped queries: messages per minute
by status over the last hour, per hour over the last day, counts by service and status, the
error rate, what waits in each connector's queue and its dead letters (``trace.backlog``),
and each connector's health: its circuit, and the operational data's figures for the last hour
(``opdata.by_connector``: attempts, last success and failure, latency of the successful ones) —
a busy day's events would cost the page more than the rest together.

Every query reads a time range through an index (``messages.created_at``,
``message_events.at``) or the deliveries' status index, so the page costs the same with a
million messages in the store as with a thousand (``bench/console.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from hub import opdata, trace
from hub.context import Hub
from hub.model import Status
from hub.store.db import as_utc, utcnow
from hub.store.tables import connector_instances, messages

__all__ = ["Overview", "overview"]

FAILING = (Status.FAILED, Status.DEAD)
_CONNECTORS = select(
    connector_instances.c.name, connector_instances.c.type, connector_instances.c.enabled
).order_by(connector_instances.c.name)


@dataclass
class Overview:
    now: datetime
    per_minute: list[tuple[datetime, dict[str, int]]]  # last hour, a bucket a minute
    per_hour: list[tuple[datetime, dict[str, int]]]  # last day, a bucket an hour
    by_service: list[dict[str, Any]]  # service, counts by status (last hour and day)
    hour_total: int = 0
    hour_failed: int = 0
    backlog: dict[str, dict[str, int]] = field(default_factory=dict)  # ``trace.backlog``
    connectors: list[dict[str, Any]] = field(default_factory=list)

    def waiting(self, connector: str) -> int:
        """Deliveries still to be made through ``connector``."""
        statuses = self.backlog.get(connector, {})
        return sum(n for status, n in statuses.items() if status != Status.DEAD)

    def dead(self, connector: str) -> int:
        return self.backlog.get(connector, {}).get(Status.DEAD, 0)

    @property
    def queued_total(self) -> int:
        return sum(self.waiting(c) for c in self.backlog)

    @property
    def dead_total(self) -> int:
        return sum(self.dead(c) for c in self.backlog)

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


def _connectors(
    conn: Connection, hub: Hub, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Each registered connector with its circuit and its attempts in the window, as the
    operational data's health counts them (``opdata.by_connector``)."""
    seen = opdata.by_connector(conn, since, until)
    circuits = hub.circuits.all()
    return [
        {
            **row,
            "circuit": (circuits.get(row["name"]) or {}).get("state", "closed"),
            **seen.get(row["name"], opdata.QUIET),
        }
        for row in conn.execute(_CONNECTORS).mappings()
    ]


def overview(hub: Hub, now: datetime | None = None) -> Overview:
    now = now or utcnow()
    hour, day = now - timedelta(hours=1), now - timedelta(days=1)
    with hub.reader.connect() as conn:
        by_minute = _counts(conn, hour, "minute")
        by_hour = _counts(conn, day, "hour")
        backlog = trace.backlog(conn)
        connectors = _connectors(conn, hub, hour, now)
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
        backlog=backlog,
        connectors=connectors,
    )
