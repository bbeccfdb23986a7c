"""The message pipeline, in the order a message moves through the hub.

Accepting (API process, synchronous, one transaction)::

    authorise → parse → validate → deduplicate → route → store message + deliveries + outbox
    (events: received, validated, routed, queued) → 202 with the id

Delivering (worker process, one broker message per delivery)::

    load → transform (route's mapping) → deliver through the connector → record → settle
    success: delivered, ack │ transient failure: retrying, broker retry with backoff
    permanent failure or attempts exhausted: dead, broker dead-letter

Authentication happens before (``hub.api.deps``). Every step records an event (``hub.events``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lxml import etree
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from hub import mapping, routing, schemas, xmlsafe
from hub.brokers.base import Delivery
from hub.connector import Connector, OutboundMessage
from hub.context import Hub, delivery_queue
from hub.errors import (
    Conflict,
    DeliveryError,
    Forbidden,
    MalformedInput,
    NotFound,
    SchemaViolation,
    UnsupportedMediaType,
)
from hub.events import Event, Tails, chain, record
from hub.ids import new_id
from hub.schemas import JSON_TYPES, XML_TYPES, media_family
from hub.security import mask_text
from hub.store.db import utcnow
from hub.store.tables import (
    deliveries,
    denials,
    idempotency_keys,
    message_events,
    messages,
    outbox,
)

log = logging.getLogger(__name__)

TERMINAL = ("delivered", "discarded")


@dataclass(frozen=True)
class Caller:
    """An authenticated client system."""

    system: str
    agency: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass
class Submission:
    service: str
    content_type: str
    body: bytes
    recipients: Sequence[str] = ()
    idempotency_key: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool


# ── accepting ────────────────────────────────────────────────────────────────────────────


def load_service(hub: Hub, code: str) -> Mapping[str, Any]:
    row = hub.registry.service(code)
    if row is None:
        raise NotFound(f"service {code!r} is not registered", service=code)
    return row


def deny(hub: Hub, caller: Caller | None, service: str | None, action: str, reason: str,
         remote_addr: str | None = None) -> None:
    """Record a refused request in its own transaction: the refusal must outlive the request."""
    with hub.engine.begin() as conn:
        conn.execute(insert(denials).values(
            at=utcnow(), system_code=caller.system if caller else None, service_code=service,
            action=action[:100], reason=reason[:300], remote_addr=(remote_addr or "")[:64] or None))
    log.warning("denied %s on %s for %s: %s", action, service, caller.system if caller else "-",
                reason)


def authorise(hub: Hub, caller: Caller, service: str, action: str) -> None:
    """X-Road style: a system may call a service only with an access rule naming both."""
    if caller.is_admin:
        return
    if not hub.registry.allowed(caller.system, service):
        deny(hub, caller, service, action, "no access rule")
        raise Forbidden(f"system {caller.system!r} may not call service {service!r}",
                        service=service)


def parse(content_type: str, body: bytes, expected: str | None = None) -> Any:
    """The payload as a JSON value or an lxml element, by content type; ``expected`` is the
    service's declared content type, whose family (JSON or XML) the body must share."""
    family = media_family(content_type)
    if family is None or (expected and family != media_family(expected)):
        raise UnsupportedMediaType(
            f"content type {content_type.split(';')[0]!r} is not accepted here",
            accepted=[expected] if expected else [*JSON_TYPES, *XML_TYPES])
    if family == "xml":
        return xmlsafe.parse(body)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput("body is not valid JSON", reason=str(exc)) from None
    except RecursionError:
        raise MalformedInput("body is not valid JSON", reason="nested too deeply") from None


# Column widths of what a caller puts in the envelope (see hub.store.tables).
ENVELOPE_LIMITS = {"idempotency_key": 200, "correlation_id": 100, "causation_id": 100,
                   "content_type": 100}
MAX_RECIPIENTS = 1000


def check_envelope(sub: Submission) -> None:
    """Refuse envelope values the store cannot keep, naming each, before anything is stored."""
    errors = [{"path": f"/{name}", "message": f"longer than {limit} characters"}
              for name, limit in ENVELOPE_LIMITS.items()
              if len(getattr(sub, name) or "") > limit]
    errors += [{"path": f"/recipients/{i}", "message": "an agency code of 1-64 characters"}
               for i, r in enumerate(sub.recipients) if not 0 < len(r) <= 64]
    if len(sub.recipients) > MAX_RECIPIENTS:
        errors.append({"path": "/recipients", "message": f"more than {MAX_RECIPIENTS}"})
    if len(set(sub.recipients)) != len(sub.recipients):
        errors.append({"path": "/recipients", "message": "a recipient is named twice"})
    if errors:
        raise SchemaViolation("the message envelope is not valid", errors=errors)


