"""The worker: consumes every connector's delivery queue and runs ``pipeline.process``.
Stateless, so a province scales out by starting more workers. Connector instances registered
while it runs are picked up, and consumers that lost their broker connection are restarted,
within ``refresh`` seconds. A connector whose circuit is open (``hub.circuit``), or that an
admin disabled, has its consumer paused — its messages wait in the queue — and resumed when a
probe is due or it is enabled again. When the routes change, parked messages that a route now
takes are released (``hub.parking``).
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from hub import parking, pipeline, tracecontext
from hub.brokers.base import Consumer, Delivery
from hub.context import Hub, delivery_queue
from hub.outage import BROKER, STORE, as_unavailable, kind_of, outages
from hub.store.tables import connector_instances

__all__ = ["Worker"]

log = logging.getLogger(__name__)
WHERE = "worker"
CIRCUIT_CHECK_SECONDS = 1.0  # how soon a paused queue notices that its probe is due
PARKED_RECHECK_SECONDS = 60.0  # parked messages are looked at this often without a change


class Worker:
    def __init__(self, hub: Hub, refresh: float = 5.0) -> None:
        self.hub = hub
        self.refresh = refresh
        self._consumers: dict[str, Consumer] = {}
        self._routes_seen: str | None = None  # ``parking.fingerprint`` at the last release
        self._released_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker", daemon=True)

    def start(self) -> Worker:
        """Starts even while the store or the broker is down: the queues are taken up as soon
        as they answer (a worker that exited instead would need someone to restart it)."""
        self._refresh()
        self._thread.start()
        return self

    def _sync_queues(self) -> None:
        with self.hub.reader.connect() as conn:
            instances = conn.execute(
                select(connector_instances.c.name, connector_instances.c.enabled)
            ).all()
        known = {delivery_queue(name) for name, _ in instances}
        for queue in [q for q in self._consumers if q not in known]:  # deleted instances
            self._consumers.pop(queue).stop(timeout=1.0)
        for name, enabled in instances:
            queue = delivery_queue(name)
            consumer = self._consumers.get(queue)
            why = "it is disabled" if not enabled else None
            if why is None and self.hub.circuits.paused(name):
                why = "its circuit is open"
            if why is not None:
                if consumer is not None:
                    log.warning("%s: %s; pausing its queue", name, why)
                    consumer.stop(timeout=1.0)
                    del self._consumers[queue]
                continue
            if consumer is not None and not consumer.is_alive():
                log.warning("consumer of %s stopped (broker connection lost?); restarting", queue)
                consumer.stop(timeout=1.0)
                del self._consumers[queue]
                consumer = None
            if consumer is None:
                try:
                    self.hub.broker.declare(queue)
                    self._consumers[queue] = self.hub.broker.consume(
                        [queue],
                        self._process,
                        prefetch=self.hub.settings.worker_threads,
                    )
                except Exception as exc:  # the other queues may still start; retried next round
                    _failed(exc, f"worker could not start consuming {queue}")
                    continue
                outages.recovered(BROKER, WHERE)
                log.info("worker consuming %s", queue)

    def _process(self, job: Delivery) -> None:
        """One job, its message id bound for every log line about it (the attempt binds the
        rest: ``hub.attempt``)."""
        with tracecontext.bound(message_id=job.headers.get("message-id")):
            pipeline.process(self.hub, job)

    def _refresh(self) -> None:
        try:
            self._sync_queues()
            self._release_parked()
        except Exception as exc:
            _failed(exc, "worker could not refresh its queues")
            return
        outages.recovered(STORE, WHERE)

    def _release_parked(self) -> None:
        """Parked messages go on once the routes change (``hub.parking``), and are looked at
        again now and then: one parked by an API process whose cached routes were a moment
        old must not wait for the next change."""
        seen = parking.fingerprint(self.hub.registry.routes())
        now = time.monotonic()
        if seen != self._routes_seen or now - self._released_at > PARKED_RECHECK_SECONDS:
            parking.release(self.hub)
            self._routes_seen, self._released_at = seen, now

    def _run(self) -> None:
        while not self._stop.wait(min(self.refresh, CIRCUIT_CHECK_SECONDS)):
            self._refresh()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        for consumer in self._consumers.values():
            consumer.stop(timeout)


def _failed(exc: Exception, what: str) -> None:
    """An outage is one rate-limited line (the worker retries every round while it lasts);
    anything else is a bug and keeps its traceback."""
    unavailable = as_unavailable(exc)
    if unavailable is None:
        log.exception(what)
    else:
        outages.failed(kind_of(unavailable), WHERE, exc)
