"""The demo province against the whole sandbox: every built-in connector type is registered
(by ``hub.demo.seed``, as ``./run demo`` does) and passes ``lgsp connectors check`` — test
connection, a round trip with the demo's own example message, and the error classes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from hub import demo
from hub.connector import ENTRY_POINT_GROUP
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
