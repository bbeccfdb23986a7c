"""The RabbitMQ broker (pika): durable queues, persistent messages, publisher confirms, delayed
retry through TTL queues, and a dead-letter queue per queue.

========================  ==================================================================
feature                   how
========================  ==================================================================
queues                    durable, ``x-queue-type`` classic or quorum, created on first use
publish                   persistent, ``mandatory``, confirms pipelined per batch
consume                   one connection per consumer, handlers on a thread pool, manual acks
unacked on crash          redelivered by RabbitMQ when the connection closes
delayed retry             ``<queue>.delay.<ms>``: TTL queue dead-lettering back to ``<queue>``
dead letters              ``<queue>.dead`` (also the broker-side DLX of ``<queue>``)
depth                     ready messages only (not unacked, not waiting in a delay queue)
========================  ==================================================================

URL: ``amqp://user:password@host:5672/%2F`` (``amqps://`` for TLS); pika's query options
(``heartbeat``, ``socket_timeout``, ``connection_attempts`` …) are honoured, with short
timeouts by default so an unreachable broker fails fast. Options: ``queue_type`` ("classic" or
"quorum") and ``prefix``, put before every queue name on the server (``Delivery.queue`` and the
arguments of this class's methods are names without it).

Threads: a ``BlockingConnection`` is not thread-safe, so publishing uses one connection per
thread; a consumer owns its connection on its own I/O thread and marshals settlements there with
``add_callback_threadsafe``, so a slow handler never stops heartbeats. Delays are rounded up to
a ladder of tiers (x1.25 from 100 ms to 24 h, about 60 queues at most per queue); an idle delay
queue removes itself. Dead-lettering out of a delay queue is RabbitMQ's own and not confirmed.
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

log = logging.getLogger(__name__)
T = TypeVar("T")

DRIVER_ERRORS = (pika.exceptions.AMQPError, OSError)
"""What pika raises on a lost or refused connection; never leaves this module."""



def _ladder(first: float = 100, ratio: float = 1.25, last: int = 86_400_000) -> tuple[int, ...]:
    tiers = []
    while first < last:
        tiers.append(round(first))
        first *= ratio
    return (*tiers, last)


DELAY_TIERS_MS = _ladder()
"""Delay queue TTLs in ms: a retry waits for the first tier not shorter than asked."""
CONFIRM_TIMEOUT = 30.0  # seconds a publish or settlement may wait for the broker
_CONFIRM_WINDOW = 1000  # unconfirmed messages in flight per batch
_DEFAULTS = {"socket_timeout": 5, "stack_timeout": 10, "blocked_connection_timeout": 30,
             "connection_attempts": 1}
_INTERNAL_HEADERS = ("x-death", "x-first-death-", "x-last-death-")


def delay_tier_ms(delay_seconds: float) -> int:
    """The delay queue TTL used for ``delay_seconds``: the smallest tier not shorter (0: none)."""
    if delay_seconds <= 0:
        return 0
    ms = delay_seconds * 1000
    return next((tier for tier in DELAY_TIERS_MS if tier >= ms), DELAY_TIERS_MS[-1])


def _clean_headers(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Our headers are strings; drop RabbitMQ's dead-lettering bookkeeping (``x-death`` …)."""
    headers = {}
    for key, value in (raw or {}).items():
        if key.startswith(_INTERNAL_HEADERS):
            continue
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            headers[key] = value
    return headers


def _properties(headers: Mapping[str, str]) -> pika.BasicProperties:
    return pika.BasicProperties(delivery_mode=2, headers=dict(headers) or None)


class _PublishRefused(pika.exceptions.AMQPChannelError):
    """A message came back unroutable or nacked; the batch is retried once, then reported."""


