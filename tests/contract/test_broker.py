"""The ``Broker`` contract: one suite, run on the embedded broker and on RabbitMQ.

Each test gets fresh queues (uuid names), real servers only. RabbitMQ tests are skipped when
the server is not on 127.0.0.1:5672 (``LGSP_TEST_AMQP_URL`` overrides), but fail under ``CI``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, SimpleQueue

import pytest

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

pytestmark = pytest.mark.timeout(60)

AMQP_URL = os.environ.get("LGSP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = "lgsp-contract."
LEASE = 2.0
HELPER = Path(__file__).with_name("consume_and_hang.py")


# -- harness -----------------------------------------------------------------------------------


@dataclass
class Backend:
    """One broker under test, plus what the tests need to know about how it was built."""

    kind: str
    broker: Broker
    target: str  # what a second broker or the child process connects to
    make: Callable[[], Broker]  # another broker on the same queues (another worker)
    unreachable: Callable[[], Broker]
    redelivery_after: float  # how long an unsettled message may stay invisible
    queue_type: str = "classic"  # RabbitMQ: the child process must declare queues alike
    queues: list[str] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    brokers: list[Broker] = field(default_factory=list)

    def queue(self) -> str:
        name = f"q-{uuid.uuid4().hex[:12]}"
        self.queues.append(name)
        self.broker.declare(name)
        return name

    def other(self) -> Broker:
        broker = self.make()
        self.brokers.append(broker)
        return broker

    def consume(
        self,
        queues: Sequence[str],
        handler: Handler,
        prefetch: int = 8,
        broker: Broker | None = None,
    ) -> Consumer:
        consumer = (broker or self.broker).consume(queues, handler, prefetch=prefetch)
        self.consumers.append(consumer)
        return consumer


def _embedded(tmp_path: Path) -> Backend:
    from hub.brokers.embedded import EmbeddedBroker
    from hub.store.db import make_engine, upgrade

    db = tmp_path / "b.db"
    upgrade(make_engine(f"sqlite:///{db}"))

    def make(path: Path = db) -> Broker:
        return EmbeddedBroker(
            make_engine(f"sqlite:///{path}"), lease_seconds=LEASE, poll_interval=0.02
        )

    # A directory is not a database file: every statement fails to open it.
    return Backend("embedded", make(), str(db), make, lambda: make(tmp_path), LEASE + 1.0)


def _rabbitmq(queue_type: str) -> Backend:
    from hub.brokers.rabbitmq import RabbitMQBroker

    def make(url: str = AMQP_URL) -> Broker:
        return RabbitMQBroker(url, prefix=PREFIX, queue_type=queue_type)

    broker = make()
    try:
        broker.ping()
    except BrokerError as exc:
        message = f"RabbitMQ not reachable at {AMQP_URL}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    closed_port = "amqp://guest:guest@127.0.0.1:1/%2F"
    return Backend("rabbitmq", broker, AMQP_URL, make, lambda: make(closed_port), 0.5, queue_type)


def _delete_rabbitmq_queues(queues: Sequence[str]) -> None:
    import pika

    from hub.brokers.rabbitmq import DELAY_TIERS_MS

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    for queue in queues:
        names = [queue, dead_letter_queue(queue)] + [f"{queue}.delay.{ms}" for ms in DELAY_TIERS_MS]
        for name in names:
            channel.queue_delete(PREFIX + name)
    connection.close()


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
        pytest.param("rabbitmq-quorum", marks=pytest.mark.rabbitmq),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "embedded":
        backend = _embedded(tmp_path)
    else:
        backend = _rabbitmq("quorum" if request.param.endswith("quorum") else "classic")
    yield backend
    for consumer in backend.consumers:
        consumer.stop(timeout=5)
    if backend.kind == "rabbitmq":
        _delete_rabbitmq_queues(backend.queues)
    for broker in [backend.broker, *backend.brokers]:
        broker.close()


@pytest.fixture
def broker(backend: Backend) -> Broker:
    return backend.broker


@dataclass(frozen=True)
class Seen:
    at: float
    queue: str
    body: bytes
    headers: dict[str, str]
    redelivered: bool


class Inbox:
    """What a handler saw, in order; ``wait_for`` polls against a deadline."""

    def __init__(self) -> None:
        self.items: list[Seen] = []
        self._cond = threading.Condition()

    def add(self, delivery: Delivery) -> int:
        seen = Seen(
            time.monotonic(),
            delivery.queue,
            delivery.body,
            dict(delivery.headers),
            delivery.redelivered,
        )
        with self._cond:
            self.items.append(seen)
            self._cond.notify_all()
            return len(self.items)

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.items) >= count, timeout)


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def acking(inbox: Inbox) -> Handler:
    def handler(delivery: Delivery) -> None:
        inbox.add(delivery)
        delivery.ack()

    return handler


# -- the contract ------------------------------------------------------------------------------


def test_publish_then_consume_preserves_order_and_headers(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish(
        [
            Publication(queue, f"m{i}".encode(), {"seq": str(i), "agency": "Sở Nội vụ"})
            for i in range(50)
        ]
    )
    inbox = Inbox()
    backend.consume([queue], acking(inbox), prefetch=1)

    assert inbox.wait_for(50, timeout=10)
    assert [seen.body for seen in inbox.items] == [f"m{i}".encode() for i in range(50)]
    assert [seen.headers for seen in inbox.items] == [
        {"seq": str(i), "agency": "Sở Nội vụ"} for i in range(50)
    ]
    assert {seen.queue for seen in inbox.items} == {queue}
    assert not any(seen.redelivered for seen in inbox.items)


def test_ack_removes_message_for_good(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"edoc-1")])
    inbox = Inbox()
    consumer = backend.consume([queue], acking(inbox))
    assert inbox.wait_for(1, timeout=5)
    consumer.stop(timeout=5)

    assert broker.depth(queue) == 0
    again = Inbox()
    backend.consume([queue], acking(again))
    assert not again.wait_for(1, timeout=backend.redelivery_after)


def test_retry_redelivers_after_the_delay_with_merged_headers(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"dossier-7", {"attempt": "1", "keep": "yes"})])
    inbox = Inbox()
    retried_at: list[float] = []

    def handler(delivery: Delivery) -> None:
        inbox.add(delivery)
        if delivery.headers.get("attempt") == "1":
            delivery.retry(1.0, {"attempt": "2"})
            retried_at.append(time.monotonic())
        else:
            delivery.ack()

    backend.consume([queue], handler)
    assert inbox.wait_for(2, timeout=6)
    first, second = inbox.items[:2]
    assert second.at - first.at >= 0.9, "redelivered before the delay"
    assert second.at - retried_at[0] >= 0.6
    assert second.body == b"dossier-7"
    assert second.headers == {"attempt": "2", "keep": "yes"}
    assert wait_until(lambda: broker.depth(queue) == 0, timeout=2)
    assert not inbox.wait_for(3, timeout=0.3)


def test_retry_with_zero_delay_redelivers_promptly(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"x", {"attempt": "1"})])
    inbox = Inbox()

    def handler(delivery: Delivery) -> None:
        if inbox.add(delivery) == 1:
            delivery.retry(0, {"attempt": "2"})
        else:
            delivery.ack()

    backend.consume([queue], handler)
    assert inbox.wait_for(2, timeout=2)
    assert inbox.items[1].headers == {"attempt": "2"}


def test_dead_letter_parks_message_with_reason_in_dead_queue(backend: Backend, broker: Broker):
    queue = backend.queue()
    dead = dead_letter_queue(queue)
    broker.publish([Publication(queue, b"<edXML/>", {"sender": "000.00.01.H53"})])
    consumer = backend.consume([queue], lambda d: d.dead_letter("schema_violation: no DocumentId"))

    assert wait_until(lambda: broker.depth(dead) == 1, timeout=5)
    consumer.stop(timeout=5)
    assert broker.depth(queue) == 0
    inbox = Inbox()
    backend.consume([dead], acking(inbox))
    assert inbox.wait_for(1, timeout=5)
    parked = inbox.items[0]
    assert parked.queue == dead
    assert parked.body == b"<edXML/>"
    assert parked.headers == {
        "sender": "000.00.01.H53",
        DEAD_REASON_HEADER: "schema_violation: no DocumentId",
    }


def test_message_is_redelivered_when_handler_raises_and_can_then_be_acked(
    backend: Backend, broker: Broker
):
    queue = backend.queue()
    broker.publish([Publication(queue, b"flaky")])
    inbox = Inbox()

    def handler(delivery: Delivery) -> None:
        if inbox.add(delivery) == 1:
            raise RuntimeError("partner answered 503")
        delivery.ack()

    backend.consume([queue], handler, prefetch=1)
    assert inbox.wait_for(2, timeout=backend.redelivery_after + 5)
    first, second = inbox.items[:2]
    assert second.body == b"flaky"
    assert (first.redelivered, second.redelivered) == (False, True)
    assert wait_until(lambda: broker.depth(queue) == 0, timeout=2)
    assert not inbox.wait_for(3, timeout=0.3)


def _first_line(child: subprocess.Popen, timeout: float) -> str:
    """The child's first line of output, or "" if none comes in time (a thread reads it)."""
    lines: SimpleQueue[str] = SimpleQueue()
    threading.Thread(target=lambda: lines.put(child.stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).strip()
    except Empty:
        return ""


def test_message_left_unacked_by_a_killed_consumer_process_is_redelivered(
    backend: Backend, broker: Broker, tmp_path: Path
):
    queue = backend.queue()
    broker.publish([Publication(queue, b"dossier-42")])
    with open(tmp_path / "child.log", "w") as log:
        child = subprocess.Popen(
            [
                sys.executable,
                str(HELPER),
                backend.kind,
                backend.target,
                queue,
                PREFIX,
                backend.queue_type,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        line = _first_line(child, timeout=15)
        assert line == "got dossier-42", (tmp_path / "child.log").read_text()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        child.stdout.close()

    inbox = Inbox()
    backend.consume([queue], acking(inbox))
    assert inbox.wait_for(1, timeout=backend.redelivery_after + 5)
    assert inbox.items[0].body == b"dossier-42"
    assert inbox.items[0].redelivered
    assert wait_until(lambda: broker.depth(queue) == 0, timeout=2)


def test_publish_of_a_batch_of_1000_is_fully_confirmed(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"%d" % i, {"n": str(i)}) for i in range(1000)])
    assert backend.other().depth(queue) == 1000  # another connection: confirmed means stored
    broker.purge(queue)
    assert broker.depth(queue) == 0


def test_two_competing_consumers_see_each_message_exactly_once(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"%d" % i) for i in range(200)])
    inbox = Inbox()
    by_consumer: Counter[str] = Counter()

    def handler_for(name: str) -> Handler:
        def handler(delivery: Delivery) -> None:
            time.sleep(0.005)
            by_consumer[name] += 1
            inbox.add(delivery)
            delivery.ack()

        return handler

    backend.consume([queue], handler_for("a"), prefetch=4)
    backend.consume([queue], handler_for("b"), prefetch=4, broker=backend.other())
    assert inbox.wait_for(200, timeout=20)
    assert not inbox.wait_for(201, timeout=0.5)
    assert Counter(seen.body for seen in inbox.items) == Counter(b"%d" % i for i in range(200))
    assert by_consumer["a"] > 0 and by_consumer["b"] > 0


