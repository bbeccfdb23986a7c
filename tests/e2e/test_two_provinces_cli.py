"""``lgsp provinces`` as the README shows it: two hubs and the VDXP simulator from one command,
then the exchange driven from the CLI — a commune in A sends to a department in B, B picks it
up and answers 03 and 06, A's timeline shows both; inside A a document goes straight to the
city's system."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]
LGSP = [sys.executable, "-m", "hub.cli"]
DOCUMENT_ID = "000.00.20.H57,2026/11/27,125/UBND-VP"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}


def lgsp(*args: str, url: str, key_file: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [*LGSP, *args, "--url", url, "--key", key_file.read_text().strip()],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def provinces(tmp_path):
    data = tmp_path / "provinces"
    proc = subprocess.Popen(
        [
            *LGSP,
            "provinces",
            "--data-dir",
            str(data),
            "--port-a",
            "0",
            "--port-b",
            "0",
            "--axis-port",
            "0",
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(urls) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, "lgsp provinces ended early"
        if found := re.match(r"^(VDXP axis|province A|province B)\b.*?(http://\S+)", line):
            urls[found.group(1)] = found.group(2)
    assert len(urls) == 3, urls
    yield urls["province A"], urls["province B"], data
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_the_readme_exchange_from_the_cli(provinces):
    a, b, data = provinces
    xa, tinh = data / "a/keys/qlvb-xa.key", data / "a/keys/qlvb-tinh.key"
    stc = data / "b/keys/qlvb-stc.key"
    sent = lgsp("documents", "send", "demo/documents/xa-to-stc.json", url=a, key_file=xa)
    assert sent.stdout.startswith("accepted ")

    def waiting(url, key) -> list[str]:
        listed = lgsp("documents", "inbox", "--json", url=url, key_file=key).stdout
        return re.findall(r'"id": "([0-9a-f-]{36})"', listed)

    (message_id,) = wait_until(lambda: waiting(b, stc), timeout=60, what="B's inbox")
    received = data / "received.edxml"
    lgsp("documents", "fetch", message_id, "-o", str(received), url=b, key_file=stc)
    check = subprocess.run([*LGSP, "edxml", "check", str(received)], capture_output=True, text=True)
    assert check.returncode == 0 and "signed (xmldsig)" in check.stdout
    lgsp("documents", "confirm", message_id, url=b, key_file=stc)
    for example in ("stc-accepted.json", "stc-finished.json"):
        lgsp("documents", "send", f"demo/documents/{example}", url=b, key_file=stc)

    def finished() -> bool:
        shown = lgsp("documents", "show", DOCUMENT_ID, url=a, key_file=xa).stdout
        return "03 accepted → 06 finished" in shown and "finished" in shown

    wait_until(finished, timeout=60, what="A's timeline with 03 and 06")

    lgsp("documents", "send", "demo/documents/xa-to-tinh.json", url=a, key_file=xa)
    assert waiting(a, tinh), "inside A a document is held for the city's system at once"


def test_the_walkthrough_runs_and_exits(tmp_path):
    done = subprocess.run(
        [
            *LGSP,
            "provinces",
            "--data-dir",
            str(tmp_path / "p"),
            "--port-a",
            "0",
            "--port-b",
            "0",
            "--axis-port",
            "0",
            "--walkthrough",
            "--exit-after",
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "A's timeline for 000.01.00.H49 (via axis): 03 accepted → 06 finished" in done.stdout
    assert "documents A sent to VDXP meanwhile: 0" in done.stdout