def edxml_document_id(document: Any) -> str | None:
    """The edXML ``MessageHeader/DocumentId`` (status messages carry theirs under
    ``ResponseFor`` and have none of their own)."""
    if not isinstance(document, etree._Element):
        return None
    found = document.xpath("//*[local-name()='MessageHeader']/*[local-name()='DocumentId']")
    return found[0].text.strip() if found and found[0].text else None


def edxml_idempotency_key(document: Any, document_id: str | None) -> str | None:
    """A resubmitted edXML document is recognised by its DocumentId *and* business type: a new
    document, its update, its replacement and its revocation share the DocumentId."""
    if document_id is None:
        return None
    kind = document.xpath("string(//*[local-name()='TraceHeaderList']"
                          "/*[local-name()='Bussiness']/*[local-name()='BussinessDocType'])")
    return f"edxml:{document_id}#{kind.strip() or '0'}"


def admit(hub: Hub, caller: Caller, sub: Submission, action: str,
          mode: str | None = None) -> tuple[Mapping[str, Any], Any]:
    """The checks every request passes, queued or synchronous: envelope, service (of ``mode``
    if given), access rule, parse, request schema. Returns the service and the parsed payload."""
    check_envelope(sub)
    service = load_service(hub, sub.service)
    if mode and service["mode"] != mode:
        raise Conflict(f"service {sub.service!r} is {service['mode']}, not {mode}",
                       mode=service["mode"])
    authorise(hub, caller, sub.service, action)
    document = parse(sub.content_type, sub.body, service["content_type"])
    if service["request_schema"]:
        schemas.validate(service["request_schema"], document)
    return service, document


def submit(hub: Hub, caller: Caller, sub: Submission) -> Accepted:
    """Accept ``sub`` durably or raise a ``RequestError``; nothing is stored on refusal."""
    service, document = admit(hub, caller, sub, "submit")
    targets = routing.resolve(hub.registry.routes(), sub.service, sub.recipients, document,
                              sub.headers)
    document_id = edxml_document_id(document)
    key = sub.idempotency_key or edxml_idempotency_key(document, document_id)
    message_id = new_id()
    ref = hub.keep_payload(sub.body)
    try:
        with hub.engine.begin() as conn:
            if key:
                conn.execute(insert(idempotency_keys).values(
                    sender_system=caller.system, key=key, message_id=message_id,
                    created_at=utcnow()))
            _store(conn, caller, sub, message_id, service, targets, document_id, key, ref,
                   enqueue=True)
    except IntegrityError:
        if not key:
            raise
        with hub.reader.connect() as conn:
            first = conn.execute(select(idempotency_keys.c.message_id).where(
                idempotency_keys.c.sender_system == caller.system,
                idempotency_keys.c.key == key)).scalar_one()
        return Accepted(first, duplicate=True)
    hub.outbox_signal.set()
    return Accepted(message_id, duplicate=False)


def record_call(hub: Hub, caller: Caller, sub: Submission, service: Mapping[str, Any],
                document: Any) -> tuple[str, routing.Target, str]:
    """Store a synchronous call (message, one delivery, no outbox); returns the message id,
    the target and the delivery id."""
    targets = routing.resolve(hub.registry.routes(), sub.service, sub.recipients, document,
                              sub.headers)
    if len(targets) != 1:
        raise Conflict("a synchronous call goes to exactly one recipient",
                       recipients=[t.recipient for t in targets])
    message_id = new_id()
    ref = hub.keep_payload(sub.body)
    with hub.engine.begin() as conn:
        delivery_ids = _store(conn, caller, sub, message_id, service, targets,
                              edxml_document_id(document), sub.idempotency_key, ref,
                              enqueue=False)
    return message_id, targets[0], delivery_ids[0]


