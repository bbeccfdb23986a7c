"""Process roles. ``serve`` runs everything in one process (the embedded default); for
scale-out, ``api`` processes (API + outbox relay, stateless behind a load balancer) and
``worker`` processes (competing consumers) run apart against PostgreSQL and RabbitMQ."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading

import uvicorn

from hub.api.app import create_app
from hub.api.http import HubHttpProtocol
from hub.context import Hub
from hub.documents.axis import Puller
from hub.outbox import Relay
from hub.worker import Worker

__all__ = ["WorkerProcesses", "listen", "run", "uvicorn_config"]

log = logging.getLogger(__name__)


class WorkerProcesses:
    """``lgsp worker`` child processes beside this one, restarted if one dies. Python runs one
    thread at a time per process, so on a machine with several cores the worker does better
    in processes of its own than as threads beside the API."""

    def __init__(self, count: int, metrics_port: int | None = None) -> None:
        self.count = count
        self.metrics_port = metrics_port  # worker i serves its metrics on metrics_port + i
        self._procs: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, name="worker-processes", daemon=True
        )

    def _spawn(self, i: int) -> subprocess.Popen:
        metrics = ["--metrics-port", str(self.metrics_port + i)] if self.metrics_port else []
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker", *metrics], stdin=subprocess.DEVNULL
        )

    def start(self) -> WorkerProcesses:
        self._procs = [self._spawn(i) for i in range(self.count)]
        self._thread.start()
        return self

    def _supervise(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self._procs):
                if proc.poll() is not None:
                    log.warning(
                        "worker process %s exited with %s; starting another",
                        proc.pid,
                        proc.returncode,
                    )
                    self._procs[i] = self._spawn(i)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()


def uvicorn_config(app, host: str, port: int) -> uvicorn.Config:
    """How the API is served, here and in the tests alike: httptools (llhttp: faster than h11,
    and strict about framing) with the hub's limits and JSON refusals (``hub.api.http``).
    ``log_config=None``: uvicorn's records go to the root handler, so they are masked and
    escaped like every other (``hub.logs``) instead of through a handler of its own."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=HubHttpProtocol,
        log_config=None,
        log_level="warning",
        access_log=False,
    )


def listen(host: str, port: int) -> socket.socket:
    """The API's listening socket, bound now: ``serve`` learns that the port is taken before
    it prints a key or starts anything. Raises ``OSError``."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def run(
    hub: Hub,
    *,
    api: bool = True,
    worker: bool = True,
    relay: bool = True,
    host: str | None = None,
    port: int | None = None,
    worker_processes: int = 0,
    worker_metrics_port: int | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Run the chosen roles until SIGINT/SIGTERM, then stop them in order. With
    ``worker_processes`` > 0 the worker runs in that many child processes instead of here.
    ``sock``: the API's socket, bound by the caller (``listen``); else uvicorn binds one."""
    relay_ = Relay(hub).start() if relay else None
    # documents received at the national axis are pulled beside the relay
    puller = Puller(hub).start() if relay and hub.settings.edoc_pull_seconds > 0 else None
    worker_ = Worker(hub).start() if worker and not worker_processes else None
    children = (
        WorkerProcesses(worker_processes, worker_metrics_port).start()
        if worker and worker_processes
        else None
    )
    # Our own handlers, so a stop signal ends the wait below; uvicorn takes them over while it
    # serves and re-raises the signal on its way out, which then lands here instead of
    # killing the process before the worker and relay are stopped.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if api:
            config = uvicorn_config(
                create_app(hub), host or hub.settings.host, port or hub.settings.port
            )
            uvicorn.Server(config).run(sockets=[sock] if sock else None)
        else:
            stop.wait()
    finally:
        if children:
            children.stop()
        if worker_:
            worker_.stop()
        if puller:
            puller.stop()
        if relay_:
            relay_.stop()
        hub.close()
