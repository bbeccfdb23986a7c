"""Accept only: how fast the hub says 202, against a bare HTTP server, with the same client.

The hub runs as ``lgsp api`` (the API and the outbox relay, no worker), so no delivery competes
for its CPU: a 202 means the message, its delivery, outbox row and first events are committed,
and the relay then publishes it (to the embedded broker's table, or to RabbitMQ, where it waits
undelivered until the queue is deleted at clean-up). The baseline is ``bare_sink.py``: the same
uvicorn in a subprocess of its own, reading the body and answering 202 at once. Both get the
same N 1 KB bodies from the same ``--accept-clients`` keep-alive clients, back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import requests
from harness import Hub, blast, free_port, round_trips, spawn, wait_ready

BARE_SINK = Path(__file__).resolve().parent / "bare_sink.py"


def start_bare_sink(stack: contextlib.ExitStack) -> str:
    """``bare_sink.py`` in a subprocess (own process group) on a free port; returns its URL.
    Stopped, and its temp dir removed, by ``stack``."""
    tmp = Path(tempfile.mkdtemp(prefix="lgsp-bench-bare-"))
    stack.callback(shutil.rmtree, tmp, ignore_errors=True)
    port, log = free_port(), tmp / "bare.log"
    proc = spawn([sys.executable, str(BARE_SINK), "--port", str(port)], os.environ, tmp, log, stack)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/", proc, log)
    return url


def post_all(
    url: str,
    bodies: list[bytes],
    clients: int,
    timeout: float,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
) -> dict[str, float]:
    """POST every body to ``url`` from ``clients`` keep-alive clients; each must get a 202."""

    def send(s: requests.Session, i: int) -> str:
        r = s.post(url, params=params, data=bodies[i], headers=headers, timeout=30)
        if r.status_code != 202:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
        return ""

    return round_trips(blast(len(bodies), clients, send, timeout))


def accept_repeat(
    hub: Hub, bare_url: str, service: str, bodies: list[bytes], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """One repeat: the bodies to the hub's ``POST /v1/messages``, then to the bare sink."""
    t, clients = args.phase_timeout, args.accept_clients
    return {
        "hub": post_all(
            f"{hub.url}/v1/messages", bodies, clients, t, hub.headers(), {"service": service}
        ),
        "bare": post_all(
            f"{bare_url}/v1/messages",
            bodies,
            clients,
            t,
            {"Content-Type": "application/json"},
            {"service": service},
        ),
    }
