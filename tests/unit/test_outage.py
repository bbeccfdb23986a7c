"""``hub.outage``: which errors are outages (503) and which are bugs (500), and the log that
says so in a few lines however many requests fail."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy import exc as sa

from hub.errors import BrokerError, StoreUnavailable
from hub.outage import BROKER, STORE, Backoff, OutageLog, as_unavailable, is_store_outage, kind_of


def _wrapped(cls, orig: Exception) -> sa.DBAPIError:
    return cls("SELECT 1", None, orig)


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(sa.OperationalError, psycopg.OperationalError("connection refused")),
        _wrapped(sa.OperationalError, psycopg.errors.QueryCanceled("statement timeout")),
        _wrapped(sa.InterfaceError, psycopg.InterfaceError("the connection is closed")),
        _wrapped(sa.OperationalError, sqlite3.OperationalError("database is locked")),
        _wrapped(sa.OperationalError, sqlite3.OperationalError("unable to open database file")),
        sa.TimeoutError("QueuePool limit of size 20 overflow 20 reached"),
        sqlite3.OperationalError("database is locked (in this process)"),  # raised by a hook
        psycopg.OperationalError("server closed the connection unexpectedly"),
    ],
    ids=repr,
)
def test_unreachable_or_overloaded_store_is_an_outage(exc):
    assert is_store_outage(exc)
    answer = as_unavailable(exc)
    assert isinstance(answer, StoreUnavailable) and answer.status == 503


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(sa.OperationalError, sqlite3.OperationalError("no such table: messages")),
        _wrapped(sa.OperationalError, sqlite3.OperationalError('near "SELEC": syntax error')),
        _wrapped(sa.ProgrammingError, psycopg.ProgrammingError("column x does not exist")),
        _wrapped(sa.IntegrityError, psycopg.IntegrityError("duplicate key")),
        sqlite3.OperationalError("no such column: x"),
        ValueError("a bug"),
    ],
    ids=repr,
)
def test_a_bug_is_not_an_outage(exc):
    assert not is_store_outage(exc) and as_unavailable(exc) is None


def test_touching_a_connection_the_outage_invalidated_is_the_outage():
    try:
        try:
            raise _wrapped(sa.OperationalError, psycopg.OperationalError("server closed"))
        except sa.OperationalError:
            raise sa.PendingRollbackError(
                "Can't reconnect until invalid transaction is rolled back"
            ) from None
    except sa.PendingRollbackError as exc:
        assert as_unavailable(exc).details == {"reason": "OperationalError"}


def test_embedded_broker_errors_caused_by_the_store_are_store_outages():
    try:
        try:
            raise _wrapped(sa.OperationalError, sqlite3.OperationalError("database is locked"))
        except sa.OperationalError as cause:
            raise BrokerError("embedded broker could not claim messages") from cause
    except BrokerError as exc:
        assert kind_of(exc) == STORE
    assert kind_of(BrokerError("RabbitMQ unreachable")) == BROKER


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outage_log(caplog) -> tuple[OutageLog, Clock]:
    caplog.set_level(logging.WARNING, logger="test.outage")
    clock = Clock()
    return OutageLog(logging.getLogger("test.outage"), interval=10.0, clock=clock), clock


def test_a_thousand_failures_in_twelve_seconds_are_three_lines(outage_log, caplog):
    log, clock = outage_log
    for i in range(1000):
        clock.now = 100.0 + i * 0.012
        log.failed(STORE, "api" if i % 10 else "worker", f"OperationalError: refused {i}")
    log.recovered(STORE, "worker")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("store unavailable (seen by worker: OperationalError: refused 0)")
    assert lines[1].startswith(
        "store still unavailable after 10.0 s: 834 failures since the "
        "last line (api 751, worker 83); latest from api: "
    )
    assert lines[2].startswith("store is back (worker answered) after 12.0 s and 1000 failures")
    assert not any(r.exc_info for r in caplog.records)


def test_success_of_a_component_that_never_failed_does_not_end_the_outage(outage_log, caplog):
    log, clock = outage_log
    log.failed(STORE, "api", "locked")
    clock.now += 1
    log.recovered(STORE, "outbox relay")  # SQLite: its reads work while writes wait
    clock.now += 1
    log.failed(STORE, "api", "locked")
    assert len(caplog.records) == 1
    assert log.current()[STORE]["failures"] == 2


def test_after_a_quiet_interval_the_next_failure_is_a_new_outage(outage_log, caplog):
    log, clock = outage_log
    log.failed(BROKER, "api", "refused")
    clock.now += 11
    assert log.current() == {}
    log.failed(BROKER, "api", "refused")
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "broker unavailable",
        "broker unavailable",
    ]


def test_backoff_doubles_to_its_cap_and_resets():
    backoff = Backoff(first=1.0, cap=4.0)
    waits = [backoff.next() for _ in range(5)]
    assert all(0.75 <= w / n <= 1.25 for w, n in zip(waits, [1, 2, 4, 4, 4], strict=True))
    backoff.reset()
    assert 0.75 <= backoff.next() <= 1.25
