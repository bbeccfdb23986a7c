"""Fixtures shared by the suites. Every end-to-end test runs twice: on the embedded defaults
(SQLite file + embedded broker) and on this machine's real PostgreSQL + RabbitMQ. A server that
is missing skips its tests locally but fails them in CI (``CI`` set), where ``.ci/run`` starts it.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pika
import psycopg
import pytest
from sqlalchemy import select, text

from hub.brokers.base import dead_letter_queue
from hub.config import Settings
from hub.context import Hub, delivery_queue
from hub.store.db import upgrade
from hub.store.tables import connector_instances, metadata
from sandbox.rest_sink import RestSink
from tests.edxml.samples import SAMPLES
from tests.support import leaks
from tests.support.running import RunningHub, start_hub

PG_ADMIN_URL = os.environ.get("LGSP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
AMQP_URL = os.environ.get("LGSP_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")
BACKENDS = ["sqlite", "postgres"]


def _unavailable(what: str, exc: Exception):
    message = f"{what} is not reachable: {exc}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    name = f"lgsp_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        _unavailable("PostgreSQL", exc)
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def amqp_url() -> str:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL + "?connection_attempts=1")).close()
    except Exception as exc:
        _unavailable("RabbitMQ", exc)
    return AMQP_URL


def _truncate(hub: Hub) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with hub.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def make_settings(backend: str, tmp_path, request, **overrides) -> Settings:
    base = dict(
        data_dir=tmp_path,
        retry_base_seconds=0.2,
        retry_max_seconds=1.0,
        retry_max_attempts=4,
        lease_seconds=3.0,
        blob_threshold_bytes=64 * 1024,
    )
    if backend == "postgres":
        base.update(
            database_url=request.getfixturevalue("pg_url"),
            broker_url=request.getfixturevalue("amqp_url"),
            queue_prefix=f"t{uuid.uuid4().hex[:8]}.",
        )
    base.update(overrides)
    return Settings(**base)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def settings(backend, tmp_path, request) -> Settings:
    return make_settings(backend, tmp_path, request)


def delete_queues(hub: Hub) -> None:
    """Drop the RabbitMQ queues this test's hub made (its connectors' queues and dead-letter
    queues; delay queues expire by themselves), so runs leave the broker as they found it."""
    if hub.settings.broker_url == "embedded":
        return
    with hub.reader.connect() as conn:
        names = conn.execute(select(connector_instances.c.name)).scalars().all()
    connection = pika.BlockingConnection(pika.URLParameters(hub.settings.broker_url))
    try:
        channel = connection.channel()
        for name in names:
            queue = hub.settings.queue_prefix + delivery_queue(name)
            for each in (queue, dead_letter_queue(queue)):
                channel.queue_delete(each)
    finally:
        connection.close()


def open_hub(settings: Settings) -> Hub:
    """A hub on a migrated, empty store (PostgreSQL's test database is shared by the session,
    so it is emptied first)."""
    hub = Hub(settings)
    upgrade(hub.engine)
    if hub.engine.dialect.name == "postgresql":
        _truncate(hub)
    return hub


@pytest.fixture(scope="session", autouse=True)
def no_leaks() -> Iterator[None]:
    """After the last test of this process: no page, API listing or log line of any hub the
    tests ran showed a personal number or a secret unmasked (``tests.support.leaks``). A leak
    is reported as an error at the teardown of the last test."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # what a hub logs by default (LGSP_LOG_LEVEL)
    root.addHandler(leaks.watch)
    yield
    root.removeHandler(leaks.watch)
    root.setLevel(level)
    sources = [*Path(__file__).parent.rglob("*.py"), *SAMPLES.rglob("*")]
    found = leaks.find_leaks(
        leaks.canaries_in(p for p in sources if p.is_file()),
        leaks.watch.secrets,
        leaks.watch.texts(),
    )
    assert not found, "\n".join(sorted(set(found))[:50])


@pytest.fixture
def hub(settings) -> Iterator[Hub]:
    hub = open_hub(settings)
    yield hub
    delete_queues(hub)
    hub.close()


@pytest.fixture
def running(hub) -> Iterator[RunningHub]:
    running = start_hub(hub)
    yield running
    running.stop()


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink() as server:
        yield server
