"""Which key a client command uses, and ``lgsp serve`` on a port that is taken — the real
console script as a subprocess. An empty key (``--key ""``, or ``LGSP_API_KEY`` set but empty,
as an unset shell variable gives) is a one-line error, never the admin key file; only a key
that is not given at all falls back to that file. ``serve`` binds its port before it makes or
prints a key: on a taken port it says so in one line, naming ``--port``, and prints no key."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli_errors import LGSP, assert_one_line_error, closed_port_url, lgsp

pytestmark = pytest.mark.timeout(90)


def with_admin_key_file(tmp_path: Path, key: str) -> None:
    data = tmp_path / "cli-data"
    data.mkdir(exist_ok=True)
    (data / "admin.key").write_text(key + "\n")


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("how", ["--key ''", "LGSP_API_KEY=''", "--key '  '"])
def test_an_empty_key_is_an_error_not_the_admin_key(running, tmp_path, how):
    with_admin_key_file(tmp_path, running.admin_key)
    args, env = ["messages", "--url", running.url], {}
    if how.startswith("--key"):
        args += ["--key", how.split("'")[1]]
    else:
        env["LGSP_API_KEY"] = ""
    result = run_lgsp(tmp_path, *args, env=env)
    assert_one_line_error(result, "empty", "LGSP_API_KEY")
    assert result.stdout == ""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_key_at_all_falls_back_to_the_admin_key_file(running, tmp_path):
    with_admin_key_file(tmp_path, running.admin_key)
    result = lgsp(tmp_path, "messages", "--url", running.url, "--json")
    assert result.returncode == 0, result.stderr


def test_an_empty_key_is_refused_before_the_hub_is_called(tmp_path):
    result = run_lgsp(
        tmp_path, "trace", "some-id", "--url", closed_port_url(), env={"LGSP_API_KEY": ""}
    )
    assert_one_line_error(result, "empty")


def run_lgsp(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``lgsp`` as ``test_cli_errors.lgsp`` runs it, with ``env`` on top."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    full.update(LGSP_DATA_DIR=str(tmp_path / "cli-data"), NO_COLOR="1", **env)
    return subprocess.run(
        [*LGSP, *args], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=30
    )


def test_serve_on_a_taken_port_says_so_and_prints_no_key(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_lgsp(tmp_path, "serve", "--demo", "--port", str(port), env={})
    line = assert_one_line_error(result, f"127.0.0.1:{port}", "--port")
    assert "in use" in line, line
    assert "lgsp_" not in result.stdout + result.stderr, "a key was printed"
    assert "admin API key" not in result.stdout
    assert not (tmp_path / "cli-data" / "admin.key").exists()
    assert not (tmp_path / "cli-data" / "demo.key").exists()
