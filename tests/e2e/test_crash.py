"""Crash safety: a worker killed with SIGKILL in the middle of a batch, then restarted, loses
nothing; the idempotent partner sees every message exactly once. And the outbox: messages
accepted while no relay runs are published when one starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from hub.config import Settings
from hub.context import Hub
from hub.events import trace, verify_chain
from hub.store.tables import deliveries, messages
from sandbox.rest_sink import RestSink
from tests.conftest import delete_queues, make_settings, open_hub
from tests.support.partners import dossier, standard
from tests.support.running import start_hub, wait_until

pytestmark = pytest.mark.timeout(240)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings for a child process, as ``LGSP_*`` environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    for name, value in settings.model_dump().items():
        if value is not None and value != "":
            shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
            env[f"LGSP_{name.upper()}"] = shown  # a structured setting is JSON in the environment
    return env


def _delivered(hub: Hub) -> int:
    with hub.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(deliveries).where(deliveries.c.status == "delivered")
        ).scalar_one()


def test_worker_killed_mid_batch_loses_nothing_and_partner_sees_each_once(
    backend, tmp_path, request
):
    settings = make_settings(backend, tmp_path, request, lease_seconds=2.0, worker_threads=4)
    hub = open_hub(settings)
    running = start_hub(hub, worker=False)
    sink = RestSink().start()
    worker = None
    try:
        sender = standard(running.admin(), sink.url)
        sink.set_faults(latency_ms=20)  # slow partner: the kill lands mid-batch
        total = 150
        ids = {
            sender.send("dossier.status", json.dumps(dossier(i)).encode(), "application/json")["id"]
            for i in range(total)
        }
        command = [sys.executable, "-m", "hub.cli", "worker"]
        worker = subprocess.Popen(
            command, env=settings_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until(lambda: len(sink.unique) >= 30, timeout=60, what="first deliveries")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        killed_at = len(sink.unique)
        assert killed_at < total, "the worker finished before it could be killed"
        worker = subprocess.Popen(
            command, env=settings_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until(lambda: _delivered(hub) == total, timeout=120, what="all deliveries")
        assert set(sink.unique_keys()) == ids
        assert len(sink.unique) == total
        with hub.engine.connect() as conn:
            statuses = conn.execute(
                select(messages.c.status, func.count()).group_by(messages.c.status)
            ).all()
            assert dict(statuses) == {"delivered": total}
            for message_id in list(ids)[:20]:
                assert verify_chain(trace(conn, message_id)) == []
    finally:
        if worker and worker.poll() is None:
            worker.terminate()
            worker.wait(10)
        running.stop()
        sink.stop()
        delete_queues(hub)
        hub.close()


def test_messages_accepted_while_no_relay_runs_are_published_when_one_starts(running, sink):
    """No relay and no worker while they are accepted (on the embedded broker the queue rows
    are the queue, so a running worker would take them at once): they wait, committed, and are
    delivered once a relay and a worker run again."""
    running.relay.stop()
    running.stop_worker()
    sender = standard(running.admin(), sink.url)
    ids = {
        sender.send("dossier.status", json.dumps(dossier(i)).encode(), "application/json")["id"]
        for i in range(10)
    }
    with running.hub.engine.connect() as conn:
        queued = conn.execute(
            select(func.count()).select_from(messages).where(messages.c.status == "queued")
        ).scalar_one()
    assert queued == 10 and sink.received == []
    from hub.outbox import Relay

    running.relay = Relay(running.hub, interval=0.05).start()
    running.start_worker()
    wait_until(lambda: _delivered(running.hub) == 10, what="deliveries after relay start")
    assert set(sink.unique_keys()) == ids