def _store(conn: Connection, caller: Caller, sub: Submission, message_id: str,
           service: Mapping[str, Any], targets: Sequence[routing.Target],
           document_id: str | None, key: str | None, ref: str | None,
           enqueue: bool) -> list[str]:
    """Insert the message, its deliveries, their outbox rows (when queued) and the first
    events, all in the caller's transaction."""
    now = utcnow()
    status = "queued" if enqueue else "routed"
    rows, boxes, events = [], [], [
        Event(message_id, "received", size_in=len(sub.body), at=now,
              details={"sender": f"{caller.agency}/{caller.system}", "service": sub.service}),
        Event(message_id, "validated", at=now,
              details={"schema": service["request_schema"]} if service["request_schema"] else None),
        Event(message_id, "routed", at=now,
              details={"targets": [{"route": t.route, "connector": t.connector,
                                    "recipient": t.recipient} for t in targets]}),
    ]
    for target in targets:
        delivery_id = new_id()
        rows.append({"id": delivery_id, "message_id": message_id, "route": target.route,
                     "connector": target.connector, "mapping": target.mapping,
                     "recipient": target.recipient, "status": status, "attempts": 0,
                     "created_at": now, "updated_at": now})
        if enqueue:
            boxes.append(_outbox_row(message_id, delivery_id, target.connector, now))
            events.append(Event(message_id, "queued", delivery_id=delivery_id,
                                connector=target.connector, at=now))
    tails: Tails = {}
    trace_rows = chain(events, tails)  # a new message: its trace starts here, nothing to read
    conn.execute(insert(messages).values(
        id=message_id, correlation_id=sub.correlation_id or message_id,
        causation_id=sub.causation_id, sender_agency=caller.agency, sender_system=caller.system,
        service_code=sub.service, service_version=service["version"],
        recipients=list(sub.recipients), content_type=sub.content_type,
        payload=None if ref else sub.body, blob_ref=ref,
        payload_sha256=hashlib.sha256(sub.body).hexdigest(), size=len(sub.body),
        headers=dict(sub.headers), document_id=document_id, idempotency_key=key,
        status=status, trace_seq=tails[message_id][0], trace_hash=tails[message_id][1],
        created_at=now, updated_at=now))
    conn.execute(insert(deliveries), rows)
    if boxes:
        conn.execute(insert(outbox), boxes)
    conn.execute(insert(message_events), trace_rows)
    return [r["id"] for r in rows]


def _outbox_row(message_id: str, delivery_id: str, connector: str, now) -> dict[str, Any]:
    body = json.dumps({"message_id": message_id, "delivery_id": delivery_id}).encode()
    return {"delivery_id": delivery_id, "queue": delivery_queue(connector), "body": body,
            "headers": {"message-id": message_id}, "created_at": now}


def enqueue_again(conn: Connection, message_id: str, delivery_id: str, connector: str) -> None:
    """Put an existing delivery back on its queue through the outbox (replay)."""
    conn.execute(insert(outbox).values(**_outbox_row(message_id, delivery_id, connector,
                                                     utcnow())))


# ── delivering ───────────────────────────────────────────────────────────────────────────


def backoff(hub: Hub, attempt: int) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, capped."""
    cap = min(hub.settings.retry_max_seconds, hub.settings.retry_base_seconds * 2 ** (attempt - 1))
    return cap / 2 + random.uniform(0, cap / 2)


def message_status(conn: Connection, message_id: str, event: str) -> str:
    """A message's status sums up its deliveries (read after the caller updated one)."""
    states = {r[0] for r in conn.execute(select(deliveries.c.status)
                                         .where(deliveries.c.message_id == message_id))}
    return summarise(states, event)


def summarise(states: set[str], event: str) -> str:
    """Delivered once every delivery is, dead if any is, else the latest step."""
    if states <= set(TERMINAL):
        return "delivered" if states == {"delivered"} else "discarded"
    return "dead" if "dead" in states else event


def transition(hub: Hub, delivery_id: str, message_id: str, status: str,
               events: Sequence[Event], *, alone: bool = False, **values: Any) -> None:
    """Move one delivery to ``status`` and append ``events``, in one transaction. Locks the
    delivery row, then the message row (``record``): the order every writer uses. ``alone``:
    the message has no other delivery, so its status needs no look at siblings."""
    with hub.engine.begin() as conn:
        conn.execute(update(deliveries).where(deliveries.c.id == delivery_id)
                     .values(status=status, updated_at=utcnow(), **values))
        summary = summarise({status}, status) if alone else \
            message_status(conn, message_id, status)
        record(conn, events, {message_id: summary})


def prepare(hub: Hub, message_id: str, delivery_id: str, attempt: int, mapping_name: str | None,
            connector_name: str, content_type: str, payload: bytes
            ) -> tuple[Connector, str, bytes, list[Event]]:
    """Transform the payload with the route's mapping (if any) and find the connector: the
    steps before a delivery attempt, queued or synchronous. Returns the connector, the
    payload to send and its events (``transformed``, ``delivering``); raises
    ``DeliveryError`` or ``NotFound`` — a mapping or a missing connector is not retried."""
    events: list[Event] = []
    if mapping_name:
        content_type, payload = mapping.apply(mapping_name, content_type, payload)
        events.append(Event(message_id, "transformed", delivery_id=delivery_id, attempt=attempt,
                            size_out=len(payload), details={"mapping": mapping_name}))
    connector = hub.connector(connector_name)
    events.append(Event(message_id, "delivering", delivery_id=delivery_id, attempt=attempt,
                        connector=connector_name))
    return connector, content_type, payload, events


siblings = deliveries.alias("siblings")


