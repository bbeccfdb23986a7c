"""The README's walk-through ("Connecting a new partner"), run as written with bash against a
running hub on both backends: the CLI steps, then the registry file on a hub of its own. Each
must end with the partner receiving the mapped message, with its token. The only change made
to the commands is the hub's address (the README's 127.0.0.1:8080 is this test hub's)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from hub.client import HubClient
from sandbox.rest_sink import RestSink
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "portal-token-3f9a"
MAPPED = {
    "MaHoSo": "000.00.00.H99-261126-0042",
    "TrangThaiHoSo": 10,
    "ThoiDiemXuLy": "20261126163000",
    "NguoiXuLy": "Nguyễn Thị Lan",
    "NoiDungXuLy": "Đã trả kết quả",
}


def block(marker: str) -> str:
    """The bash block after ``<!-- walkthrough:MARKER -->`` in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- walkthrough:{marker} -->\n```bash\n(.*?)\n```", readme, re.S)
    assert found, f"README has no walkthrough:{marker} block"
    return found.group(1)


def run(script: str, running, sink: RestSink, cwd: Path) -> subprocess.CompletedProcess[str]:
    for name in (".venv", "demo"):  # the commands' relative paths, without writing to the clone
        (cwd / name).symlink_to(ROOT / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(
        LGSP_DATA_DIR=str(running.hub.settings.data_dir),  # var/admin.key, as for `lgsp serve`
        LGSP_URL=running.url,  # the README's default address, 127.0.0.1:8080
        PARTNER_URL=sink.url,
        NO_COLOR="1",
    )
    script = script.replace("http://127.0.0.1:8080", running.url)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


@pytest.fixture
def portal(monkeypatch):
    """The partner, requiring its token; the hub (in this process) has it in its environment."""
    monkeypatch.setenv("PORTAL_TOKEN", TOKEN)
    with RestSink(require_token=TOKEN) as sink:
        yield sink


def delivered(sink: RestSink) -> list[dict]:
    return [
        json.loads(r.body)
        for r in sink.received
        if r.path == "/portal/tien-do" and json.loads(r.body).get("MaHoSo") == MAPPED["MaHoSo"]
    ]


def test_the_cli_walkthrough_runs_as_written(running, portal, tmp_path):
    done = run(block("cli"), running, portal, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tien-do-to-portal │ processing │ pass" in done.stdout  # mappings test
    assert "received" in done.stdout  # the trace
    wait_until(lambda: delivered(portal), timeout=30, what="the mapped message at the portal")
    assert delivered(portal) == [MAPPED]
    sent = next(r for r in portal.received if r.path == "/portal/tien-do" and b"0042" in r.body)
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"


def test_the_registry_file_walkthrough_runs_as_written(running, portal, tmp_path):
    done = run(block("file"), running, portal, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "planned (dry run: nothing changed)" in done.stdout
    key = re.search(r"API key of new system motcua-mau \(shown once\): (\S+)", done.stdout)
    assert key, done.stdout
    sender = HubClient(running.url, key.group(1))
    body = (ROOT / "demo" / "walkthrough" / "tien-do.json").read_bytes()
    accepted = sender.send("tien-do", body, "application/json")
    wait_until(
        lambda: sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "delivered",
        timeout=30,
    )
    assert delivered(portal) == [MAPPED]
