"""The embedded broker: queues as rows in the hub's own store, so a fresh install needs no
broker server. A consumer claims ready rows with one ``UPDATE … RETURNING`` that sets a lease
(visibility timeout); a consumer that dies leaves the lease to expire and the row comes back.
Leases of messages still being handled are extended, so a slow delivery is not handed out
twice. PostgreSQL adds ``FOR UPDATE SKIP LOCKED`` so competing workers never wait on each other.

URL: ``LGSP_BROKER_URL=embedded`` (the default). Options: ``lease_seconds``, ``poll_interval``.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from hub.brokers.base import (
    DEAD_REASON_HEADER,
    Broker,
    Consumer,
    Delivery,
    Handler,
    Publication,
    dead_letter_queue,
)
from hub.errors import BrokerError
from hub.outage import STORE, Backoff, as_unavailable, kind_of, outages
from hub.store.db import reader
from hub.store.tables import queue_items

__all__ = ["EmbeddedBroker", "EmbeddedConsumer", "EmbeddedDelivery"]

log = logging.getLogger(__name__)
WHERE = "embedded consumer"

# Wakes consumers of this process as soon as something is published, instead of at next poll.
_published = threading.Condition()
_INSERT_ITEMS = insert(queue_items)


class EmbeddedDelivery(Delivery):
    def __init__(self, broker: EmbeddedBroker, row: Mapping, lease: str) -> None:
        self._broker = broker
        self._id = row["id"]
        self._lease = lease
        self.queue = row["queue"]
        self.body = row["body"]
        self.headers = dict(row["headers"] or {})
        self.redelivered = row["deliveries"] > 1
        self.settled = False

    in_store = True

    def _settle(self, stmt, conn: Connection | None, **values) -> None:
        if self.settled:
            raise RuntimeError("delivery already settled")
        self.settled = True
        params = {"item_id": self._id, "item_lease": self._lease, **values}
        if conn is not None:
            self._apply(conn, stmt, params)
            return
        with self._broker._begin() as own:
            self._apply(own, stmt, params)

    def _apply(self, conn: Connection, stmt, params) -> None:
        if conn.execute(stmt, params).rowcount == 0:
            log.warning("lease of queue item %s was lost before it was settled", self._id)

    def ack(self, conn: Connection | None = None) -> None:
        self._settle(_ACK, conn)

    def retry(
        self,
        delay_seconds: float,
        headers: Mapping[str, str] | None = None,
        conn: Connection | None = None,
    ) -> None:
        self._settle(
            _MOVE,
            conn,
            v_queue=self.queue,
            v_visible=time.time() + max(0.0, delay_seconds),
            v_headers={**self.headers, **(headers or {})},
        )
        if conn is None:
            self._broker.notify()

    def dead_letter(self, reason: str, conn: Connection | None = None) -> None:
        self._settle(
            _MOVE,
            conn,
            v_queue=dead_letter_queue(self.queue),
            v_visible=time.time(),
            v_headers={**self.headers, DEAD_REASON_HEADER: reason},
        )


# Settling statements, built once (see ``EmbeddedDelivery._settle`` for the parameters).
_HELD = (queue_items.c.id == bindparam("item_id"), queue_items.c.lease == bindparam("item_lease"))
_ACK = delete(queue_items).where(*_HELD)
_MOVE = (
    update(queue_items)
    .where(*_HELD)
    .values(
        queue=bindparam("v_queue"),
        visible_at=bindparam("v_visible"),
        lease=None,
        headers=bindparam("v_headers"),
    )
)


class EmbeddedConsumer(Consumer):
    def __init__(
        self, broker: EmbeddedBroker, queues: Sequence[str], handler: Handler, prefetch: int
    ) -> None:
        self._broker = broker
        self._queues = list(queues)
        self._handler = handler
        self._prefetch = prefetch
        self._pool = ThreadPoolExecutor(prefetch, thread_name_prefix="embedded-handler")
        self._inflight: dict[int, EmbeddedDelivery] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._handler_backoff = Backoff()  # shared by the handler threads: one outage, one pace
        self._thread = threading.Thread(target=self._run, name="embedded-consumer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Never ends but by ``stop``: while the store is down, claims back off (one
        rate-limited log line, ``hub.outage``) and resume by themselves when it answers."""
        next_extend = time.monotonic() + self._broker.lease_seconds / 3
        backoff = Backoff()
        while not self._stopping.is_set():
            with self._lock:
                room = self._prefetch - len(self._inflight)
            claimed, down = [], False
            if room > 0:
                try:
                    claimed = self._broker._claim(self._queues, room)
                except BrokerError as exc:
                    outages.failed(kind_of(exc), WHERE, exc)
                    down = True
                except Exception:  # a bug, but the consumer must outlive it too
                    log.exception("embedded consumer could not claim messages")
                    down = True
                else:
                    backoff.reset()
                    outages.recovered(STORE, WHERE)
            for delivery in claimed:
                with self._lock:
                    self._inflight[delivery._id] = delivery
                self._pool.submit(self._handle, delivery)
            if time.monotonic() >= next_extend:
                self._extend_leases()
                next_extend = time.monotonic() + self._broker.lease_seconds / 3
            if down:
                self._stopping.wait(backoff.next())
            elif not claimed:
                with _published:
                    _published.wait(self._broker.poll_interval)

    def _handle(self, delivery: EmbeddedDelivery) -> None:
        """A handler that fails because the store is down gets its message back after a
        backoff; if even that cannot be written, the lease runs out and it comes back then."""
        try:
            self._handler(delivery)
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is None:
                log.exception(
                    "handler failed on queue item from %s; it will be redelivered", delivery.queue
                )
            else:
                outages.failed(kind_of(unavailable), WHERE, exc)
            if not delivery.settled:
                try:
                    delivery.retry(0 if unavailable is None else self._handler_backoff.next())
                except SQLAlchemyError as again:
                    outages.failed(STORE, WHERE, again)
        else:
            self._handler_backoff.reset()
        finally:
            with self._lock:
                self._inflight.pop(delivery._id, None)

    def _extend_leases(self) -> None:
        with self._lock:
            held = [(d._id, d._lease) for d in self._inflight.values()]
        if not held:
            return
        until = time.time() + self._broker.lease_seconds
        stmt = (
            update(queue_items)
            .where(
                queue_items.c.id == bindparam("item_id"),
                queue_items.c.lease == bindparam("item_lease"),
            )
            .values(visible_at=until)
        )
        try:
            with self._broker._begin() as conn:
                conn.execute(stmt, [{"item_id": i, "item_lease": lease} for i, lease in held])
        except SQLAlchemyError as exc:
            outages.failed(STORE, WHERE, exc)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._broker.notify()
        self._thread.join(timeout)
        self._pool.shutdown(wait=True)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


