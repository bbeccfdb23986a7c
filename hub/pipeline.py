"""The message lifecycle, in the order a message moves through the hub.

Accepting (API process, one transaction)::

    check envelope → authorise (access rule) → service → parse → validate → deduplicate
    → route → store message + deliveries + outbox + events (received, validated, routed,
    queued) → 202 with the id

Delivering (worker, one broker message per delivery)::

    load → circuit gate → attempt (``hub.attempt``: transform, deliver) → record → settle
    delivered: ack │ transient failure within the retry budget: retrying, broker retry with
    backoff │ permanent failure, or budget spent: dead, broker dead-letter

Authentication happens before (``hub.access``, from the API's edge). The writes — store,
enqueue, transition, each with its events — are ``hub.recording``'s; synchronous services
share the checks, the attempt and the store (``hub.calls``).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from hub import attempt, routing, tracecontext
from hub.access import authorise
from hub.brokers.base import Delivery
from hub.content import edxml_document_id, edxml_idempotency_key, parse
from hub.context import Hub
from hub.errors import (
    Conflict,
    ConnectorDisabled,
    Disabled,
    NoRoute,
    NotFound,
    SchemaViolation,
)
from hub.events import Event
from hub.ids import new_id
from hub.model import TERMINAL, Accepted, Caller, EventKind, Status, Submission
from hub.recording import store, transition
from hub.store.db import as_utc, utcnow
from hub.store.tables import (
    connector_instances,
    deliveries,
    edocs,
    idempotency_keys,
    messages,
    routes,
    services,
)

__all__ = ["accept", "admit", "admitted_service", "backoff", "check_envelope", "process", "submit"]

log = logging.getLogger(__name__)

# Column widths of what a caller puts in the envelope (see hub.store.tables).
ENVELOPE_LIMITS = {"idempotency_key": 200, "correlation_id": 100, "causation_id": 100}
MAX_RECIPIENTS = 1000
# A job of a disabled connector or route goes back to wait this long (or the backoff cap,
# if shorter): each wait is a write, so not too often.
DISABLED_RECHECK_SECONDS = 30.0


# ── accepting ────────────────────────────────────────────────────────────────────────────


def check_envelope(sub: Submission) -> None:
    """Refuse envelope values the store cannot keep, naming each, before anything is stored."""
    errors = [
        {"path": f"/{name}", "message": f"longer than {limit} characters"}
        for name, limit in ENVELOPE_LIMITS.items()
        if len(getattr(sub, name) or "") > limit
    ]
    if len(sub.content_type) > 100:
        errors.append({"path": "/content_type", "message": "longer than 100 characters"})
    errors += [
        {"path": f"/recipients/{i}", "message": "an agency code of 1-64 characters"}
        for i, r in enumerate(sub.recipients)
        if not 0 < len(r) <= 64
    ]
    if len(sub.recipients) > MAX_RECIPIENTS:
        errors.append({"path": "/recipients", "message": f"more than {MAX_RECIPIENTS}"})
    if len(set(sub.recipients)) != len(sub.recipients):
        errors.append({"path": "/recipients", "message": "a recipient is named twice"})
    if errors:
        raise SchemaViolation("the message envelope is not valid", errors=errors)


def admit(
    hub: Hub, caller: Caller, sub: Submission, action: str, mode: str | None = None
) -> tuple[Mapping[str, Any], Any]:
    """The checks every request passes, queued or synchronous, in an order that tells a caller
    without an access rule nothing about the service: envelope, access rule, service (of
    ``mode`` if given), parse, request schema. Returns the service and the parsed payload."""
    service = admitted_service(hub, caller, sub, action, mode)
    document = parse(
        sub.payload, service["content_type"], tree_limit=hub.settings.xml_tree_limit_bytes
    )
    if service["request_schema"]:
        hub.schemas.validate(service["request_schema"], document)
    return service, document


def admitted_service(
    hub: Hub, caller: Caller, sub: Submission, action: str, mode: str | None = None
) -> Mapping[str, Any]:
    """``admit``'s checks before the payload is read: the envelope, the access rule, the
    service (enabled, of ``mode`` if given)."""
    check_envelope(sub)
    authorise(hub.registry, hub.denials, caller, sub.service, action)
    service = hub.registry.service(sub.service)
    if service is None:
        raise NotFound(f"service {sub.service!r} is not registered", service=sub.service)
    if not service["enabled"]:
        hub.denials.add(caller, sub.service, action, "service disabled", None)
        raise Disabled(f"service {sub.service!r} is disabled", service=sub.service)
    if mode and service["mode"] != mode:
        raise Conflict(
            f"service {sub.service!r} is {service['mode']}, not {mode}", mode=service["mode"]
        )
    return service


def submit(hub: Hub, caller: Caller, sub: Submission) -> Accepted:
    """Accept ``sub`` durably or raise a ``RequestError``; nothing is stored on refusal."""
    service, document = admit(hub, caller, sub, "submit")
    try:
        targets = routing.resolve(
            hub.registry.routes(), sub.service, sub.recipients, document, sub.headers
        )
    except NoRoute:
        if service["unroutable"] != "park":
            raise
        targets = []  # parked: accepted and traced; ``hub.parking`` routes it once it can
    document_id = edxml_document_id(document)
    key = sub.idempotency_key or edxml_idempotency_key(document, document_id)
    return accept(hub, caller, sub, service, targets, document_id, key)


def accept(
    hub: Hub,
    caller: Caller,
    sub: Submission,
    service: Mapping[str, Any],
    targets: list[routing.Target],
    document_id: str | None,
    key: str | None,
    *,
    also: Callable[[Connection, str], None] | None = None,
) -> Accepted:
    """Store an admitted, routed message — its payload kept, its idempotency key claimed, its
    rows and ``also``'s (given the connection and the new message id) in one transaction — and
    enqueue it. A key already claimed by the sender answers the first message's id."""
    message_id = new_id()
    sub = replace(sub, headers=tracecontext.stamp(sub.headers))  # the worker continues the trace
    ref = hub.keep_payload(sub.payload)
    try:
        with hub.begin() as conn:
            if key:
                conn.execute(
                    insert(idempotency_keys).values(
                        sender_system=caller.system,
                        key=key,
                        message_id=message_id,
                        created_at=utcnow(),
                    )
                )
            store(hub, conn, caller, sub, message_id, service, targets, document_id, key, ref)
            if also is not None:
                also(conn, message_id)
    except IntegrityError:
        if not key:
            raise
        with hub.reader.connect() as conn:
            first = conn.execute(
                select(idempotency_keys.c.message_id).where(
                    idempotency_keys.c.sender_system == caller.system, idempotency_keys.c.key == key
                )
            ).scalar_one()
        return Accepted(first, duplicate=True)
    hub.enqueued()
    return Accepted(message_id, duplicate=False)


