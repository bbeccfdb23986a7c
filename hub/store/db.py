"""Engine creation and schema migration for SQLite (the default) and PostgreSQL.

SQLite is a single-writer database: WAL lets readers run beside the writer, ``busy_timeout``
makes a second writer wait instead of failing, and transactions stay short. Work is claimed with
one ``UPDATE … RETURNING`` (SQLite ≥ 3.35); PostgreSQL adds ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc

__all__ = ["alembic_config", "as_utc", "make_engine", "reader", "upgrade", "utcnow"]

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything the hub stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


READ_OPTION = "lgsp_read_only"
WRITE_LOCK_HELD = "lgsp_write_lock"  # connection info: this connection holds the writer mutex


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions take no write lock; on
    PostgreSQL it runs in autocommit, sparing each read a BEGIN and a ROLLBACK round trip."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_OPTION: True})
    return engine.execution_options(**{READ_OPTION: True})


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    busy_timeout: float = 30.0,
    connect_timeout: float = 5.0,
    pool_timeout: float = 10.0,
) -> Engine:
    """``busy_timeout``: how long a SQLite writer waits for the lock; ``connect_timeout``: how
    long PostgreSQL may take to accept a connection; ``pool_timeout``: how long to wait for a
    free pooled connection. Past each the caller gets an error that ``hub.outage`` reads as
    "store unavailable" (503 at the API), so an outage fails requests in seconds instead of
    holding them and their threads for the driver's defaults (SQLite 5 s, libpq forever)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=4 * pool_size,
            pool_timeout=pool_timeout,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver hook
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below own transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # Writers of this process queue on a mutex before SQLite's lock: SQLite's own busy
        # handler sleeps in growing steps (up to 100 ms) instead of waking when the lock is
        # free, which under concurrent writers costs more than the writes themselves.
        writing = threading.Lock()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # pragma: no cover - driver hook
            # A writer takes the lock up front (IMMEDIATE), so two writers queue on busy_timeout
            # instead of one failing when it upgrades a read snapshot. Readers (see ``reader``)
            # begin deferred and never block a writer under WAL.
            if conn.get_execution_options().get(READ_OPTION):
                conn.exec_driver_sql("BEGIN")
                return
            if not conn.info.get(WRITE_LOCK_HELD):
                if not writing.acquire(timeout=busy_timeout):
                    # Wrapped as SQLAlchemy wraps the driver's own errors, so every caller that
                    # handles a store error (and ``hub.outage``) handles this one too.
                    raise exc.OperationalError(
                        "BEGIN IMMEDIATE",
                        None,
                        sqlite3.OperationalError("database is locked (in this process)"),
                    )
                conn.info[WRITE_LOCK_HELD] = True
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        @event.listens_for(engine, "checkin")
        def _release(_dbapi_conn, record) -> None:  # pragma: no cover - driver hook
            if record.info.pop(WRITE_LOCK_HELD, False):
                writing.release()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    # No pre-ping: it costs a round trip per checkout. After a server restart SQLAlchemy
    # invalidates the whole pool on the first disconnect error; that one request fails — a 503
    # the caller retries (``hub.outage`` reads the invalidated connection as an outage), or a
    # job the broker redelivers — and the next ones reconnect. libpq takes whole seconds, at
    # least 2, for its connect timeout.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=pool_timeout,
        connect_args={"connect_timeout": max(2, math.ceil(connect_timeout))},
    )


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


MIGRATION_LOCK = 0x4C475350  # "LGSP": PostgreSQL advisory lock id held while migrating


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent). On PostgreSQL an advisory lock makes
    processes that start together (api and worker replicas) migrate one after the other."""
    cfg = alembic_config(engine)
    if engine.dialect.name != "postgresql":
        command.upgrade(cfg, revision)
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
        conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
            conn.commit()
