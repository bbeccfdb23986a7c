"""The real ``lgsp`` console script, run as a subprocess: every failure is exit code 1 and one
``error: …`` line on stderr (usage errors: exit 2), never a stack trace; ``send`` and
``trace --json`` round-trip against a running hub (both backends)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.store.tables import messages
from tests.support.partners import dossier, standard

pytestmark = pytest.mark.timeout(60)

_SCRIPT = Path(sys.executable).with_name("lgsp")
LGSP = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "hub.cli"]


def lgsp(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``lgsp`` in ``tmp_path`` with no LGSP_* settings but an empty data dir, so neither a
    stray admin key file nor a ``.lgsp.env`` is picked up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(LGSP_DATA_DIR=str(tmp_path / "cli-data"), NO_COLOR="1")
    return subprocess.run(
        [*LGSP, *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def sender_key(running, sink) -> str:
    return standard(running.admin(), sink.url).session.headers["Authorization"][7:]


# ── no hub ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "command",
    [
        ["messages"],
        ["trace", "01a20000-0000-7000-8000-000000000000"],
        ["send", "dossier.status", "payload.json"],
        ["dead-letters", "list"],
        ["connectors", "list"],
    ],
    ids=["messages", "trace", "send", "dead-letters", "connectors"],
)
def test_unreachable_hub_is_exit_1_and_one_error_line(tmp_path, command):
    (tmp_path / "payload.json").write_text(json.dumps(dossier(1)))
    url = closed_port_url()
    result = lgsp(tmp_path, *command, "--url", url, "--key", "lgsp_deadbeef_x")
    assert_one_line_error(result, "unreachable", url)


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "http://127.0.0.1:99999", "http://[::1"])
def test_malformed_hub_url_is_exit_1_and_one_error_line(tmp_path, url):
    assert_one_line_error(lgsp(tmp_path, "messages", "--url", url), "unreachable")


def test_send_of_a_missing_file_is_exit_1_naming_the_file(tmp_path):
    result = lgsp(tmp_path, "send", "dossier.status", "no-such.json", "--url", closed_port_url())
    assert_one_line_error(result, "no-such.json", "No such file")


def test_send_of_a_directory_is_exit_1_naming_it(tmp_path):
    (tmp_path / "adir").mkdir()
    result = lgsp(tmp_path, "send", "dossier.status", "adir", "--url", closed_port_url())
    assert_one_line_error(result, "adir")


def test_discard_without_a_reason_is_a_usage_error_exit_2(tmp_path):
    result = lgsp(tmp_path, "dead-letters", "discard", "some-delivery", "--url", closed_port_url())
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "--reason" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# ── against a running hub ────────────────────────────────────────────────────────────────


def test_send_of_a_schema_violating_payload_is_exit_1_naming_the_field(running, sink, tmp_path):
    key = sender_key(running, sink)
    (tmp_path / "bad.json").write_text(json.dumps({**dossier(1), "TrangThaiHoSo": "4"}))
    result = lgsp(
        tmp_path, "send", "dossier.status", "bad.json", "--url", running.url, "--key", key
    )
    assert_one_line_error(result, "schema_violation", "/TrangThaiHoSo")
    with running.hub.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar_one() == 0
    assert sink.request_count == 0


def test_send_then_trace_json_round_trip_lists_the_events(running, sink, tmp_path):
    key = sender_key(running, sink)
    body = json.dumps(dossier(1))
    sent = lgsp(
        tmp_path,
        "send",
        "dossier.status",
        "-",
        "--url",
        running.url,
        "--key",
        key,
        "--json",
        stdin=body,
    )
    assert sent.returncode == 0, sent.stderr
    accepted = json.loads(sent.stdout)
    assert accepted["duplicate"] is False
    traced = lgsp(tmp_path, "trace", accepted["id"], "--url", running.url, "--key", key, "--json")
    assert traced.returncode == 0, traced.stderr
    message = json.loads(traced.stdout)
    assert message["id"] == accepted["id"] and message["sender_system"] == "motcua"
    events = [e["event"] for e in message["events"]]
    assert events[:4] == ["received", "validated", "routed", "queued"]
    assert [e["seq"] for e in message["events"]] == list(range(1, len(events) + 1))
    assert message["trace_intact"] is True
    human = lgsp(tmp_path, "trace", accepted["id"], "--url", running.url, "--key", key)
    assert human.returncode == 0, human.stderr
    assert accepted["id"] in human.stdout and "received" in human.stdout
    assert sink.wait_for(1)[0].body == body.encode()


def test_trace_of_an_unknown_id_is_exit_1_and_one_error_line(running, tmp_path):
    result = lgsp(
        tmp_path,
        "trace",
        "01a20000-0000-7000-8000-000000000000",
        "--url",
        running.url,
        "--key",
        running.admin_key,
    )
    assert_one_line_error(result, "not_found")


def test_without_a_key_or_admin_key_file_is_exit_1_unauthenticated(running, tmp_path):
    assert_one_line_error(lgsp(tmp_path, "messages", "--url", running.url), "unauthenticated")


# ── error text is printed verbatim ───────────────────────────────────────────────────────


@pytest.mark.parametrize("name", ["[/red]x.json", "[bold]x.json"], ids=["closing", "opening"])
def test_file_name_with_square_brackets_is_named_verbatim_in_the_error(tmp_path, name):
    result = lgsp(tmp_path, "send", "dossier.status", name, "--url", closed_port_url())
    assert_one_line_error(result, name)


def test_schema_error_quoting_square_brackets_is_one_line_not_a_traceback(running, sink, tmp_path):
    key = sender_key(running, sink)
    (tmp_path / "bad.json").write_text(json.dumps({**dossier(1), "TrangThaiHoSo": "[/b]"}))
    result = lgsp(
        tmp_path, "send", "dossier.status", "bad.json", "--url", running.url, "--key", key
    )
    assert_one_line_error(result, "schema_violation", "/TrangThaiHoSo", "[/b]")