def test_stop_waits_for_handlers_in_flight(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"slow")])
    started, finished = threading.Event(), threading.Event()

    def handler(delivery: Delivery) -> None:
        started.set()
        time.sleep(0.5)
        delivery.ack()
        finished.set()

    consumer = backend.consume([queue], handler)
    assert started.wait(5)
    consumer.stop(timeout=5)
    assert finished.is_set()
    assert not consumer.is_alive()
    assert broker.depth(queue) == 0


def test_settling_a_delivery_twice_raises(backend: Backend, broker: Broker):
    queue = backend.queue()
    broker.publish([Publication(queue, b"once")])
    errors: list[BaseException] = []
    done = threading.Event()

    def handler(delivery: Delivery) -> None:
        delivery.ack()
        try:
            delivery.dead_letter("second settlement")
        except RuntimeError as exc:
            errors.append(exc)
        done.set()

    backend.consume([queue], handler)
    assert done.wait(5)
    assert len(errors) == 1
    assert broker.depth(queue) == 0
    assert broker.depth(dead_letter_queue(queue)) == 0


def test_ping_answers_on_a_live_broker(broker: Broker):
    broker.ping()


def test_unreachable_broker_raises_broker_error_quickly(backend: Backend):
    unreachable = backend.unreachable()
    started = time.monotonic()
    with pytest.raises(BrokerError):
        unreachable.ping()
    with pytest.raises(BrokerError):
        unreachable.publish([Publication("anything", b"x")])
    assert time.monotonic() - started < 5