class _Publisher:
    """One thread's connection and confirm-mode channel. Confirms are pipelined through pika's
    asynchronous channel (``_impl``): waiting for each one caps a publisher near 1,500 msg/s."""

    def __init__(self, params: pika.URLParameters) -> None:
        self.pid = os.getpid()
        self.conn = BlockingConnection(params)
        self.channel = self.conn.channel()
        self._seq = 0
        self._pending: set[int] = set()
        self._refused = 0
        self._selected = False
        impl = self.channel._impl
        impl.add_on_return_callback(self._on_return)
        impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_select_ok)
        self._wait(lambda: self._selected)

    def _wake(self) -> None:
        self.conn.call_later(0, lambda: None)  # makes process_data_events return now

    def _on_select_ok(self, _frame: Any) -> None:
        self._selected = True
        self._wake()

    def _on_return(self, *_args: Any) -> None:
        self._refused += 1

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if method.multiple:
            done = {tag for tag in self._pending if tag <= method.delivery_tag}
        else:
            done = {method.delivery_tag}
        self._pending -= done
        if isinstance(method, pika.spec.Basic.Nack):
            self._refused += len(done)
        if not self._pending:
            self._wake()

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
            if len(self._pending) >= _CONFIRM_WINDOW:
                self._wait(lambda: not self._pending)
        self._pending.clear()
        if self._refused:
            raise _PublishRefused(f"{self._refused} message(s) unroutable or nacked")

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
        given = parse_qs(urlparse(url).query)
        for name, value in _DEFAULTS.items():
            if name not in given:
                setattr(self.params, name, value)
        self.queue_type = queue_type
        self.prefix = prefix
        self._local = threading.local()
        self._publishers: set[_Publisher] = set()
        self._declared: set[str] = set()
        self._lock = threading.Lock()

    def name(self, queue: str) -> str:
        """The queue's name on the server."""
        return self.prefix + queue

    # -- connections -------------------------------------------------------------------------

    def connect(self, heartbeat: int | None = None) -> BlockingConnection:
        """A new connection (BrokerError if refused); the caller's thread owns it."""
        params = self.params
        if heartbeat is not None:
            params = copy.copy(self.params)
            params.heartbeat = heartbeat
        try:
            return BlockingConnection(params)
        except DRIVER_ERRORS as exc:
            raise BrokerError("RabbitMQ unreachable", error=type(exc).__name__) from exc

    def _publisher(self) -> _Publisher:
        pub: _Publisher | None = getattr(self._local, "publisher", None)
        if pub is not None and (pub.pid != os.getpid() or not pub.channel.is_open):
            self._drop(pub)
            pub = None
        if pub is None:
            pub = _Publisher(self.params)
            self._local.publisher = pub
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
        """Run ``fn`` on this thread's connection; reconnect once, then raise BrokerError."""
        for attempt in (1, 2):
            pub = getattr(self._local, "publisher", None)
            try:
                pub = self._publisher()
                return fn(pub)
            except DRIVER_ERRORS as exc:
                if pub is not None:
                    self._drop(pub)
                if isinstance(exc, _PublishRefused):
                    self._declared.clear()  # a queue may have been deleted behind our back
                if attempt == 2:
                    raise BrokerError(f"RabbitMQ {what} failed", error=type(exc).__name__,
                                      reason=str(exc)) from exc
                log.warning("RabbitMQ %s failed (%s); reconnecting once", what, exc)
            except BrokerError:
                if pub is not None:
                    self._drop(pub)
                raise
        raise AssertionError("unreachable")

    # -- queues ------------------------------------------------------------------------------

    def _type_args(self) -> dict[str, Any]:
        return {"x-queue-type": self.queue_type}

    def ensure(self, channel: BlockingChannel, queue: str, *, force: bool = False) -> None:
        """Declare ``queue`` (and its dead-letter queue) unless this broker already did."""
        name = self.name(queue)
        if name in self._declared and not force:
            return
        if queue.endswith(".dead"):
            channel.queue_declare(name, durable=True, arguments=self._type_args())
        else:
            dead = self.name(dead_letter_queue(queue))
            channel.queue_declare(dead, durable=True, arguments=self._type_args())
            channel.queue_declare(name, durable=True, arguments={
                **self._type_args(), "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": dead})
            self._declared.add(dead)
        self._declared.add(name)

    def delay_queue(self, channel: BlockingChannel, queue: str, ms: int) -> str:
        """Declare (every time: that also keeps it from expiring) the TTL queue for ``ms``."""
        name = self.name(f"{queue}.delay.{ms}")
        channel.queue_declare(name, durable=True, arguments={
            "x-message-ttl": ms, "x-expires": ms + 60_000,
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": self.name(queue)})
        return name

    def declare(self, queue: str) -> None:
        self._with_publisher("declare", lambda pub: self.ensure(pub.channel, queue, force=True))

    def publish(self, batch: Sequence[Publication]) -> None:
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
                if exc.reply_code == 404:
                    return missing
                raise
            finally:
                if channel.is_open:
                    channel.close()

        return self._with_publisher(what, run)

    def depth(self, queue: str) -> int:
        name = self.name(queue)
        return self._on_side_channel(
            "depth", lambda ch: ch.queue_declare(name, passive=True).method.message_count, 0)

    def purge(self, queue: str) -> None:
        self._on_side_channel("purge", lambda ch: ch.queue_purge(self.name(queue)), None)

    def ping(self) -> None:
        self._on_side_channel("ping", lambda ch: None, None)

    def consume(self, queues: Sequence[str], handler: Handler, *, prefetch: int = 8) -> Consumer:
        return RabbitMQConsumer(self, queues, handler, prefetch)

    def close(self) -> None:
        """Close every publishing connection; call it when no thread is publishing any more."""
        with self._lock:
            publishers, self._publishers = self._publishers, set()
        for pub in publishers:
            pub.close()
        self._local = threading.local()


class RabbitMQDelivery(Delivery):
    def __init__(self, consumer: RabbitMQConsumer, queue: str, method: Any,
                 properties: pika.BasicProperties, body: bytes) -> None:
        self._consumer = consumer
        self._tag: int = method.delivery_tag
        self._lock = threading.Lock()
        self.settled = False
        self.queue = queue
        self.body = body
        self.headers = _clean_headers(properties.headers)
        self.redelivered = bool(method.redelivered)

    def _settle(self, action: Callable[[], None]) -> None:
        with self._lock:
            if self.settled:
                raise RuntimeError("delivery already settled")
            self._consumer.call(action)
            self.settled = True

    def _republish(self, queue: str, headers: Mapping[str, str]) -> None:
        """On the connection thread: confirmed publish of this body, then ack."""
        c = self._consumer
        c.publish_channel().basic_publish("", queue, self.body, _properties(headers),
                                          mandatory=True)
        c.channel.basic_ack(self._tag)

    def ack(self) -> None:
        self._settle(lambda: self._consumer.channel.basic_ack(self._tag))

    def nack(self) -> None:
        """Give the message straight back to its queue, unchanged (used for unsettled ones)."""
        self._settle(lambda: self._consumer.channel.basic_nack(self._tag, requeue=True))

    def retry(self, delay_seconds: float, headers: Mapping[str, str] | None = None) -> None:
        merged = {**self.headers, **(headers or {})}
        ms = delay_tier_ms(delay_seconds)
        broker = self._consumer.broker

        def action() -> None:
            channel = self._consumer.publish_channel()
            if ms:
                target = broker.delay_queue(channel, self.queue, ms)
            else:
                broker.ensure(channel, self.queue)
                target = broker.name(self.queue)
            self._republish(target, merged)

        self._settle(action)

    def dead_letter(self, reason: str) -> None:
        dead = dead_letter_queue(self.queue)
        broker = self._consumer.broker

        def action() -> None:
            broker.ensure(self._consumer.publish_channel(), dead)
            self._republish(broker.name(dead), {**self.headers, DEAD_REASON_HEADER: reason})

        self._settle(action)


class RabbitMQConsumer(Consumer):
    """Owns one connection on its own I/O thread; handlers run on ``prefetch`` worker threads."""

    HEARTBEAT = 30

    def __init__(self, broker: RabbitMQBroker, queues: Sequence[str], handler: Handler,
                 prefetch: int) -> None:
        self.broker = broker
        self._queues = list(queues)
        self._handler = handler
        self._prefetch = max(1, prefetch)
        self._pool = ThreadPoolExecutor(self._prefetch, thread_name_prefix="rabbitmq-handler")
        self._inflight: set[Future[None]] = set()
        self._calls: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._exit = False
        self._dead = False
        self._ready: Future[None] = Future()
        self.conn: BlockingConnection | None = None
        self.channel: BlockingChannel
        self._pub_channel: BlockingChannel | None = None
        self._thread = threading.Thread(target=self._run, name="rabbitmq-consumer", daemon=True)
        self._thread.start()
        self._ready.result()  # raises BrokerError if the connection could not be set up

    def _run(self) -> None:
        try:
            self.conn = self.broker.connect(heartbeat=self.HEARTBEAT)
            self.channel = self.conn.channel()
            self.channel.basic_qos(prefetch_count=self._prefetch)
            self.channel.add_on_cancel_callback(self._on_broker_cancel)
            for queue in self._queues:
                self.broker.ensure(self.publish_channel(), queue)
                self.channel.basic_consume(self.broker.name(queue),
                                           functools.partial(self._on_message, queue))
        except (BrokerError, *DRIVER_ERRORS) as exc:
            self._finish()
            self._ready.set_exception(exc if isinstance(exc, BrokerError) else BrokerError(
                "RabbitMQ consumer could not start", error=type(exc).__name__, reason=str(exc)))
            return
        self._ready.set_result(None)
        try:
            while not self._exit and self.channel.is_open:
                self.conn.process_data_events(time_limit=1.0)
        except DRIVER_ERRORS as exc:
            log.error("RabbitMQ consumer lost its connection: %s", exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._lock:
            self._dead = True
            calls, self._calls = self._calls, set()
        for call in calls:
            if call.set_running_or_notify_cancel():
                call.set_exception(BrokerError("RabbitMQ consumer connection closed"))
        if self.conn is not None and self.conn.is_open:
            try:
                self.conn.close()
            except DRIVER_ERRORS:
                pass

    def _on_broker_cancel(self, _frame: Any) -> None:
        log.error("RabbitMQ cancelled a consumer (queue deleted?); stopping this consumer")
        self._exit = True

    def publish_channel(self) -> BlockingChannel:
        """The connection thread's confirm-mode channel for retries and dead letters."""
        if self._pub_channel is None or not self._pub_channel.is_open:
            assert self.conn is not None
            self._pub_channel = self.conn.channel()
            self._pub_channel.confirm_delivery()
        return self._pub_channel

    def call(self, action: Callable[[], T], timeout: float = CONFIRM_TIMEOUT) -> T:
        """Run ``action`` on the connection thread and wait for it (BrokerError on failure)."""
        result: Future[T] = Future()

        def run() -> None:
            if result.set_running_or_notify_cancel():
                try:
                    result.set_result(action())
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                    result.set_exception(exc)

        with self._lock:
            if self._dead or self.conn is None:
                raise BrokerError("RabbitMQ consumer connection closed")
            self._calls.add(result)
        try:
            self.conn.add_callback_threadsafe(run)
            return result.result(timeout)
        except TimeoutError as exc:
            raise BrokerError("RabbitMQ did not settle in time", timeout=timeout) from exc
        except DRIVER_ERRORS as exc:
            raise BrokerError("RabbitMQ settlement failed", error=type(exc).__name__,
                              reason=str(exc)) from exc
        finally:
            with self._lock:
                self._calls.discard(result)

    def _on_message(self, queue: str, channel: BlockingChannel, method: Any,
                    properties: pika.BasicProperties, body: bytes) -> None:
        if self._stopping.is_set():
            channel.basic_reject(method.delivery_tag, requeue=True)
            return
        delivery = RabbitMQDelivery(self, queue, method, properties, body)
        future = self._pool.submit(self._handle, delivery)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)

    def _handle(self, delivery: RabbitMQDelivery) -> None:
        try:
            self._handler(delivery)
        except Exception:
            log.exception("handler failed on a message from %s; it will be redelivered",
                          delivery.queue)
        else:
            if not delivery.settled:
                log.warning("handler left a message from %s unsettled; requeued", delivery.queue)
        if not delivery.settled:
            try:
                delivery.nack()
            except (BrokerError, RuntimeError) as exc:
                log.warning("could not requeue a message from %s: %s", delivery.queue, exc)

    def _cancel_all(self) -> None:
        for tag in self.channel.consumer_tags:
            self.channel.basic_cancel(tag)

    def stop(self, timeout: float = 10.0) -> None:
        """Take no new messages, let handlers in flight settle, then close the connection.
        Messages still unsettled after ``timeout`` go back to the queue when it closes."""
        deadline = time.monotonic() + timeout
        if not self._stopping.is_set():
            self._stopping.set()
            try:
                self.call(self._cancel_all, timeout=max(0.1, timeout))
            except BrokerError:
                pass
        with self._lock:
            inflight = list(self._inflight)
        wait(inflight, timeout=max(0.0, deadline - time.monotonic()))
        self._exit = True
        if self.conn is not None and not self._dead:
            try:
                self.conn.add_callback_threadsafe(lambda: None)
            except DRIVER_ERRORS:
                pass
        if threading.current_thread() is not self._thread:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)

    def is_alive(self) -> bool:
        return self._thread.is_alive() and not self._exit
