"""The worker: consumes every connector's delivery queue and runs ``pipeline.process``.
Stateless, so a province scales out by starting more workers. Connector instances registered
while it runs are picked up, and consumers that lost their broker connection are restarted,
within ``refresh`` seconds.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select

from hub import pipeline
from hub.brokers.base import Consumer
from hub.context import Hub, delivery_queue
from hub.store.tables import connector_instances

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, hub: Hub, refresh: float = 5.0) -> None:
        self.hub = hub
        self.refresh = refresh
        self._consumers: dict[str, Consumer] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker", daemon=True)

    def start(self) -> Worker:
        self._sync_queues()
        self._thread.start()
        return self

    def _sync_queues(self) -> None:
        with self.hub.reader.connect() as conn:
            names = conn.execute(select(connector_instances.c.name)).scalars().all()
        for name in names:
            queue = delivery_queue(name)
            consumer = self._consumers.get(queue)
            if consumer is not None and not consumer.is_alive():
                log.warning("consumer of %s stopped (broker connection lost?); restarting", queue)
                consumer.stop(timeout=1.0)
                consumer = None
            if consumer is None:
                self.hub.broker.declare(queue)
                self._consumers[queue] = self.hub.broker.consume(
                    [queue], lambda job: pipeline.process(self.hub, job),
                    prefetch=self.hub.settings.worker_threads)
                log.info("worker consuming %s", queue)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh):
            try:
                self._sync_queues()
            except Exception:
                log.exception("worker could not refresh its queues")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        for consumer in self._consumers.values():
            consumer.stop(timeout)
