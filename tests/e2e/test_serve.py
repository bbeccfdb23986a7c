"""The ``lgsp serve`` process as a user runs it: the README's demo flow works as written, and
with ``--workers`` the worker runs in child processes that are restarted when one dies and
stopped with the hub."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hub.client import HubClient
from tests.admin.console import Console
from tests.support.partners import dossier, standard
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]
LGSP = [sys.executable, "-m", "hub.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(
        LGSP_DATA_DIR=str(tmp_path / "var"),
        LGSP_PORT=str(port),
        LGSP_URL=f"http://127.0.0.1:{port}",
    )
    return env


def serve(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, dict[str, str], str]:
    port = free_port()
    env = clean_env(tmp_path, port)
    proc = subprocess.Popen(
        [*LGSP, "serve", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, proc.stdout.read()
        try:
            return requests.get(url + "/readyz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(ready, timeout=60, interval=0.2, what="lgsp serve")
    return proc, env, url


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def delivered_count(port: int) -> float | None:
    """``lgsp_deliveries_total{outcome="delivered"}`` on a worker's metrics port, or None."""
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except requests.ConnectionError:
        return None
    found = re.search(r'lgsp_deliveries_total\{[^}]*outcome="delivered"[^}]*\} (\S+)', text)
    return float(found.group(1)) if found else None


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_readme_demo_flow_sends_and_traces_a_message(tmp_path):
    proc, env, url = serve(tmp_path, "--demo")
    try:
        env["LGSP_API_KEY"] = (tmp_path / "var" / "demo.key").read_text().strip()
        sent = subprocess.run(
            [*LGSP, "send", "dossier.status", str(ROOT / "demo" / "dossier-status.json"), "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert sent.returncode == 0, sent.stderr
        message_id = json.loads(sent.stdout)["id"]

        def delivered() -> bool:
            traced = subprocess.run(
                [*LGSP, "trace", message_id, "--json"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=30,
            )
            return json.loads(traced.stdout)["status"] == "delivered"

        wait_until(delivered, timeout=30, interval=0.3, what="demo delivery")
        shown = subprocess.run(
            [*LGSP, "trace", message_id],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "delivered" in shown.stdout and "intact" in shown.stdout
        # the demo's flows are on the dashboard, for the admin key the hub wrote
        console = Console(url)
        console.login((tmp_path / "var" / "admin.key").read_text().strip())
        rows = wait_until(
            lambda: (
                len(found := re.findall(r'data-message="', console.page("/messages"))) >= 6
                and found
            ),
            timeout=60,
            interval=0.5,
            what="the tour's five flows and the message sent, on the dashboard",
        )
        assert rows and message_id in console.page("/messages")
    finally:
        assert stop(proc) == 0
    printed = proc.stdout.read()
    assert f"dashboard: {url}/admin/" in printed


def test_worker_processes_deliver_are_restarted_and_stop_with_the_hub(tmp_path):
    from sandbox.rest_sink import RestSink

    metrics_port = free_port()
    proc, _, url = serve(tmp_path, "--workers", "1", "--worker-metrics-port", str(metrics_port))
    sink = RestSink().start()
    try:
        workers = wait_until(lambda: children(proc.pid), what="worker process")
        admin = HubClient(url, (tmp_path / "var" / "admin.key").read_text().strip())
        sender = standard(admin, sink.url)
        sender.send("dossier.status", json.dumps(dossier(1)).encode(), "application/json")
        sink.wait_for(1, timeout=30)
        # the delivery is counted where it happened: on the worker's own metrics port
        wait_until(lambda: delivered_count(metrics_port) == 1, what="the worker's delivery counted")
        os.kill(workers[0], signal.SIGKILL)
        wait_until(
            lambda: children(proc.pid) and children(proc.pid) != workers,
            timeout=20,
            what="a new worker process",
        )
        sender.send("dossier.status", json.dumps(dossier(2)).encode(), "application/json")
        sink.wait_for(2, timeout=30)
        # the new worker took the same port; it counts from its own start
        wait_until(lambda: delivered_count(metrics_port) == 1, what="the new worker's count")
    finally:
        sink.stop()
        replaced = children(proc.pid)
        assert stop(proc) == 0
    time.sleep(0.2)
    assert all(
        not Path(f"/proc/{pid}").exists()
        or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        for pid in replaced
    )


def test_a_worker_whose_metrics_port_is_taken_says_so_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*LGSP, "worker", "--metrics-port", str(port)],
            env=clean_env(tmp_path, free_port()),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot serve metrics on port {port}: Address already in use"
    ], done.stderr
