"""Process roles. ``serve`` runs everything in one process (the embedded default); for
scale-out, ``api`` processes (API + outbox relay, stateless behind a load balancer) and
``worker`` processes (competing consumers) run apart against PostgreSQL and RabbitMQ."""

from __future__ import annotations

import logging
import signal
import threading

import uvicorn

from hub.api.app import create_app
from hub.context import Hub
from hub.outbox import Relay
from hub.worker import Worker

log = logging.getLogger(__name__)


def run(hub: Hub, *, api: bool = True, worker: bool = True, relay: bool = True,
        host: str | None = None, port: int | None = None) -> None:
    """Run the chosen roles until SIGINT/SIGTERM, then stop them in order."""
    relay_ = Relay(hub).start() if relay else None
    worker_ = Worker(hub).start() if worker else None
    try:
        if api:
            config = uvicorn.Config(create_app(hub), host=host or hub.settings.host,
                                    port=port or hub.settings.port, log_level="warning",
                                    access_log=False)
            uvicorn.Server(config).run()
        else:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    finally:
        if worker_:
            worker_.stop()
        if relay_:
            relay_.stop()
        hub.close()
