"""The ``Broker`` seam: durable queues with confirmed publish, leased consumption and
dead-lettering. Two implementations pass one contract suite (``tests/contract/test_broker.py``):

=====================  ===============================  ===================================
feature                ``EmbeddedBroker`` (embedded.py)  ``RabbitMQBroker`` (rabbitmq.py)
=====================  ===============================  ===================================
extra server           none: rows in the hub's store     RabbitMQ (pika)
publish                committed row                     publisher confirm, persistent
unacked on crash       visible again after the lease     redelivered when the channel closes
delayed retry          ``visible_at`` in the future      TTL queue dead-lettering back
dead letters           queue ``<queue>.dead``            queue ``<queue>.dead``
=====================  ===============================  ===================================

Where the two differ (callers must not depend on these): after ``retry`` RabbitMQ hands out a
new message (``redelivered`` False, at the back of the queue) where the embedded broker keeps
the row (``redelivered`` True, original position); RabbitMQ's ``depth`` counts ready messages
only, the embedded one also leased and delayed rows; a handler that returns without settling is
requeued at once on RabbitMQ and after its lease on the embedded broker.

Contract for consumers: the handler runs on a worker thread and must settle every delivery
exactly once with ``ack()``, ``retry(delay)`` or ``dead_letter(reason)``. A delivery the handler
leaves unsettled (it raised, or the process died) is redelivered: at-least-once, so handlers
must be idempotent. Settling methods are thread-safe.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

__all__ = [
    "Broker",
    "Consumer",
    "DEAD_REASON_HEADER",
    "Delivery",
    "Handler",
    "Publication",
    "dead_letter_queue",
]

DEAD_SUFFIX = ".dead"
DEAD_REASON_HEADER = "x-dead-reason"


def dead_letter_queue(queue: str) -> str:
    return queue + DEAD_SUFFIX


@dataclass(frozen=True)
class Publication:
    """One message to publish: the queue, the bytes, and string headers."""

    queue: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Delivery(abc.ABC):
    """A message handed to a consumer, settled exactly once.

    ``in_store``: settling is a write to the hub's own store (the embedded broker). Then each
    settling method takes the caller's store connection, ``conn``, and the settlement commits
    with the caller's transaction — one write instead of two, and no window between recording
    an outcome and settling its message. Otherwise ``conn`` must be None and the caller settles
    after its own commit (at-least-once: a crash in between redelivers)."""

    queue: str
    body: bytes
    headers: dict[str, str]
    redelivered: bool
    in_store: bool = False

    @abc.abstractmethod
    def ack(self, conn: Connection | None = None) -> None:
        """Done: remove the message for good."""

    @abc.abstractmethod
    def retry(
        self,
        delay_seconds: float,
        headers: Mapping[str, str] | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Give the message back, to be delivered again after ``delay_seconds``."""

    @abc.abstractmethod
    def dead_letter(self, reason: str, conn: Connection | None = None) -> None:
        """Park the message in ``<queue>.dead`` with the reason in ``x-dead-reason``."""


Handler = Callable[[Delivery], None]


class Consumer(abc.ABC):
    """A running consumption; ``stop`` waits for handlers in flight, then closes."""

    @abc.abstractmethod
    def stop(self, timeout: float = 10.0) -> None: ...

    @abc.abstractmethod
    def is_alive(self) -> bool: ...


class Broker(abc.ABC):
    """Queues that survive a restart. Every method raises ``BrokerError`` on connection loss.
    ``in_store``: the queues live in the hub's own store (``publish_in`` always publishes)."""

    in_store = False

    @abc.abstractmethod
    def declare(self, queue: str) -> None:
        """Make sure ``queue`` and its dead-letter queue exist (idempotent)."""

    @abc.abstractmethod
    def publish(self, batch: Sequence[Publication]) -> None:
        """Publish all of ``batch``; returns only once the broker has confirmed every message."""

    def publish_in(self, conn: Connection, batch: Sequence[Publication]) -> bool:
        """Publish ``batch`` inside the caller's store transaction, if this broker keeps its
        queues in the hub's store; True if it did. Otherwise False, and the caller writes
        outbox rows for the relay to publish."""
        return False

    def notify(self) -> None:  # noqa: B027 - optional hook
        """Something was published in a store transaction that has now committed: wake this
        process's consumers instead of letting them find it at their next poll."""

    @abc.abstractmethod
    def consume(self, queues: Sequence[str], handler: Handler, *, prefetch: int = 8) -> Consumer:
        """Start delivering from ``queues`` to ``handler`` on up to ``prefetch`` threads."""

    @abc.abstractmethod
    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (ready, delayed or in flight where the broker knows)."""

    @abc.abstractmethod
    def purge(self, queue: str) -> None:
        """Drop every message in ``queue`` (tests and admin clean-up)."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise ``BrokerError`` unless the broker answers now (readiness probe)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