def process(hub: Hub, job: Delivery) -> None:
    """Broker handler: deliver one delivery and settle the broker message. Idempotent: a
    redelivered job whose delivery is already finished is acknowledged and dropped."""
    ref = json.loads(job.body)
    with hub.reader.connect() as conn:
        row = conn.execute(
            select(deliveries, messages.c.correlation_id, messages.c.sender_agency,
                   messages.c.sender_system, messages.c.service_code, messages.c.content_type,
                   messages.c.payload, messages.c.blob_ref, messages.c.headers,
                   select(func.count()).select_from(siblings)
                   .where(siblings.c.message_id == deliveries.c.message_id)
                   .scalar_subquery().label("fanout"))
            .join(messages, messages.c.id == deliveries.c.message_id)
            .where(deliveries.c.id == ref["delivery_id"])).mappings().first()
    if row is None:
        job.dead_letter("no such delivery in the store")
        return
    if row["status"] in (*TERMINAL, "dead"):
        job.ack()
        return
    attempt, connector_name = row["attempts"] + 1, row["connector"]
    message_id, delivery_id = row["message_id"], row["id"]
    try:
        connector, content_type, payload, events = prepare(
            hub, message_id, delivery_id, attempt, row["mapping"], connector_name,
            row["content_type"], hub.payload(row))
    except (DeliveryError, NotFound) as exc:
        _dead(hub, job, row, attempt, [], exc)
        return
    transition(hub, delivery_id, message_id, "delivering", events, attempts=attempt,
               alone=row["fanout"] == 1)
    outbound = OutboundMessage(
        id=message_id, correlation_id=row["correlation_id"], sender_agency=row["sender_agency"],
        sender_system=row["sender_system"], service=row["service_code"],
        recipient=row["recipient"], content_type=content_type, payload=payload,
        headers=row["headers"] or {}, attempt=attempt)
    started = time.perf_counter()
    try:
        result = connector.deliver(outbound)
    except DeliveryError as exc:
        _failed(hub, job, row, attempt, exc, (time.perf_counter() - started) * 1000)
        return
    except Exception as exc:  # a connector bug must not kill the worker; retry it like a fault
        log.exception("connector %s raised an unexpected error", connector_name)
        _failed(hub, job, row, attempt, DeliveryError(f"connector error: {type(exc).__name__}"),
                (time.perf_counter() - started) * 1000, retryable=True)
        return
    duration = (time.perf_counter() - started) * 1000
    transition(hub, delivery_id, message_id, "delivered", [Event(
        message_id, "delivered", delivery_id=delivery_id, attempt=attempt,
        connector=connector_name, remote_status=result.remote_status, size_out=len(payload),
        size_in=len(result.response), duration_ms=duration)], alone=row["fanout"] == 1,
        remote_status=result.remote_status, last_error=None, next_attempt_at=None)
    job.ack()


def _failed(hub: Hub, job: Delivery, row: Mapping[str, Any], attempt: int, exc: DeliveryError,
            duration_ms: float, retryable: bool | None = None) -> None:
    retryable = exc.retryable if retryable is None else retryable
    if not retryable or attempt >= hub.settings.retry_max_attempts:
        _dead(hub, job, row, attempt, [], exc, duration_ms)
        return
    delay = backoff(hub, attempt)
    error = mask_text(exc.message)
    transition(hub, row["id"], row["message_id"], "retrying", [Event(
        row["message_id"], "retrying", delivery_id=row["id"], attempt=attempt,
        connector=row["connector"], remote_status=getattr(exc, "remote_status", None),
        error_code=exc.code, error=error, duration_ms=duration_ms,
        details={"next_attempt_in_s": round(delay, 3)})], alone=row["fanout"] == 1,
        remote_status=getattr(exc, "remote_status", None), last_error=error,
        next_attempt_at=utcnow() + timedelta(seconds=delay))
    job.retry(delay, {"x-attempt": str(attempt)})


def _dead(hub: Hub, job: Delivery, row: Mapping[str, Any], attempt: int, events: list[Event],
          exc: DeliveryError | NotFound, duration_ms: float | None = None) -> None:
    error = mask_text(exc.message)
    reason = "permanent failure" if not exc.retryable else "attempts exhausted"
    events.append(Event(row["message_id"], "dead", delivery_id=row["id"], attempt=attempt,
                        connector=row["connector"],
                        remote_status=getattr(exc, "remote_status", None), error_code=exc.code,
                        error=error, duration_ms=duration_ms, details={"reason": reason}))
    transition(hub, row["id"], row["message_id"], "dead", events, attempts=attempt,
                remote_status=getattr(exc, "remote_status", None), last_error=error,
                alone=row["fanout"] == 1)
    job.dead_letter(f"{reason}: {error}")