def backoff(hub: Hub, attempt_no: int) -> float:
    """Exponential backoff with equal jitter: half fixed, half random, capped."""
    cap = min(
        hub.settings.retry_max_seconds,
        hub.settings.retry_base_seconds * 2 ** min(attempt_no - 1, 30),
    )
    return cap / 2 + random.uniform(0, cap / 2)


siblings = deliveries.alias("siblings")


_LOAD = (
    select(
        deliveries,
        messages.c.correlation_id,
        messages.c.sender_agency,
        messages.c.sender_system,
        messages.c.service_code,
        messages.c.content_type,
        messages.c.payload,
        messages.c.blob_ref,
        messages.c.payload_sha256,
        messages.c.size,
        messages.c.headers,
        services.c.retry_budget_seconds.label("service_budget"),
        connector_instances.c.retry_budget_seconds.label("connector_budget"),
        connector_instances.c.enabled.label("connector_enabled"),
        routes.c.enabled.label("route_enabled"),
        edocs.c.outgoing_ref,
        edocs.c.outgoing_size,
        edocs.c.outgoing_sha256,
        select(func.count())
        .select_from(siblings)
        .where(siblings.c.message_id == deliveries.c.message_id)
        .scalar_subquery()
        .label("fanout"),
    )
    .join(messages, messages.c.id == deliveries.c.message_id)
    .outerjoin(services, services.c.code == messages.c.service_code)
    .outerjoin(connector_instances, connector_instances.c.name == deliveries.c.connector)
    .outerjoin(routes, routes.c.name == deliveries.c.route)
    .outerjoin(edocs, edocs.c.message_id == deliveries.c.message_id)
    .where(deliveries.c.id == bindparam("delivery_id"))
)


def _load(hub: Hub, delivery_id: str) -> Mapping[str, Any] | None:
    """The delivery with what its attempt needs: the envelope, the fan-out and the budgets."""
    with hub.reader.connect() as conn:
        return conn.execute(_LOAD, {"delivery_id": delivery_id}).mappings().first()


