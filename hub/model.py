"""The words the pipeline speaks: who called, what they submitted, and the states a message and
its deliveries move through. Plain data, no I/O, so every layer can import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hub.payload import Payload

__all__ = [
    "ATTEMPT_CLOSED",
    "Accepted",
    "Caller",
    "EventKind",
    "Status",
    "Submission",
    "TERMINAL",
    "WAITING",
]


class Status(StrEnum):
    """A delivery's state; a message's status sums up its deliveries' (``summarise``)."""

    ROUTED = "routed"
    QUEUED = "queued"
    DELIVERING = "delivering"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"  # a synchronous call that did not succeed
    DEAD = "dead"
    DISCARDED = "discarded"
    UNROUTABLE = "unroutable"  # a message (never a delivery) parked until a route takes it


TERMINAL = frozenset({Status.DELIVERED, Status.DISCARDED})
WAITING = (Status.QUEUED, Status.RETRYING, Status.DELIVERING)  # a delivery still to be made


class EventKind(StrEnum):
    """One lifecycle step in the trace (``hub.events``)."""

    RECEIVED = "received"
    VALIDATED = "validated"
    ROUTED = "routed"
    QUEUED = "queued"
    TRANSFORMED = "transformed"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    RETRYING = "retrying"
    FAILED = "failed"
    DEAD = "dead"
    REPLAYED = "replayed"
    DISCARDED = "discarded"
    CIRCUIT_OPENED = "circuit_opened"
    CIRCUIT_CLOSED = "circuit_closed"
    UNROUTABLE = "unroutable"
    FEEDBACK = "feedback"  # a document's recipient answered with a status message


# The events that close a delivery attempt (``hub.attempt``): what metrics, operational data
# and the console count as one exchange with a partner.
ATTEMPT_CLOSED = (EventKind.DELIVERED, EventKind.RETRYING, EventKind.FAILED, EventKind.DEAD)


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
    """A request to the hub: the payload and its envelope (from the query and headers)."""

    service: str
    payload: Payload
    recipients: Sequence[str] = ()
    idempotency_key: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.payload.content_type


@dataclass(frozen=True)
class Accepted:
    id: str
    duplicate: bool
