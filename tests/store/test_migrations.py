"""Migrations on both stores: upgrading a store that already holds traffic carries the trace
tails over, and processes that start together on PostgreSQL migrate one at a time."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest
from sqlalchemy import insert, select, text

from hub.events import Event, chain, trace, verify_chain
from hub.store.db import make_engine, upgrade, utcnow
from hub.store.tables import message_events
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
def empty_pg_url(request):
    request.getfixturevalue("pg_url")  # skips or fails like the other PostgreSQL tests
    name = f"lgsp_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_url(backend, tmp_path, request):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/m.db"
    return request.getfixturevalue("empty_pg_url")


def test_upgrade_from_the_first_revision_keeps_traces_appendable(empty_url):
    engine = make_engine(empty_url)
    upgrade(engine, "0001")
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO messages (id, correlation_id, sender_agency, sender_system,"
                " recipients, content_type, payload_sha256, size, headers, status, created_at,"
                " updated_at)"
                " VALUES ('m1', 'm1', 'a', 's', '[]', 'application/json', '0', 0, '{}', 'queued',"
                " :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            insert(message_events),
            chain([Event("m1", "received", at=now), Event("m1", "validated", at=now)], {}),
        )
    upgrade(engine)
    with engine.begin() as conn:
        tail = conn.execute(text("SELECT trace_seq, trace_hash FROM messages")).one()
        assert tail.trace_seq == 2
        assert (
            tail.trace_hash
            == conn.execute(
                select(message_events.c.hash).where(message_events.c.seq == 2)
            ).scalar_one()
        )
        from hub.events import record

        record(conn, [Event("m1", "routed")])
    with engine.connect() as conn:
        rows = trace(conn, "m1")
    assert [r["seq"] for r in rows] == [1, 2, 3] and verify_chain(rows) == []
    engine.dispose()


def test_processes_starting_together_on_postgresql_migrate_one_at_a_time(empty_pg_url):
    code = (
        "import sys; from hub.store.db import make_engine, upgrade; "
        "upgrade(make_engine(sys.argv[1]))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_pg_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    results = [(p.wait(60), p.stderr.read().decode()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results
