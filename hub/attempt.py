"""One delivery attempt, the same for a queued message and a synchronous call: transform the
payload with the route's mapping, find the connector instance, hand it the message, and say
what happened as an ``Outcome`` with its trace events. Nothing is written here: the caller
records the outcome in one transaction with whatever it decides (delivered, retry, dead).

A failure of ours — a mapping that fails, a value the connector cannot encode, a connector
instance that is not registered — is a ``LocalDeliveryError``: permanent, and never blamed on
the partner, who did not see the message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from hub import tracecontext
from hub.connector import DeliveryResult, OutboundMessage
from hub.context import Hub
from hub.errors import (
    DeliveryError,
    HubError,
    LocalDeliveryError,
    NotFound,
    TransientDeliveryError,
)
from hub.events import Event
from hub.model import EventKind
from hub.payload import Payload
from hub.security import escape_controls, mask_text
from hub.store.db import utcnow

__all__ = ["Job", "Outcome", "run"]

log = logging.getLogger(__name__)
ANSWER_CHARS = 500  # of a partner's answer, kept in the trace event that closes an attempt


@dataclass(frozen=True)
class Job:
    """One delivery to attempt: the message's envelope, its target and the attempt number."""

    message_id: str
    delivery_id: str
    correlation_id: str
    sender_agency: str
    sender_system: str
    service: str | None
    recipient: str | None
    payload: Payload
    headers: Mapping[str, str]
    connector: str
    mapping: str | None
    attempt: int


@dataclass
class Outcome:
    job: Job
    events: list[Event] = field(default_factory=list)
    result: DeliveryResult | None = None
    error: HubError | None = None
    duration_ms: float | None = None
    size_out: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retryable(self) -> bool:
        return self.error is not None and self.error.retryable

    @property
    def error_text(self) -> str | None:
        """The error as it may be shown and stored: personal data masked."""
        return mask_text(self.error.message) if self.error else None

    @property
    def remote_status(self) -> str | None:
        if self.result is not None:
            return self.result.remote_status
        return getattr(self.error, "remote_status", None)

    def event(self, kind: EventKind, **details) -> Event:
        """The event that closes this attempt (delivered, retrying, dead, failed)."""
        job, error = self.job, self.error
        return Event(
            job.message_id,
            kind,
            delivery_id=job.delivery_id,
            attempt=job.attempt,
            connector=job.connector,
            remote_status=self.remote_status,
            error_code=error.code if error else None,
            error=self.error_text,
            size_out=self.size_out,
            size_in=len(self.result.response) if self.result else None,
            duration_ms=self.duration_ms,
            details={
                **({"service": job.service} if job.service else {}),
                **({"answer": answer} if (answer := self.answer) else {}),
                **details,
            }
            or None,
        )

    @property
    def answer(self) -> str | None:
        """The start of what the partner answered, as it may be kept in the trace: masked,
        control characters escaped, at most ``ANSWER_CHARS`` (the connectors already drop
        secrets from an error's excerpt)."""
        if self.result is not None:
            raw = self.result.response[: ANSWER_CHARS * 4].decode("utf-8", errors="replace")
        elif self.error is not None:
            raw = str(self.error.details.get("response_excerpt") or "")
        else:
            return None
        text = escape_controls(mask_text(raw[:ANSWER_CHARS]))
        return text or None


def run(hub: Hub, job: Job, timeout: float | None = None) -> Outcome:
    """The attempt, with the message, its correlation id and a span of its trace bound
    (``hub.tracecontext``): every log line says which message it is about, and the partner's
    request carries the trace."""
    with tracecontext.bound(
        message_id=job.message_id,
        correlation_id=job.correlation_id,
        traceparent=tracecontext.for_attempt(job.message_id, job.headers),
    ):
        outcome = _attempt(hub, job, timeout)
        if outcome.ok:
            log.debug(
                "attempt %d via %s: %s in %.0f ms",
                job.attempt,
                job.connector,
                outcome.remote_status,
                outcome.duration_ms,
            )
        else:
            log.info(
                "attempt %d via %s failed (%s): %s",
                job.attempt,
                job.connector,
                outcome.error.code,
                outcome.error_text,
            )
    return outcome


def _attempt(hub: Hub, job: Job, timeout: float | None) -> Outcome:
    outcome = Outcome(job)
    payload = job.payload
    if job.mapping:
        try:
            payload = hub.mappings.apply(job.mapping, payload)
        except LocalDeliveryError as exc:
            outcome.error = exc
            return outcome
        outcome.events.append(
            Event(
                job.message_id,
                EventKind.TRANSFORMED,
                delivery_id=job.delivery_id,
                attempt=job.attempt,
                size_out=payload.size,
                details={"mapping": job.mapping},
            )
        )
    try:
        connector = hub.connector(job.connector)
    except NotFound as exc:
        outcome.error = LocalDeliveryError(exc.message, connector=job.connector)
        return outcome
    outcome.events.append(
        Event(
            job.message_id,
            EventKind.DELIVERING,
            delivery_id=job.delivery_id,
            attempt=job.attempt,
            connector=job.connector,
            at=utcnow(),
        )
    )
    outcome.size_out = payload.size
    started = time.perf_counter()
    try:
        outcome.result = connector.deliver(
            OutboundMessage(
                id=job.message_id,
                correlation_id=job.correlation_id,
                sender_agency=job.sender_agency,
                sender_system=job.sender_system,
                service=job.service,
                recipient=job.recipient,
                content_type=payload.content_type,
                payload=payload,
                headers=job.headers,
                attempt=job.attempt,
            ),
            timeout=timeout,
        )
    except DeliveryError as exc:
        outcome.error = exc
    except Exception as exc:  # a connector bug must not kill the worker; retried like a fault
        log.exception("connector %s raised an unexpected error", job.connector)
        outcome.error = TransientDeliveryError(f"connector error: {type(exc).__name__}")
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    return outcome
