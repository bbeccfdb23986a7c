"""Outages of the store and the broker under load, through really cut connections: every answer
during an outage is 202/200 or an honest 503 with ``Retry-After`` (never a 500, never a reset
connection), every part of the hub recovers by itself, nothing accepted is lost, nothing refused
is half-written, and the log holds a few lines per outage instead of a traceback per request.

PostgreSQL + RabbitMQ: the hub reaches both through a ``FaultProxy`` and each is cut for some
seconds (the machine's servers keep running for the other tests). SQLite + embedded broker:
"the store is down" is another connection holding the write lock (``BEGIN EXCLUSIVE``) past the
hub's busy timeout. Select them with ``-k outage``.
"""

from __future__ import annotations

import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import exists, func, select

from hub.client import HubClient
from hub.context import Hub
from hub.events import trace, verify_chain
from hub.store.tables import deliveries, idempotency_keys, message_events, messages, outbox
from tests.conftest import delete_queues, make_settings, open_hub
from tests.support.faultproxy import FaultProxy
from tests.support.partners import dossier, standard
from tests.support.running import RunningHub, start_hub, wait_until

pytestmark = pytest.mark.timeout(90)

UNAVAILABLE = {"store_unavailable", "broker_unavailable"}
FIRST_EVENTS = {"received", "validated", "routed", "queued"}


class Load:
    """Client threads submitting dossiers until stopped, recording every answer. They behave
    as a client should: a submission answered 503 is sent again (after a short pause, not the
    whole Retry-After: the test wants load) with the same Idempotency-Key, so a commit whose
    answer was lost in the cut comes back as the duplicate it is, not as a second message.
    What is still refused when the load stops is sent again by ``settle``."""

    def __init__(self, url: str, key: str, clients: int = 4) -> None:
        self.url, self.key = url, key
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.answers: list[tuple[float, int]] = []  # (monotonic time, status)
        self.accepted: dict[int, str] = {}  # dossier number → message id
        self.owed: set[int] = set()  # answered 503: to be sent again
        self.wrong: list[str] = []  # any other answer, or no answer at all
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def statuses(self, since: float = 0.0, until: float = float("inf")) -> list[int]:
        with self._lock:
            return [status for at, status in self.answers if since <= at <= until]

    def _run(self) -> None:
        session = requests.Session()
        n = next(self._numbers)
        while not self._stop.is_set():
            if self.send(session, n) == 503:
                time.sleep(0.2)
            else:
                n = next(self._numbers)

    def send(self, session: requests.Session, n: int) -> int | None:
        try:
            resp = session.post(
                self.url + "/v1/messages",
                params={"service": "dossier.status"},
                data=json.dumps(dossier(n)),
                timeout=30,
                headers={
                    "Authorization": f"Bearer {self.key}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"outage-{n}",
                },
            )
        except requests.RequestException as exc:
            with self._lock:
                self.wrong.append(f"#{n}: no answer ({type(exc).__name__})")
            return None
        with self._lock:
            self.answers.append((time.monotonic(), resp.status_code))
            if resp.status_code in (200, 202):
                self.accepted[n] = resp.json()["id"]
                self.owed.discard(n)
            elif _honest_503(resp):
                self.owed.add(n)
            else:
                self.wrong.append(f"#{n}: {resp.status_code} {resp.text[:200]}")
        return resp.status_code

    def settle(self, timeout: float = 30.0) -> None:
        """Send every submission answered 503 again until it is accepted."""
        session = requests.Session()
        deadline = time.monotonic() + timeout
        while self.owed:
            assert time.monotonic() < deadline, f"still refused after the outage: {self.owed}"
            for n in sorted(self.owed):
                if self.send(session, n) == 503:
                    time.sleep(0.2)


def _honest_503(resp: requests.Response) -> bool:
    """503 with Retry-After and the structured error naming what is down."""
    if resp.status_code != 503 or not resp.headers.get("Retry-After", "").isdigit():
        return False
    body = resp.json()
    return body.get("code") in UNAVAILABLE and set(body) == {"code", "message", "details"}


