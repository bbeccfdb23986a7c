"""The read side: what the API shows — and through it the CLI and the dashboard — about
messages, dead letters, refused requests (denials) and the audit log.

Filters match the stored values exactly; what a caller or a partner supplied is shown masked
(``hub.security``, Decree 13/2023), since an envelope header, a correlation id or an
idempotency key can carry a citizen's ID number. The trace's hash chain is checked on the
stored rows, before anything is masked. Lists are pages, newest first: ``next_cursor`` is the
last id of the page, passed back as ``cursor`` for the next one (ids grow with time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, bindparam, func, or_, select

from hub import ids
from hub.errors import NotFound
from hub.events import trace, verify_chain
from hub.model import WAITING, Caller, Status
from hub.security import mask_text, mask_value
from hub.store.db import as_utc
from hub.store.tables import agencies, deliveries, messages, systems
from hub.store.tables import audit_log as audit_rows
from hub.store.tables import denials as denial_rows
from hub.store.tables import personal_data_access as access_rows

__all__ = [
    "AuditFilters",
    "DenialFilters",
    "MessageFilters",
    "PersonalDataFilters",
    "audit_log",
    "backlog",
    "dead_letters",
    "denials",
    "message",
    "personal_data_access",
    "search",
]

Page = dict[str, Any]  # {"items": [...], "next_cursor": str | None}

SUMMARY = [c for c in messages.c if c.name not in ("payload", "blob_ref")]
# An id in this form is the hub's or a system's message id — not personal data, and masking
# the digit runs a UUID can hold would break it as a link.
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class MessageFilters:
    """Exact matches; ``sender`` is a system or an agency code; ``until`` is exclusive."""

    sender: str | None = None
    recipient: str | None = None
    service: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    document_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class DenialFilters:
    system: str | None = None
    service: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class PersonalDataFilters:
    system: str | None = None
    service: str | None = None
    officer: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _shown(value: str | None) -> str | None:
    """A caller-supplied string as it may be shown."""
    if value is None or _UUID.match(value):
        return value
    return mask_text(value)


def _times(row: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: as_utc(row[name]) for name in names}


def _summary(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        **_times(row, "created_at", "updated_at"),
        "correlation_id": _shown(row["correlation_id"]),
        "causation_id": _shown(row["causation_id"]),
        "idempotency_key": _shown(row["idempotency_key"]),
        "document_id": _shown(row["document_id"]),
        "content_type": mask_text(row["content_type"]),
        "recipients": mask_value(row["recipients"]),
        "headers": mask_value(row["headers"]),
    }


def _delivery(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        **_times(row, "created_at", "updated_at", "next_attempt_at", "queued_at"),
        "recipient": _shown(row["recipient"]),
        "last_error": _shown(row["last_error"]),
        "remote_status": _shown(row["remote_status"]),
    }


def _event(row: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in row.items() if k != "prev_hash"}
    return {
        **shown,
        "error": _shown(row["error"]),
        "remote_status": _shown(row["remote_status"]),
        "details": mask_value(row["details"]),
    }


def _visible(query: Select, caller: Caller) -> Select:
    """A system sees what it sent; an admin sees everything."""
    return query if caller.is_admin else query.where(messages.c.sender_system == caller.system)


def _page(
    conn: Connection,
    query: Select,
    order: Any,
    cursor: Any,
    limit: int,
    show: Callable[[Mapping[str, Any]], dict[str, Any]],
    key: str | None = None,
) -> Page:
    """Newest first after ``cursor`` (exclusive); one row more than asked tells if there is a
    next page, whose cursor is the last row's ``key`` (``order``'s own column if not given)."""
    if cursor is not None:
        query = query.where(order < cursor)
    rows = conn.execute(query.order_by(order.desc()).limit(limit + 1)).mappings().all()
    items = [show(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {
        "items": items,
        "next_cursor": str(rows[limit - 1][key or order.name]) if more else None,
    }


def _between(query: Select, column, since: datetime | None, until: datetime | None) -> Select:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _equal(query: Select, pairs: Iterable[tuple[Any, Any]]) -> Select:
    """An empty filter value filters nothing, as an empty form field means."""
    for column, value in pairs:
        if value:
            query = query.where(column == value)
    return query


# Built once: a statement reused keeps SQLAlchemy from building and keying it again on every
# lookup, about half of a trace's time on SQLite (bench/console.py).
_MESSAGE = select(*SUMMARY).where(messages.c.id == bindparam("id"))
_SENDERS_MESSAGE = _MESSAGE.where(messages.c.sender_system == bindparam("system"))
_DELIVERIES = (
    select(deliveries).where(deliveries.c.message_id == bindparam("id")).order_by(deliveries.c.id)
)


def message(conn: Connection, message_id: str, caller: Caller) -> dict[str, Any]:
    """One message with its deliveries and every event of its trace, and whether the trace's
    hash chain is intact. A system asking for another's message is told it does not exist."""
    if caller.is_admin:  # a system sees what it sent (``_visible``)
        found = conn.execute(_MESSAGE, {"id": message_id})
    else:
        found = conn.execute(_SENDERS_MESSAGE, {"id": message_id, "system": caller.system})
    row = found.mappings().first()
    if row is None:
        raise NotFound(f"message {message_id!r} does not exist or is not yours")
    targets = conn.execute(_DELIVERIES, {"id": message_id}).mappings().all()
    events = trace(conn, message_id)
    problems = verify_chain(events)
    return {
        **_summary(row),
        "deliveries": [_delivery(d) for d in targets],
        "events": [_event(e) for e in events],
        "trace_intact": not problems,
        "trace_problems": problems,
    }