# -- RabbitMQ only -----------------------------------------------------------------------------


def test_rabbitmq_delay_tiers_are_bounded_and_never_shorter_than_asked():
    from hub.brokers.rabbitmq import DELAY_TIERS_MS, delay_tier_ms

    assert len(DELAY_TIERS_MS) < 70
    assert delay_tier_ms(0) == 0
    for seconds in (0.001, 0.1, 0.5, 1.0, 7.3, 60, 3600, 86_400):
        tier = delay_tier_ms(seconds)
        assert seconds * 1000 <= tier <= max(100, seconds * 1000 * 1.26)
    assert delay_tier_ms(10 * 86_400) == 86_400_000


class _Proxy:
    """A TCP forwarder to RabbitMQ that the test can cut, like a network failure."""

    def __init__(self, port: int) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._upstream = port
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._upstream))
            self._sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self._sockets.clear()

    def close(self) -> None:
        self.cut()
        self._listener.close()


@pytest.mark.rabbitmq
@pytest.mark.parametrize("backend", ["rabbitmq"], indirect=True)
def test_rabbitmq_publisher_reconnects_after_lost_connection_and_consumer_dies(
    backend: Backend,
):
    from hub.brokers.rabbitmq import RabbitMQBroker

    proxy = _Proxy(5672)
    hold = threading.Event()
    try:
        broker = RabbitMQBroker(f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F", prefix=PREFIX)
        backend.brokers.append(broker)
        queue = backend.queue()
        broker.publish([Publication(queue, b"1")])
        inbox = Inbox()
        consumer = backend.consume([queue], lambda d: (inbox.add(d), hold.wait(10)), broker=broker)
        assert inbox.wait_for(1, timeout=5)
        proxy.cut()
        broker.publish([Publication(queue, b"2")])  # reconnects once, silently
        assert wait_until(lambda: not consumer.is_alive(), timeout=5)
        assert backend.broker.depth(queue) == 2
    finally:
        hold.set()
        proxy.close()