@functools.cache
def _claim_statement(skip_locked: bool, limit: int):
    """Lease up to ``limit`` ready rows of the given queues in one statement (built once per
    limit: a statement object reused spares SQLAlchemy rebuilding and re-keying it)."""
    ready = (
        select(queue_items.c.id)
        .where(
            queue_items.c.queue.in_(bindparam("queues", expanding=True)),
            queue_items.c.visible_at <= bindparam("now"),
        )
        .order_by(queue_items.c.id)
        .limit(limit)
    )
    if skip_locked:
        ready = ready.with_for_update(skip_locked=True)
    return (
        update(queue_items)
        .where(queue_items.c.id.in_(ready.scalar_subquery()))
        .values(
            visible_at=bindparam("until"),
            lease=bindparam("lease"),
            deliveries=queue_items.c.deliveries + 1,
        )
        .returning(
            queue_items.c.id,
            queue_items.c.queue,
            queue_items.c.body,
            queue_items.c.headers,
            queue_items.c.deliveries,
        )
    )


class EmbeddedBroker(Broker):
    in_store = True

    def __init__(
        self, engine: Engine, *, lease_seconds: float = 30.0, poll_interval: float = 0.05
    ) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval

    def _begin(self):
        return self.engine.begin()

    def notify(self) -> None:
        with _published:
            _published.notify_all()

    def declare(self, queue: str) -> None:
        """Queues are just a column value: nothing to create."""

    def publish(self, batch: Sequence[Publication]) -> None:
        if not batch:
            return
        try:
            with self._begin() as conn:
                self.publish_in(conn, batch)
        except SQLAlchemyError as exc:
            raise BrokerError(
                "embedded broker could not store the messages", error=type(exc).__name__
            ) from exc
        self.notify()

    def publish_in(self, conn: Connection, batch: Sequence[Publication]) -> bool:
        """The queue rows are written in the caller's transaction: committed with the message
        they carry, so no outbox row and no relay hop are needed."""
        if batch:
            now = time.time()
            conn.execute(
                _INSERT_ITEMS,
                [
                    {
                        "queue": p.queue,
                        "body": p.body,
                        "headers": dict(p.headers),
                        "visible_at": now,
                        "lease": None,
                        "deliveries": 0,
                        "created_at": now,
                    }
                    for p in batch
                ],
            )
        return True

    def _claim(self, queues: Sequence[str], limit: int) -> list[EmbeddedDelivery]:
        now = time.time()
        lease = str(uuid.uuid4())
        stmt = _claim_statement(self.engine.dialect.name == "postgresql", limit)
        try:
            with self._begin() as conn:
                rows = (
                    conn.execute(
                        stmt,
                        {
                            "queues": list(queues),
                            "now": now,
                            "lease": lease,
                            "until": now + self.lease_seconds,
                        },
                    )
                    .mappings()
                    .all()
                )
        except SQLAlchemyError as exc:
            raise BrokerError(
                "embedded broker could not claim messages", error=type(exc).__name__
            ) from exc
        return [EmbeddedDelivery(self, row, lease) for row in sorted(rows, key=lambda r: r["id"])]

    def consume(self, queues: Sequence[str], handler: Handler, *, prefetch: int = 8) -> Consumer:
        return EmbeddedConsumer(self, queues, handler, prefetch)

    def depth(self, queue: str) -> int:
        with reader(self.engine).connect() as conn:
            return conn.execute(
                select(func.count()).select_from(queue_items).where(queue_items.c.queue == queue)
            ).scalar_one()

    def purge(self, queue: str) -> None:
        with self._begin() as conn:
            conn.execute(delete(queue_items).where(queue_items.c.queue == queue))

    def ping(self) -> None:
        try:
            with reader(self.engine).connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise BrokerError("embedded broker store unreachable") from exc
