"""Process roles. ``serve`` runs everything in one process (the embedded default); for
scale-out, ``api`` processes (API + outbox relay, stateless behind a load balancer) and
``worker`` processes (competing consumers) run apart against PostgreSQL and RabbitMQ."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

import uvicorn

from hub.api.app import create_app
from hub.context import Hub
from hub.outbox import Relay
from hub.worker import Worker

log = logging.getLogger(__name__)


class WorkerProcesses:
    """``lgsp worker`` child processes beside this one, restarted if one dies. Python runs one
    thread at a time per process, so on a machine with several cores the worker does better
    in processes of its own than as threads beside the API."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._procs: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="worker-processes",
                                        daemon=True)

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "hub.cli", "worker"],
                                stdin=subprocess.DEVNULL)

    def start(self) -> WorkerProcesses:
        self._procs = [self._spawn() for _ in range(self.count)]
        self._thread.start()
        return self

    def _supervise(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self._procs):
                if proc.poll() is not None:
                    log.warning("worker process %s exited with %s; starting another",
                                proc.pid, proc.returncode)
                    self._procs[i] = self._spawn()

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


def run(hub: Hub, *, api: bool = True, worker: bool = True, relay: bool = True,
        host: str | None = None, port: int | None = None, worker_processes: int = 0) -> None:
    """Run the chosen roles until SIGINT/SIGTERM, then stop them in order. With
    ``worker_processes`` > 0 the worker runs in that many child processes instead of here."""
    relay_ = Relay(hub).start() if relay else None
    worker_ = Worker(hub).start() if worker and not worker_processes else None
    children = WorkerProcesses(worker_processes).start() if worker and worker_processes else None
    # Our own handlers, so a stop signal ends the wait below; uvicorn takes them over while it
    # serves and re-raises the signal on its way out, which then lands here instead of
    # killing the process before the worker and relay are stopped.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if api:
            config = uvicorn.Config(create_app(hub), host=host or hub.settings.host,
                                    port=port or hub.settings.port, log_level="warning",
                                    access_log=False)
            uvicorn.Server(config).run()
        else:
            stop.wait()
    finally:
        if children:
            children.stop()
        if worker_:
            worker_.stop()
        if relay_:
            relay_.stop()
        hub.close()
