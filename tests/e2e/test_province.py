"""The demo province against the whole sandbox: every built-in connector type is registered
(by ``hub.demo.seed``, as ``./run demo`` does) and passes ``lgsp connectors check`` — test
connection, a round trip with the demo's own example message, and the error classes — and a
citizen's ID number, looked up in the population database, shows nowhere but in the answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from hub import demo
from hub.client import ClientError
from hub.connector import ENTRY_POINT_GROUP
from hub.store.tables import messages
from sandbox.province import Province, start
from tests.cli.test_cli_errors import lgsp

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]

PARTNERS = Path(__file__).resolve().parents[2] / "demo" / "partners"


@pytest.fixture
def province() -> Iterator[Province]:
    province = start(port_base=0)
    yield province
    province.stop()


@pytest.fixture
def seeded(running, province) -> dict[str, tuple[str, dict]]:
    province["payment"].callback_url = running.url + "/v1/payments/callback"
    demo.seed(running.hub, province)
    return demo.connectors(province, demo.secrets(running.hub, province))


def built_in_types() -> set[str]:
    return {
        ep.name
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.value.startswith("connectors.")
    }


def test_the_demo_registers_every_built_in_connector_type(seeded):
    assert {type_name for type_name, _ in seeded.values()} == built_in_types()


def test_every_demo_connector_passes_its_check(running, seeded, tmp_path):
    """The check each admin runs, as the CLI runs it: the route's service gives the mapping,
    the demo's example file the message."""
    services = {connector: service for connector, service, _ in demo.ROUTES.values()}
    failed = {}
    for name in seeded:
        args = ["connectors", "check", name, "--service", services[name], "--json"]
        example = demo.EXAMPLES.get(services[name])
        if example:
            args += ["--example", str(PARTNERS / example)]
        done = lgsp(tmp_path, *args, "--url", running.url, "--key", running.admin_key)
        report = json.loads(done.stdout) if done.stdout.strip() else {"error": done.stderr}
        bad = [r for part in ("checks", "conformance") for r in report.get(part, [])]
        bad = [r for r in bad if r["status"] not in ("ok", "skipped")]
        if done.returncode or bad:
            failed[name] = bad or report
    assert failed == {}


CITIZEN = "099085000001"  # a fictitious citizen of the sandbox population database


def test_a_citizen_lookup_shows_the_id_only_in_the_answer(
    running, seeded, province, tmp_path, caplog
):
    """The population lookup through NDXP, as the tour makes it: the caller gets the citizen's
    data; the ID number is masked in the logs, the events, every API listing and CLI output."""
    caplog.set_level(logging.DEBUG)
    key = (running.hub.settings.data_dir / "demo.key").read_text().strip()
    caller = running.client(key)
    body = (PARTNERS / "citizen-verify.json").read_bytes()
    grounds = {"X-LGSP-Purpose": quote("Xác minh chủ hồ sơ"), "X-LGSP-Officer": "cb-0042"}
    answer = caller.call("citizen.verify", body, "application/json", grounds)
    assert answer.json()["CongDan"][0]["SoDinhDanh"] == CITIZEN  # the caller's answer
    message_id = answer.headers["X-LGSP-Message-Id"]
    missing = caller.call(
        "citizen.verify",
        json.dumps({**json.loads(body), "SoDinhDanh": "099999999999"}).encode(),
        "application/json",
        grounds,
    )
    assert missing.json() == {"CongDan": []}
    with pytest.raises(ClientError):
        caller.call("citizen.verify", body, "application/json")  # no grounds: refused
    running.hub.denials.flush()
    admin = running.admin()
    seen = [
        json.dumps(admin.json("GET", f"/v1/messages/{message_id}")),
        json.dumps(admin.json("GET", "/v1/messages", params={"service": "citizen.verify"})),
        json.dumps(admin.json("GET", "/v1/personal-data-access")),
        json.dumps(admin.json("GET", "/v1/denials")),
        caplog.text,
    ]
    where = ["--url", running.url, "--key", running.admin_key]
    for command in (
        ["trace", message_id],
        ["trace", message_id, "--json"],
        ["messages", "--service", "citizen.verify"],
        ["personal-data-log"],
    ):
        done = lgsp(tmp_path, *command, *where)
        assert done.returncode == 0, done.stderr
        seen += [done.stdout, done.stderr]
    with running.hub.reader.connect() as conn:
        stored = conn.execute(select(messages).where(messages.c.id == message_id)).one()
    seen.append(running.hub.payload(stored._mapping).read().decode())
    leaks = [text[:200] for text in seen if CITIZEN in text or "099999999999" in text]
    assert leaks == []
    log = admin.json("GET", "/v1/personal-data-access")["items"]
    assert [(e["subject"], e["result"], e["officer"]) for e in log] == [
        ("*********999", "not_found", "cb-0042"),
        ("*********001", "found", "cb-0042"),
    ]
    assert log[0]["purpose"] == "Xác minh chủ hồ sơ"