def search(
    conn: Connection, caller: Caller, filters: MessageFilters, cursor: str | None, limit: int
) -> Page:
    """Messages the caller may see, newest first."""
    f = filters
    query = _equal(
        _visible(select(*SUMMARY), caller),
        [
            (messages.c.service_code, f.service),
            (messages.c.status, f.status),
            (messages.c.document_id, f.document_id),
            (messages.c.correlation_id, f.correlation_id),
        ],
    )
    order = messages.c.id
    if f.sender:
        query = query.where(_sent_by(conn, f.sender))
    if f.recipient:
        # A message has one delivery per recipient (hub.routing; a document resolves each of
        # its recipients once), so the join repeats no message; ordered by the delivery's
        # message id, the (recipient, message_id) index hands rows over newest first.
        query = query.join(deliveries, deliveries.c.message_id == messages.c.id).where(
            deliveries.c.recipient == f.recipient
        )
        order = deliveries.c.message_id
    query = _between(query, messages.c.created_at, f.since, f.until)
    query = _ids_between(query, f.since, f.until)
    return _page(conn, query, order, cursor, limit, _summary, key="id")


def _sent_by(conn: Connection, code: str) -> ColumnElement[bool]:
    """``code`` names a system or an agency (registered ones are never deleted): matching only
    the column it names lets one index, ``(sender_system, id)`` or ``(sender_agency, id)``,
    hand the page over; an OR of both makes the database fetch and sort every match."""
    columns = [
        column
        for column, registry in (
            (messages.c.sender_system, systems),
            (messages.c.sender_agency, agencies),
        )
        if conn.execute(select(registry.c.code).where(registry.c.code == code)).first()
    ] or [messages.c.sender_system, messages.c.sender_agency]
    return or_(*(column == code for column in columns))


# A message's id (UUIDv7) and its created_at are stamped at most a synchronous call's timeout
# and a transaction's wait apart (either first), so ids bound a time range too, with an hour
# to spare on each side; the exact range stays on created_at. An index ending in id then
# serves a time range whatever the other filters.
ID_SLACK = timedelta(hours=1)