class Strangers:
    """A client without a key and one with a made-up key, calling until stopped: during an
    outage they must get 401 (or 503 when the key cannot be looked up), never a 500."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Strangers:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        session = requests.Session()
        keys = itertools.cycle([None, "lgsp_madeup00_" + "x" * 43])
        while not self._stop.is_set():
            key = next(keys)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            try:
                resp = session.post(
                    self.url + "/v1/messages",
                    params={"service": "dossier.status"},
                    data=b"{}",
                    headers=headers,
                    timeout=30,
                )
            except requests.RequestException:
                self.statuses.append(-1)
                continue
            self.statuses.append(resp.status_code)
            time.sleep(0.02)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_log() -> Iterator[list[logging.LogRecord]]:
    """Every WARNING and above, the hub's and uvicorn's (which does not propagate to root)."""
    handler = _Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def assert_log_is_quiet(records: list[logging.LogRecord], kind: str) -> None:
    """No traceback at all, a handful of lines about the outage, not a line per request."""
    text = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in records)
    assert not [r for r in records if r.exc_info or r.exc_text], f"traceback logged:\n{text}"
    about = [r for r in records if r.name == "hub.outage" and r.getMessage().startswith(kind)]
    assert 1 <= len(about) <= 6, f"{len(about)} lines about the {kind} outage:\n{text}"
    assert len(records) <= 60, f"{len(records)} warnings in all:\n{text}"


def assert_store_is_whole(hub: Hub, accepted: dict[int, str], *, with_outbox: bool) -> None:
    """Exactly the accepted messages are stored, each complete: its idempotency key, its
    delivery, its outbox row (RabbitMQ), its first four trace events with the chain intact,
    and delivered. A submission whose transaction failed left nothing."""
    ids = set(accepted.values())
    assert len(ids) == len(accepted), "one message accepted under two numbers"
    with hub.reader.connect() as conn:
        assert set(conn.execute(select(messages.c.id)).scalars()) == ids
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one() == len(
            ids
        )
        per_message = dict(
            conn.execute(
                select(deliveries.c.message_id, func.count()).group_by(deliveries.c.message_id)
            ).all()
        )
        assert per_message == dict.fromkeys(ids, 1)
        first = conn.execute(
            select(message_events.c.message_id, message_events.c.event).where(
                message_events.c.event.in_(FIRST_EVENTS)
            )
        ).all()
        steps: dict[str, set[str]] = {}
        for message_id, event in first:
            steps.setdefault(message_id, set()).add(event)
        assert {m for m in ids if steps.get(m) != FIRST_EVENTS} == set()
        if with_outbox:
            unqueued = (
                select(func.count())
                .select_from(deliveries)
                .where(~exists().where(outbox.c.delivery_id == deliveries.c.id))
            )
            assert conn.execute(unqueued).scalar_one() == 0
        statuses = dict(
            conn.execute(select(messages.c.status, func.count()).group_by(messages.c.status)).all()
        )
        assert statuses == {"delivered": len(ids)}
        for message_id in sorted(ids)[:: max(1, len(ids) // 20)]:
            assert verify_chain(trace(conn, message_id)) == []


def wait_delivered(hub: Hub, sink, accepted: dict[int, str]) -> None:
    ids = set(accepted.values())

    def done() -> bool:
        with hub.reader.connect() as conn:
            delivered = conn.execute(
                select(func.count()).select_from(messages).where(messages.c.status == "delivered")
            ).scalar_one()
        return delivered == len(ids) and ids <= set(sink.unique_keys())

    wait_until(done, timeout=45, interval=0.2, what="every accepted message delivered")


def key_of(client: HubClient) -> str:
    return client.session.headers["Authorization"].removeprefix("Bearer ")


def readiness(url: str) -> tuple[int, dict]:
    resp = requests.get(url + "/readyz", timeout=30)
    return resp.status_code, resp.json()


# ── PostgreSQL + RabbitMQ, each behind a proxy that can cut it ───────────────────────────


@dataclass
class Cuttable:
    running: RunningHub
    store: FaultProxy
    broker: FaultProxy


@pytest.fixture
def cuttable(request, tmp_path, pg_url, amqp_url) -> Iterator[Cuttable]:
    with FaultProxy.to(pg_url) as store, FaultProxy.to(amqp_url) as broker:
        hub = open_hub(
            make_settings(
                "postgres",
                tmp_path,
                request,
                database_url=store.url_for(pg_url),
                broker_url=broker.url_for(amqp_url),
                db_connect_timeout_seconds=2,
            )
        )
        running = start_hub(hub)
        try:
            yield Cuttable(running, store, broker)
        finally:
            store.restore()
            broker.restore()
            running.stop()
            delete_queues(hub)
            hub.close()


def test_postgres_store_outage_under_load_is_503_then_recovers_losing_nothing(cuttable, sink):
    running = cuttable.running
    sender = standard(running.admin(), sink.url)
    with captured_log() as log:
        load = Load(running.url, key_of(sender)).start()
        strangers = Strangers(running.url).start()
        time.sleep(2)
        cut_at = time.monotonic()
        cuttable.store.cut()
        time.sleep(3)
        status, ready = readiness(running.url)
        assert status == 503 and ready["checks"]["store"].startswith("unreachable")
        assert "store" in ready["details"]["outages"]
        time.sleep(3)
        cuttable.store.restore()
        restored_at = time.monotonic()
        time.sleep(3)
        strangers.stop()
        load.stop()
        # A restart with no traffic: the pool keeps dead connections (no pre-ping), so the
        # first request to meet one is answered 503, never 500, and the next ones work.
        cuttable.store.cut()
        cuttable.store.restore()
        session = requests.Session()
        assert [load.send(session, 9000 + i) for i in range(3)][-1] == 202
        load.settle()
        wait_delivered(running.hub, sink, load.accepted)
    assert load.wrong == []
    during = load.statuses(cut_at + 0.5, restored_at)
    assert 503 in during and set(during) <= {202, 200, 503}
    assert 202 in load.statuses(restored_at + 2), "submissions did not resume after the outage"
    assert set(strangers.statuses) <= {401, 503} and 401 in strangers.statuses
    assert readiness(running.url)[0] == 200
    assert_store_is_whole(running.hub, load.accepted, with_outbox=True)
    assert_log_is_quiet(log, "store")


def test_postgres_rabbitmq_broker_outage_under_load_still_accepts_then_delivers(cuttable, sink):
    running = cuttable.running
    sender = standard(running.admin(), sink.url)
    with captured_log() as log:
        load = Load(running.url, key_of(sender)).start()
        time.sleep(2)
        cuttable.broker.cut()
        cut_at = time.monotonic()
        time.sleep(2)
        delivered_during = len(sink.unique)
        status, ready = readiness(running.url)
        assert status == 503 and ready["checks"]["broker"].startswith("unreachable")
        time.sleep(3)
        assert len(sink.unique) == delivered_during, "delivered while the broker was cut?"
        cuttable.broker.restore()
        time.sleep(2)
        load.stop()
        wait_delivered(running.hub, sink, load.accepted)
    assert load.wrong == [] and load.owed == set()
    assert set(load.statuses()) <= {202}, "the outbox should absorb a broker outage"
    assert len(load.statuses(cut_at)) > 20, "too few submissions during the outage to tell"
    assert_store_is_whole(running.hub, load.accepted, with_outbox=True)
    assert_log_is_quiet(log, "broker")


# ── SQLite + embedded broker: the write lock held by someone else ────────────────────────


@pytest.fixture
def locked_out(request, tmp_path) -> Iterator[RunningHub]:
    """A SQLite hub whose writers give up after 1 s of waiting for the lock."""
    hub = open_hub(make_settings("sqlite", tmp_path, request, db_busy_timeout_seconds=1.0))
    running = start_hub(hub)
    yield running
    running.stop()
    hub.close()


@contextmanager
def write_lock_held(path: str) -> Iterator[None]:
    holder = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
        holder.execute("COMMIT")
    finally:
        holder.close()


def test_sqlite_store_outage_lock_held_is_503_then_recovers_losing_nothing(locked_out, sink):
    running = locked_out
    sender = standard(running.admin(), sink.url)
    with captured_log() as log:
        load = Load(running.url, key_of(sender)).start()
        strangers = Strangers(running.url).start()
        time.sleep(2)
        with write_lock_held(running.hub.engine.url.database):
            locked_at = time.monotonic()
            time.sleep(5)
        released_at = time.monotonic()
        time.sleep(3)
        strangers.stop()
        load.stop()
        load.settle()
        wait_delivered(running.hub, sink, load.accepted)
    assert load.wrong == []
    during = load.statuses(locked_at + 1.5, released_at)
    assert during and set(during) == {503}, "a write succeeded while the lock was held?"
    assert 202 in load.statuses(released_at + 1), "submissions did not resume after the lock"
    assert set(strangers.statuses) <= {401, 503} and 401 in strangers.statuses
    assert_store_is_whole(running.hub, load.accepted, with_outbox=False)
    assert_log_is_quiet(log, "store")
