"""The outbox relay: moves committed outbox rows to the broker. A message and its outbox rows
commit in one transaction, so a crash between commit and publish loses nothing — the relay finds
the rows on its next round. A crash after publish but before marking republishes them; the
worker drops a job whose delivery is already finished, so that costs a duplicate, not a resend.

On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED`` so several relays share the
work; on SQLite (one process) they are read, published, then marked.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import delete, select, update

from hub.brokers.base import Publication
from hub.context import Hub
from hub.outage import BROKER, STORE, Backoff, as_unavailable, kind_of, outages
from hub.store.db import utcnow
from hub.store.tables import outbox

__all__ = ["Relay", "purge_published", "relay_once"]

log = logging.getLogger(__name__)
WHERE = "outbox relay"
KEEP_PUBLISHED = timedelta(hours=1)


def relay_once(hub: Hub, limit: int | None = None, declared: set[str] | None = None) -> int:
    """Publish up to ``limit`` pending rows with confirms; returns how many were published.
    ``declared``: queues already declared by this relay, so each is declared once."""
    limit = limit or hub.settings.relay_batch
    declared = set() if declared is None else declared
    pending = (
        select(outbox.c.id, outbox.c.queue, outbox.c.body, outbox.c.headers)
        .where(outbox.c.published_at.is_(None))
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if hub.engine.dialect.name == "postgresql":
        with hub.engine.begin() as conn:
            rows = conn.execute(pending.with_for_update(skip_locked=True)).all()
            _publish(hub, rows, declared)
            _mark(conn, rows)
        return len(rows)
    with hub.reader.connect() as conn:
        rows = conn.execute(pending).all()
    if rows:  # an empty round takes no write lock: on SQLite that would queue every writer
        _publish(hub, rows, declared)
        with hub.engine.begin() as conn:
            _mark(conn, rows)
    return len(rows)


def _publish(hub: Hub, rows, declared: set[str]) -> None:
    for queue in {r.queue for r in rows} - declared:
        hub.broker.declare(queue)
        declared.add(queue)
    hub.broker.publish([Publication(r.queue, r.body, r.headers) for r in rows])


def _mark(conn, rows) -> None:
    if rows:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_([r.id for r in rows]))
            .values(published_at=utcnow())
        )


def purge_published(hub: Hub) -> int:
    with hub.engine.begin() as conn:
        return conn.execute(
            delete(outbox).where(outbox.c.published_at < utcnow() - KEEP_PUBLISHED)
        ).rowcount


class Relay:
    """Runs ``relay_once`` in a thread: soon after the API signals, else every interval. After
    a round it lingers ``linger`` seconds so that under load rows gather into larger batches
    (one transaction and one confirm window each) instead of a round per message."""

    def __init__(self, hub: Hub, interval: float = 0.2, linger: float = 0.005) -> None:
        self.hub = hub
        self.interval = interval
        self.linger = linger
        self._declared: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> Relay:
        self._thread.start()
        return self

    def _run(self) -> None:
        """Never ends but by ``stop``: a store or broker outage is logged as one rate-limited
        line and retried with backoff; the rows wait, committed, until it is over."""
        rounds = 0
        backoff = Backoff()
        while not self._stop.is_set():
            self.hub.outbox_signal.clear()
            try:
                published = relay_once(self.hub, declared=self._declared)
                rounds += 1
                if rounds % 3000 == 0:
                    purge_published(self.hub)
            except Exception as exc:
                unavailable = as_unavailable(exc)
                if unavailable is None:
                    log.exception("outbox relay round failed")
                else:
                    outages.failed(kind_of(unavailable), WHERE, exc)
                self._stop.wait(backoff.next())
                continue
            backoff.reset()
            outages.recovered(STORE, WHERE)
            if published:
                outages.recovered(BROKER, WHERE)
            if published < self.hub.settings.relay_batch:
                self.hub.outbox_signal.wait(self.interval)
                self._stop.wait(self.linger)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.hub.outbox_signal.set()
        self._thread.join(timeout)