def _ids_between(query: Select, since: datetime | None, until: datetime | None) -> Select:
    def ms(when: datetime, shift: timedelta) -> int:
        return int((as_utc(when).timestamp() + shift.total_seconds()) * 1000)

    if since is not None:
        query = query.where(messages.c.id >= ids.floor(ms(since, -ID_SLACK)))
    if until is not None:
        query = query.where(messages.c.id < ids.floor(ms(until, ID_SLACK)))
    return query


_BACKLOG = (
    select(deliveries.c.connector, deliveries.c.status, func.count())
    .where(deliveries.c.status.in_([*WAITING, Status.DEAD]))
    .group_by(deliveries.c.connector, deliveries.c.status)
)


def backlog(conn: Connection) -> dict[str, dict[str, int]]:
    """Per connector, its deliveries still to be made (queued, retrying, delivering) and its
    dead letters, by status: one grouped read of the deliveries' status index."""
    found: dict[str, dict[str, int]] = {}
    for connector, status, n in conn.execute(_BACKLOG):
        found.setdefault(connector, {})[status] = n
    return found


def dead_letters(
    conn: Connection, cursor: str | None, limit: int, connector: str | None = None
) -> Page:
    """Deliveries that failed for good, newest first, with their message's service and
    sender."""
    query = (
        select(deliveries, messages.c.service_code, messages.c.sender_system)
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(deliveries.c.status == "dead")
    )
    query = _equal(query, [(deliveries.c.connector, connector)])
    return _page(conn, query, deliveries.c.id, cursor, limit, _delivery)


def _cursor_id(cursor: str | None) -> int | None:
    return None if cursor is None else int(cursor)


def denials(
    conn: Connection, cursor: str | None, limit: int, filters: DenialFilters = DenialFilters()
) -> Page:
    """Refused requests (identical ones folded into one row with a count), newest first. The
    service and the action are what the caller asked for, so they are shown masked."""
    f = filters
    query = _equal(
        select(denial_rows),
        [(denial_rows.c.system_code, f.system), (denial_rows.c.service_code, f.service)],
    )
    query = _between(query, denial_rows.c.at, f.since, f.until)
    return _page(conn, query, denial_rows.c.id, _cursor_id(cursor), limit, _denial)


def _denial(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "at": as_utc(row["at"]),
        "service_code": _shown(row["service_code"]),
        "action": mask_text(row["action"]),
        "reason": mask_text(row["reason"]),
    }


def audit_log(
    conn: Connection, cursor: str | None, limit: int, filters: AuditFilters = AuditFilters()
) -> Page:
    """Registry changes and operations on dead letters, with their actor and reason, newest
    first. A reason is an admin's free text, so it is shown masked."""
    f = filters
    query = _equal(
        select(audit_rows),
        [
            (audit_rows.c.actor, f.actor),
            (audit_rows.c.action, f.action),
            (audit_rows.c.target, f.target),
        ],
    )
    query = _between(query, audit_rows.c.at, f.since, f.until)
    return _page(conn, query, audit_rows.c.id, _cursor_id(cursor), limit, _audit_entry)


def _audit_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "at": as_utc(row["at"]),
        "target": _shown(row["target"]),
        "reason": _shown(row["reason"]),
    }


def personal_data_access(
    conn: Connection,
    cursor: str | None,
    limit: int,
    filters: PersonalDataFilters = PersonalDataFilters(),
) -> Page:
    """Lookups of citizens' personal data (``hub.personal``), newest first: who, why, when,
    the result class. The subject was masked when it was written; it stays masked."""
    f, rows = filters, access_rows
    query = _equal(
        select(rows),
        [
            (rows.c.system_code, f.system),
            (rows.c.service_code, f.service),
            (rows.c.officer, f.officer),
        ],
    )
    query = _between(query, rows.c.at, f.since, f.until)
    return _page(conn, query, rows.c.id, _cursor_id(cursor), limit, _access)


def _access(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **row,
        "at": as_utc(row["at"]),
        "officer": mask_text(row["officer"]),
        "purpose": mask_text(row["purpose"]),
    }