def process(hub: Hub, delivery: Delivery) -> None:
    """Broker handler: deliver one delivery and settle the broker message. Idempotent: a
    redelivered job whose delivery is already finished is acknowledged and dropped. While the
    connector's circuit is open the job goes back to the queue unattempted."""
    row = _load(hub, json.loads(delivery.body)["delivery_id"])
    if row is None:
        delivery.dead_letter("no such delivery in the store")
        return
    if row["status"] in (*TERMINAL, Status.DEAD):
        delivery.ack()
        return
    # A disabled connector's queue is paused by the worker within a second; a disabled route's
    # deliveries wait on their connector's queue. Neither spends an attempt.
    if row["connector_enabled"] is False or row["route_enabled"] is False:
        delivery.retry(min(DISABLED_RECHECK_SECONDS, hub.settings.retry_max_seconds))
        return
    gate = hub.circuits.admit(row["connector"])
    if not gate.go:
        delivery.retry(gate.wait_seconds)
        return
    job = attempt.Job(
        message_id=row["message_id"],
        delivery_id=row["id"],
        correlation_id=row["correlation_id"],
        sender_agency=row["sender_agency"],
        sender_system=row["sender_system"],
        service=row["service_code"],
        recipient=row["recipient"],
        payload=_payload(hub, row),
        headers=row["headers"] or {},
        connector=row["connector"],
        mapping=row["mapping"],
        attempt=row["attempts"] + 1,
    )
    try:
        outcome = attempt.run(hub, job)
    except ConnectorDisabled:  # disabled since the row was read: no attempt spent
        delivery.retry(min(DISABLED_RECHECK_SECONDS, hub.settings.retry_max_seconds))
        return
    alone = row["fanout"] == 1
    if outcome.ok:
        events = [*outcome.events, outcome.event(EventKind.DELIVERED)]
        if hub.circuits.succeeded(job.connector):
            events.append(_circuit_event(job, EventKind.CIRCUIT_CLOSED, probe=gate.probe))
        transition(
            hub,
            job.delivery_id,
            job.message_id,
            Status.DELIVERED,
            events,
            alone=alone,
            attempts=job.attempt,
            remote_status=outcome.remote_status,
            last_error=None,
            next_attempt_at=None,
            settle=(delivery, delivery.ack),
        )
        return
    circuit = []
    if outcome.retryable and hub.circuits.failed(
        job.connector, outcome.error_text or "", gate.probe
    ):
        circuit.append(
            _circuit_event(
                job,
                EventKind.CIRCUIT_OPENED,
                threshold=hub.circuits.threshold,
                probe_every_s=hub.circuits.probe_seconds,
            )
        )
    reason = _why_dead(hub, row, outcome)
    if reason is None:
        delay = backoff(hub, job.attempt)
        transition(
            hub,
            job.delivery_id,
            job.message_id,
            Status.RETRYING,
            [
                *outcome.events,
                outcome.event(EventKind.RETRYING, next_attempt_in_s=round(delay, 3)),
                *circuit,
            ],
            alone=alone,
            attempts=job.attempt,
            remote_status=outcome.remote_status,
            last_error=outcome.error_text,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
            settle=(
                delivery,
                lambda conn: delivery.retry(delay, {"x-attempt": str(job.attempt)}, conn),
            ),
        )
        return
    transition(
        hub,
        job.delivery_id,
        job.message_id,
        Status.DEAD,
        [*outcome.events, outcome.event(EventKind.DEAD, reason=reason), *circuit],
        alone=alone,
        attempts=job.attempt,
        remote_status=outcome.remote_status,
        last_error=outcome.error_text,
        next_attempt_at=None,
        settle=(
            delivery,
            lambda conn: delivery.dead_letter(f"{reason}: {outcome.error_text}", conn),
        ),
    )


def _payload(hub: Hub, row: Mapping[str, Any]):
    """What goes out: a document as the hub sends it on (its hop appended, signed), else the
    message as received."""
    if row["outgoing_ref"]:
        return hub.blobs.payload(
            row["outgoing_ref"], row["outgoing_size"], row["outgoing_sha256"], row["content_type"]
        )
    return hub.payload(row)


def _why_dead(hub: Hub, row: Mapping[str, Any], outcome: attempt.Outcome) -> str | None:
    """None while a retry may still help; else why the delivery is dead."""
    if not outcome.retryable:
        return "local failure" if outcome.error.code == "local_failure" else "permanent failure"
    settings = hub.settings
    if settings.retry_max_attempts and outcome.job.attempt >= settings.retry_max_attempts:
        return "attempts exhausted"
    budget = row["service_budget"] or row["connector_budget"] or settings.retry_budget_seconds
    started = as_utc(row["queued_at"] or row["created_at"])
    if (utcnow() - started).total_seconds() >= budget:
        return f"retry budget of {budget:g} s spent"
    return None


def _circuit_event(job: attempt.Job, kind: EventKind, **details: Any) -> Event:
    return Event(
        job.message_id,
        kind,
        delivery_id=job.delivery_id,
        attempt=job.attempt,
        connector=job.connector,
        details=details,
    )
