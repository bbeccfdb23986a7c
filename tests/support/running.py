"""A real hub for tests: the API on an ephemeral loopback port (uvicorn in a thread), the
outbox relay and, optionally, a worker — over the real store and broker of the backend."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import uvicorn

from hub import bootstrap
from hub.api.app import create_app
from hub.client import HubClient
from hub.context import Hub
from hub.outbox import Relay
from hub.server import uvicorn_config
from hub.worker import Worker
from tests.support import leaks


@dataclass
class RunningHub:
    hub: Hub
    url: str
    admin_key: str
    server: uvicorn.Server
    thread: threading.Thread
    relay: Relay
    worker: Worker | None

    def admin(self) -> HubClient:
        return HubClient(self.url, self.admin_key)

    def client(self, key: str) -> HubClient:
        return HubClient(self.url, key)

    def start_worker(self) -> None:
        if self.worker is None:
            self.worker = Worker(self.hub, refresh=0.5).start()

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        self.relay.stop()
        self.server.should_exit = True
        self.thread.join(10)


def start_hub(hub: Hub, *, worker: bool = True) -> RunningHub:
    admin_key = bootstrap.ensure_admin(hub) or hub.settings.admin_key_file.read_text().strip()
    leaks.watch.secrets.add(admin_key)
    server = uvicorn.Server(uvicorn_config(leaks.asgi(create_app(hub)), "127.0.0.1", 0))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the hub's API did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    relay = Relay(hub, interval=0.05).start()
    running = RunningHub(hub, f"http://127.0.0.1:{port}", admin_key, server, thread, relay, None)
    if worker:
        running.start_worker()
    return running


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05, what=""):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``, saying
    ``what`` was awaited (a string, or a function asked at that moment for what is missing)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {said or predicate}")
        time.sleep(interval)
