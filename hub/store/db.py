"""Engine creation and schema migration for SQLite (the default) and PostgreSQL.

SQLite is a single-writer database: WAL lets readers run beside the writer, ``busy_timeout``
makes a second writer wait instead of failing, and transactions stay short. Work is claimed with
one ``UPDATE … RETURNING`` (SQLite ≥ 3.35); PostgreSQL adds ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything the hub stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


READ_OPTION = "lgsp_read_only"


def reader(engine: Engine) -> Engine:
    """The same engine for read-only work: on SQLite its transactions take no write lock; on
    PostgreSQL it runs in autocommit, sparing each read a BEGIN and a ROLLBACK round trip."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_OPTION: True})
    return engine.execution_options(**{READ_OPTION: True})


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=pool_size, max_overflow=4 * pool_size)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver hook
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below own transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn) -> None:  # pragma: no cover - driver hook
            # A writer takes the lock up front (IMMEDIATE), so two writers queue on busy_timeout
            # instead of one failing when it upgrades a read snapshot. Readers (see ``reader``)
            # begin deferred and never block a writer under WAL.
            read = conn.get_execution_options().get(READ_OPTION)
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    # No pre-ping: it costs a round trip per checkout. After a server restart SQLAlchemy
    # invalidates the whole pool on the first disconnect error; that one request fails (a 5xx
    # the caller retries, or a job the broker redelivers) and the next ones reconnect.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size)


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
