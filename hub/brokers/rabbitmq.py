"""The RabbitMQ broker (pika): durable queues, persistent messages, publisher confirms, delayed
retry through TTL queues, and a dead-letter queue per queue.

================  ==========================================================================
feature           how
================  ==========================================================================
queues            durable, ``x-queue-type`` classic or quorum, declared on first use
publish           persistent, ``mandatory``, confirms pipelined per batch (about 20,000 msg/s)
consume           a connection per consumer, handlers on a thread pool, manual acks
unacked on crash  redelivered by RabbitMQ when the connection closes
delayed retry     ``<queue>.delay.<ms>``: a TTL queue that dead-letters back to ``<queue>``
dead letters      ``<queue>.dead`` (also the broker-side dead-letter target of ``<queue>``)
depth             ready messages only (not unacked ones, not those in a delay queue)
================  ==========================================================================

URL: ``amqp://user:password@host:5672/%2F`` (``amqps://`` for TLS). pika's query options
(``heartbeat``, ``socket_timeout``, ``connection_attempts`` …) are honoured; the defaults are
short so that an unreachable broker fails within seconds. Options: ``queue_type`` ("classic" or
"quorum") and ``prefix``, put before every queue name on the server (``Delivery.queue`` and the
arguments of every method are names without it).

Threads: a ``BlockingConnection`` is not thread-safe, so each publishing thread has its own. A
consumer owns a connection on its own I/O thread and runs handlers on a pool; settlements are
marshalled back with ``add_callback_threadsafe``, so a slow handler never stops heartbeats.
Delays are rounded up to a ladder of tiers (x1.25 from 100 ms to 24 h: at most 63 delay queues
per queue); an idle delay queue deletes itself. Moving a message out of a delay queue is
RabbitMQ's own dead-lettering, which is not confirmed.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from sqlalchemy import Connection

from hub.brokers.base import (
    DEAD_REASON_HEADER,
    DEAD_SUFFIX,
    Broker,
    Consumer,
    Delivery,
    Handler,
    Publication,
    dead_letter_queue,
)
from hub.errors import BrokerError
from hub.outage import BROKER, Backoff, as_unavailable, describe, kind_of, outages

__all__ = [
    "DELAY_TIERS_MS",
    "RabbitMQBroker",
    "RabbitMQConsumer",
    "RabbitMQDelivery",
    "delay_tier_ms",
]

log = logging.getLogger(__name__)
WHERE = "rabbitmq consumer"
# pika logs a lost connection at ERROR from four modules, one with a traceback, for every
# connection — a broker restart under load floods the log. This module reports each loss
# itself, rate-limited (``hub.outage``); pika's own lines stay available to whoever sets its
# level explicitly (before this import, or after).
if logging.getLogger("pika").level == logging.NOTSET:
    logging.getLogger("pika").setLevel(logging.CRITICAL)
T = TypeVar("T")

DRIVER_ERRORS = (pika.exceptions.AMQPError, OSError)  # caught here, re-raised as BrokerError
# pika reports a connection reset while it is still connecting as ValueError ("getpeername()
# failed"): opening a connection, that too means unreachable.
CONNECT_ERRORS = (*DRIVER_ERRORS, ValueError)
CONFIRM_TIMEOUT = 30.0  # seconds a publish or a settlement may wait for the broker
CONFIRM_WINDOW = 1000  # unconfirmed messages in flight per publishing thread
URL_DEFAULTS = {
    "socket_timeout": 5,
    "stack_timeout": 10,
    "blocked_connection_timeout": 30,
    "connection_attempts": 1,
}  # unless the URL's query sets them
# TTLs of the delay queues: 100 ms x 1.25**k up to 100 * 1.25**61 ms (22.5 h), then 24 h.
DELAY_TIERS_MS = (*(round(100 * 1.25**k) for k in range(62)), 86_400_000)


def delay_tier_ms(delay_seconds: float) -> int:
    """The delay queue TTL used for ``delay_seconds``: the first tier not shorter (0: none)."""
    if delay_seconds <= 0:
        return 0
    return next((t for t in DELAY_TIERS_MS if t >= delay_seconds * 1000), DELAY_TIERS_MS[-1])


def _clean_headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Our headers are strings; RabbitMQ's dead-letter bookkeeping (``x-death`` …) is dropped."""
    headers = {}
    for key, value in (raw or {}).items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and not key.startswith(("x-death", "x-first-", "x-last-")):
            headers[key] = value
    return headers


