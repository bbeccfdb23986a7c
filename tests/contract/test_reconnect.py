"""Brokers outlive an outage of what they stand on: the RabbitMQ server cut off by a proxy, the
embedded broker's store locked by another writer. While it lasts a publisher fails fast with
``BrokerError``; after it, the same broker object publishes again, no rebuild. A RabbitMQ
consumer whose connection is cut ends (``is_alive`` turns false, so its supervisor starts a new
one) and what it held comes back; an embedded consumer never ends and resumes by itself.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.brokers.base import Broker, Delivery, Publication
from hub.errors import BrokerError
from tests.contract.test_broker import (
    AMQP_URL,
    PREFIX,
    Inbox,
    _delete_rabbitmq_queues,
    acking,
    wait_until,
)
from tests.support.faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def proxied_rabbitmq() -> Iterator[tuple[FaultProxy, list[str], list[Broker]]]:
    """A proxy to RabbitMQ, the queues a test declares and the brokers it builds (cleaned up)."""
    from hub.brokers.rabbitmq import RabbitMQBroker

    try:
        RabbitMQBroker(AMQP_URL).ping()
    except BrokerError as exc:
        pytest.skip(f"RabbitMQ not reachable at {AMQP_URL}: {exc}")
    queues: list[str] = []
    brokers: list[Broker] = []
    with FaultProxy.to(AMQP_URL) as proxy:
        yield proxy, queues, brokers
    for broker in brokers:
        broker.close()
    _delete_rabbitmq_queues(queues)


def _rabbitmq(url: str, brokers: list[Broker]) -> Broker:
    from hub.brokers.rabbitmq import RabbitMQBroker

    broker = RabbitMQBroker(url, prefix=PREFIX)
    brokers.append(broker)
    return broker


@pytest.mark.rabbitmq
def test_rabbitmq_publisher_fails_fast_while_cut_and_reconnects_after(proxied_rabbitmq):
    proxy, queues, brokers = proxied_rabbitmq
    broker = _rabbitmq(proxy.url_for(AMQP_URL), brokers)
    queue = f"q-{uuid.uuid4().hex[:12]}"
    queues.append(queue)
    broker.declare(queue)
    broker.publish([Publication(queue, b"before")])

    proxy.cut()
    started = time.monotonic()
    with pytest.raises(BrokerError):
        broker.publish([Publication(queue, b"during")])
    assert time.monotonic() - started < 3, "a cut broker should fail a publish in seconds"
    proxy.restore()
    broker.publish([Publication(queue, b"after")])

    inbox = Inbox()
    consumer = _rabbitmq(AMQP_URL, brokers).consume([queue], acking(inbox))
    try:
        assert inbox.wait_for(2, timeout=10)
        time.sleep(0.3)
        assert [seen.body for seen in inbox.items] == [b"before", b"after"]
    finally:
        consumer.stop(timeout=5)


@pytest.mark.rabbitmq
def test_rabbitmq_consumer_cut_ends_and_what_it_held_comes_back(proxied_rabbitmq):
    proxy, queues, brokers = proxied_rabbitmq
    broker = _rabbitmq(proxy.url_for(AMQP_URL), brokers)
    queue = f"q-{uuid.uuid4().hex[:12]}"
    queues.append(queue)
    broker.declare(queue)
    broker.publish([Publication(queue, f"m{i}".encode()) for i in range(3)])
    held, release = Inbox(), threading.Event()

    def holding(delivery: Delivery) -> None:
        held.add(delivery)
        release.wait(10)
        delivery.ack()  # fails: the connection is gone; the consumer must take that quietly

    consumer = broker.consume([queue], holding, prefetch=3)
    assert held.wait_for(3, timeout=10)
    proxy.cut()
    assert wait_until(lambda: not consumer.is_alive(), timeout=10)
    release.set()
    consumer.stop(timeout=5)
    proxy.restore()

    again = Inbox()
    successor = broker.consume([queue], acking(again))
    try:
        assert again.wait_for(3, timeout=10)
        assert sorted(seen.body for seen in again.items) == [b"m0", b"m1", b"m2"]
        assert all(seen.redelivered for seen in again.items)
    finally:
        successor.stop(timeout=5)


def test_embedded_consumer_outlives_a_locked_store_and_resumes(tmp_path: Path):
    from hub.brokers.embedded import EmbeddedBroker
    from hub.store.db import make_engine, upgrade

    path = tmp_path / "b.db"
    upgrade(make_engine(f"sqlite:///{path}"))
    broker = EmbeddedBroker(
        make_engine(f"sqlite:///{path}", busy_timeout=0.2), lease_seconds=2.0, poll_interval=0.02
    )
    queue = f"q-{uuid.uuid4().hex[:12]}"
    inbox = Inbox()
    consumer = broker.consume([queue], acking(inbox))
    try:
        broker.publish([Publication(queue, b"before")])
        assert wait_until(lambda: broker.depth(queue) == 0, timeout=5)  # received and acked
        holder = sqlite3.connect(path, timeout=5, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(BrokerError):
            broker.publish([Publication(queue, b"during")])
        time.sleep(1.5)  # several claims fail meanwhile
        assert consumer.is_alive()
        holder.execute("COMMIT")
        holder.close()
        broker.publish([Publication(queue, b"after")])
        assert inbox.wait_for(2, timeout=10)
        assert [seen.body for seen in inbox.items] == [b"before", b"after"]
        assert consumer.is_alive()
    finally:
        consumer.stop(timeout=5)
        broker.close()