def _properties(headers: Mapping[str, str]) -> pika.BasicProperties:
    return pika.BasicProperties(delivery_mode=2, headers=dict(headers) or None)


class _Refused(pika.exceptions.AMQPChannelError):
    """A message came back unroutable or nacked."""


class _Publisher:
    """One thread's connection and confirm-mode channel. Confirms are pipelined through pika's
    asynchronous channel (``_impl``): waiting for each one caps a thread near 1,500 msg/s."""

    def __init__(self, params: pika.ConnectionParameters) -> None:
        self.pid = os.getpid()
        self.conn = BlockingConnection(params)
        try:
            self.channel = self.conn.channel()
        except DRIVER_ERRORS:  # the connection broke at once: do not leave it half open
            self.close()
            raise
        self._pending: set[int] = set()  # delivery tags not confirmed yet
        self._seq = self._refused = 0
        self.channel._impl.add_on_return_callback(self._on_return)
        self.channel._impl.confirm_delivery(self._on_confirm)  # nowait: frames stay in order

    def _on_return(self, *_args: Any) -> None:
        self._refused += 1

    def _on_confirm(self, frame: Any) -> None:
        tag, method = frame.method.delivery_tag, frame.method
        done = {t for t in self._pending if t <= tag} if method.multiple else {tag}
        self._pending -= done
        if isinstance(method, pika.spec.Basic.Nack):
            self._refused += len(done)
        if not self._pending:
            self.conn.call_later(0, lambda: None)  # makes process_data_events return now

    def _wait(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + CONFIRM_TIMEOUT
        while not ready():
            if not self.channel.is_open:
                raise pika.exceptions.ChannelWrongStateError("publishing channel closed")
            if time.monotonic() > deadline:
                raise BrokerError("RabbitMQ did not confirm in time", timeout=CONFIRM_TIMEOUT)
            self.conn.process_data_events(time_limit=0.5)

    def publish(self, messages: Sequence[tuple[str, bytes, Mapping[str, str]]]) -> None:
        self._refused = 0
        for queue, body, headers in messages:
            self.channel._impl.basic_publish("", queue, body, _properties(headers), mandatory=True)
            self._seq += 1
            self._pending.add(self._seq)
            if len(self._pending) >= CONFIRM_WINDOW:
                self._wait(lambda: not self._pending)
        self._wait(lambda: not self._pending)
        if self._refused:
            raise _Refused(f"{self._refused} message(s) unroutable or nacked")

    def close(self) -> None:
        try:
            if self.conn.is_open:
                self.conn.close()
        except DRIVER_ERRORS:
            pass


class RabbitMQBroker(Broker):
    def __init__(self, url: str, *, queue_type: str = "classic", prefix: str = "") -> None:
        if queue_type not in ("classic", "quorum"):
            raise ValueError(f"queue_type must be 'classic' or 'quorum', not {queue_type!r}")
        self.params = pika.URLParameters(url)
        self._given = set(parse_qs(urlparse(url).query))
        for name, value in URL_DEFAULTS.items():
            if name not in self._given:
                setattr(self.params, name, value)
        self.queue_type = queue_type
        self.prefix = prefix
        self._local = threading.local()
        self._publishers: set[_Publisher] = set()
        self._declared: set[str] = set()  # server names this process has declared
        self._lock = threading.Lock()

    def name(self, queue: str) -> str:
        """The queue's name on the server."""
        return self.prefix + queue

    def connect(self, heartbeat: int) -> BlockingConnection:
        """A new connection, owned by the calling thread (BrokerError if refused)."""
        params = copy.copy(self.params)
        if "heartbeat" not in self._given:
            params.heartbeat = heartbeat
        try:
            return BlockingConnection(params)
        except CONNECT_ERRORS as exc:
            raise BrokerError("RabbitMQ unreachable", error=type(exc).__name__) from exc

    def _publisher(self) -> _Publisher:
        pub: _Publisher | None = getattr(self._local, "publisher", None)
        if pub is not None and (pub.pid != os.getpid() or not pub.channel.is_open):
            self._drop(pub)  # inherited through fork, or closed: never reuse
            pub = None
        if pub is None:
            pub = self._local.publisher = _Publisher(self.params)
            with self._lock:
                self._publishers.add(pub)
        return pub

    def _drop(self, pub: _Publisher) -> None:
        self._local.publisher = None
        with self._lock:
            self._publishers.discard(pub)
        if pub.pid == os.getpid():
            pub.close()

    def _with_publisher(self, what: str, fn: Callable[[_Publisher], T]) -> T:
        """Run ``fn`` on this thread's connection; if that connection turns out broken (the
        broker restarted since), reconnect once; then raise BrokerError. A connection that
        cannot even be opened is not tried again at once: while the broker is down every call
        costs one refused connect, and its caller backs off."""
        for attempt in (1, 2):
            try:
                pub = self._publisher()
            except CONNECT_ERRORS as exc:
                raise BrokerError("RabbitMQ unreachable", error=type(exc).__name__) from exc
            try:
                return fn(pub)
            except (BrokerError, *DRIVER_ERRORS) as exc:
                self._drop(pub)  # its state is unknown now
                if isinstance(exc, BrokerError):
                    raise
                if isinstance(exc, _Refused):
                    self._declared.clear()  # a queue may have been deleted behind our back
                if attempt == 2:
                    raise BrokerError(
                        f"RabbitMQ {what} failed", error=type(exc).__name__, reason=str(exc)
                    ) from exc
                log.warning("RabbitMQ %s failed (%s); reconnecting once", what, exc)
        raise AssertionError("unreachable")

    def ensure(self, channel: BlockingChannel, queue: str, *, force: bool = False) -> None:
        """Declare ``queue`` and its dead-letter queue, unless this process already did."""
        name, args = self.name(queue), {"x-queue-type": self.queue_type}
        if name in self._declared and not force:
            return
        if not queue.endswith(DEAD_SUFFIX):
            dead = self.name(dead_letter_queue(queue))
            channel.queue_declare(dead, durable=True, arguments=args)
            self._declared.add(dead)
            args = {**args, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead}
        channel.queue_declare(name, durable=True, arguments=args)
        self._declared.add(name)

    def delay_queue(self, channel: BlockingChannel, queue: str, ms: int) -> str:
        """Declare the TTL queue for ``ms`` (every time: that also keeps it from expiring)."""
        name = self.name(f"{queue}.delay.{ms}")
        args = {
            "x-message-ttl": ms,
            "x-expires": ms + 60_000,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.name(queue),
        }
        channel.queue_declare(name, durable=True, arguments=args)
        return name

    def declare(self, queue: str) -> None:
        self._with_publisher("declare", lambda pub: self.ensure(pub.channel, queue, force=True))

    def publish(self, batch: Sequence[Publication]) -> None:
        """Declares queues not yet declared by this process, so nothing published is lost."""
        if not batch:
            return

        def run(pub: _Publisher) -> None:
            for queue in dict.fromkeys(p.queue for p in batch):
                self.ensure(pub.channel, queue)
            pub.publish([(self.name(p.queue), p.body, p.headers) for p in batch])

        self._with_publisher("publish", run)

    def _on_side_channel(self, what: str, fn: Callable[[BlockingChannel], T], missing: T) -> T:
        """Run ``fn`` on a throwaway channel: a 404 closes it, and means ``missing`` here."""

        def run(pub: _Publisher) -> T:
            channel = pub.conn.channel()
            try:
                return fn(channel)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                return missing
            finally:
                if channel.is_open:
                    channel.close()

        return self._with_publisher(what, run)

    def depth(self, queue: str) -> int:
        name = self.name(queue)
        return self._on_side_channel(
            "depth", lambda ch: ch.queue_declare(name, passive=True).method.message_count, 0
        )

    def purge(self, queue: str) -> None:
        self._on_side_channel("purge", lambda ch: ch.queue_purge(self.name(queue)), None)

    def ping(self) -> None:
        self._on_side_channel("ping", lambda ch: None, None)

    def consume(self, queues: Sequence[str], handler: Handler, *, prefetch: int = 8) -> Consumer:
        """Declares ``queues``; raises BrokerError at once if the consumer cannot start."""
        return RabbitMQConsumer(self, queues, handler, prefetch)

    def close(self) -> None:
        """Close every publishing connection; call it once no thread is publishing."""
        with self._lock:
            publishers, self._publishers = self._publishers, set()
        for pub in publishers:
            pub.close()
        self._local = threading.local()


class RabbitMQDelivery(Delivery):
    def __init__(
        self,
        consumer: RabbitMQConsumer,
        queue: str,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        self._consumer = consumer
        self._tag: int = method.delivery_tag
        self._lock = threading.Lock()
        self.settled = False
        self.queue = queue
        self.body = body
        self.headers = _clean_headers(properties.headers)
        self.redelivered = bool(method.redelivered)

    def _settle(self, action: Callable[[BlockingChannel], None]) -> None:
        """Run ``action`` on the connection thread and wait; settled only if it succeeded."""
        with self._lock:
            if self.settled:
                raise RuntimeError("delivery already settled")
            self._consumer.call(action)
            self.settled = True

    def _move(self, queue: str, headers: Mapping[str, str], delay_ms: int = 0) -> None:
        """Confirmed publish of this body to ``queue`` (via a delay queue), then ack."""
        broker = self._consumer.broker

        def action(channel: BlockingChannel) -> None:
            out = self._consumer.publish_channel()
            if delay_ms:
                target = broker.delay_queue(out, queue, delay_ms)
            else:
                broker.ensure(out, queue)
                target = broker.name(queue)
            out.basic_publish("", target, self.body, _properties(headers), mandatory=True)
            channel.basic_ack(self._tag)

        self._settle(action)

    def ack(self, conn: Connection | None = None) -> None:
        _not_in_store(conn)
        self._settle(lambda channel: channel.basic_ack(self._tag))

    def requeue(self) -> None:
        """Straight back to its queue, unchanged (what happens to an unsettled delivery)."""
        self._settle(lambda channel: channel.basic_nack(self._tag, requeue=True))

    def retry(
        self,
        delay_seconds: float,
        headers: Mapping[str, str] | None = None,
        conn: Connection | None = None,
    ) -> None:
        _not_in_store(conn)
        merged = {**self.headers, **(headers or {})}
        self._move(self.queue, merged, delay_tier_ms(delay_seconds))

    def dead_letter(self, reason: str, conn: Connection | None = None) -> None:
        _not_in_store(conn)
        headers = {**self.headers, DEAD_REASON_HEADER: reason}
        self._move(dead_letter_queue(self.queue), headers)


def _not_in_store(conn: Connection | None) -> None:
    if conn is not None:
        raise TypeError("a RabbitMQ delivery is settled after the store commits, not inside it")


class RabbitMQConsumer(Consumer):
    """Owns one connection on its own I/O thread; handlers run on ``prefetch`` pool threads.
    If the connection is lost the consumer ends (``is_alive()`` turns false) and RabbitMQ
    redelivers what it held: whoever supervises consumers starts a new one."""

    HEARTBEAT = 30

    def __init__(
        self, broker: RabbitMQBroker, queues: Sequence[str], handler: Handler, prefetch: int
    ) -> None:
        self.broker = broker
        self._queues, self._handler, self._prefetch = list(queues), handler, max(1, prefetch)
        self._pool = ThreadPoolExecutor(self._prefetch, thread_name_prefix="rabbitmq-handler")
        self._inflight: set[Future[None]] = set()
        self._calls: set[Future[Any]] = set()  # settlements waiting for the connection thread
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._backoff = Backoff()  # shared by the handler threads: one outage, one pace
        self._exit = self._dead = False
        self._ready: Future[None] = Future()
        self._conn: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._out: BlockingChannel | None = None
        self._thread = threading.Thread(target=self._run, name="rabbitmq-consumer", daemon=True)
        self._thread.start()
        self._ready.result()  # raises BrokerError if the consumer could not start

    def _run(self) -> None:
        try:
            self._conn = self.broker.connect(heartbeat=self.HEARTBEAT)
            self._channel = channel = self._conn.channel()
            channel.basic_qos(prefetch_count=self._prefetch)
            channel.add_on_cancel_callback(self._on_broker_cancel)
            for queue in self._queues:
                self.broker.ensure(self.publish_channel(), queue)
                channel.basic_consume(
                    self.broker.name(queue), functools.partial(self._on_message, queue)
                )
        except (BrokerError, *DRIVER_ERRORS) as exc:
            self._finish()
            self._ready.set_exception(
                exc
                if isinstance(exc, BrokerError)
                else BrokerError(
                    "RabbitMQ consumer could not start", error=type(exc).__name__, reason=str(exc)
                )
            )
            return
        self._ready.set_result(None)
        try:
            while not self._exit and channel.is_open:
                self._conn.process_data_events(time_limit=1.0)
        except DRIVER_ERRORS as exc:  # whoever supervises consumers starts a new one
            outages.failed(BROKER, WHERE, f"consumer lost its connection: {describe(exc)}")
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            self._dead = True
            calls, self._calls = self._calls, set()
        for call in calls:
            # one already answered, whose waiter has not yet dropped it from ``_calls``, is done
            if not call.done() and call.set_running_or_notify_cancel():
                call.set_exception(BrokerError("RabbitMQ consumer connection closed"))
        if self._conn is not None and self._conn.is_open:
            try:
                self._conn.close()
            except DRIVER_ERRORS:
                pass

    def _on_broker_cancel(self, _frame: Any) -> None:
        log.error("RabbitMQ cancelled a consumer (queue deleted?); this consumer stops")
        self._exit = True

    def publish_channel(self) -> BlockingChannel:
        """The connection thread's confirm-mode channel for retries and dead letters."""
        if self._out is None or not self._out.is_open:
            assert self._conn is not None
            self._out = self._conn.channel()
            self._out.confirm_delivery()
        return self._out

    def call(self, action: Callable[[BlockingChannel], T], timeout: float = CONFIRM_TIMEOUT) -> T:
        """Run ``action(channel)`` on the connection thread; wait (BrokerError on failure)."""
        result: Future[T] = Future()

        def run() -> None:
            if result.set_running_or_notify_cancel():
                try:
                    result.set_result(action(self._channel))
                except BaseException as exc:  # handed to the waiting thread
                    result.set_exception(exc)

        with self._lock:
            if self._dead or self._conn is None:
                raise BrokerError("RabbitMQ consumer connection closed")
            self._calls.add(result)
        try:
            self._conn.add_callback_threadsafe(run)
            return result.result(timeout)
        except TimeoutError as exc:
            raise BrokerError("RabbitMQ did not answer in time", timeout=timeout) from exc
        except DRIVER_ERRORS as exc:
            raise BrokerError(
                "RabbitMQ settlement failed", error=type(exc).__name__, reason=str(exc)
            ) from exc
        finally:
            with self._lock:
                self._calls.discard(result)

    def _on_message(
        self,
        queue: str,
        channel: BlockingChannel,
        method: Any,
        properties: pika.BasicProperties,
        body: bytes,
    ) -> None:
        if self._stopping.is_set():
            channel.basic_reject(method.delivery_tag, requeue=True)
            return
        future = self._pool.submit(
            self._handle, RabbitMQDelivery(self, queue, method, properties, body)
        )
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._inflight.discard)

    def _handle(self, delivery: RabbitMQDelivery) -> None:
        """A handler that fails because the store or the broker is down gets its message
        requeued after a backoff (at once it would be back at once, in a loop that writes a
        log line per turn); if this consumer's connection is gone, RabbitMQ has taken the
        message back already."""
        try:
            self._handler(delivery)
            if not delivery.settled:
                log.warning("handler left a message from %s unsettled", delivery.queue)
            self._backoff.reset()
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is None:
                log.exception(
                    "handler failed on a message from %s; it will be redelivered", delivery.queue
                )
            else:
                outages.failed(kind_of(unavailable), WHERE, exc)
                if not delivery.settled and not self._dead:
                    self._stopping.wait(self._backoff.next())
        if not delivery.settled and not self._dead:
            try:
                delivery.requeue()
            except BrokerError as exc:
                outages.failed(BROKER, WHERE, exc)
            except RuntimeError as exc:
                log.warning("could not requeue a message from %s: %s", delivery.queue, exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Take no new messages, let handlers in flight settle, then close the connection.
        Whatever is still unsettled after ``timeout`` goes back to the queue as it closes."""
        deadline = time.monotonic() + timeout
        if not self._stopping.is_set():
            self._stopping.set()
            try:
                self.call(
                    lambda ch: [ch.basic_cancel(tag) for tag in ch.consumer_tags],
                    timeout=max(0.1, timeout),
                )
            except BrokerError:
                pass
        with self._lock:
            inflight = list(self._inflight)
        wait(inflight, timeout=max(0.0, deadline - time.monotonic()))
        self._exit = True
        try:
            if self._conn is not None and not self._dead:
                self._conn.add_callback_threadsafe(lambda: None)  # wakes the loop to exit
        except DRIVER_ERRORS:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)

    def is_alive(self) -> bool:
        return self._thread.is_alive() and not self._exit
