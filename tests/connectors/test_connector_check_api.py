"""``POST /v1/connectors/{name}/check`` and ``lgsp connectors check`` against a running hub (both
backends): admin only; unknown instances are 404; the example comes from the body or from the
service's request schema (mapped by the service's route to the connector, as the worker
would); the checks run in the hub, where the secrets live; the CLI prints the table and exits 1
when a check fails."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.config import Settings
from sandbox.rest_sink import RestSink
from tests.cli.test_cli_errors import assert_one_line_error, lgsp, sender_key
from tests.conftest import make_settings
from tests.support.partners import dossier, register_service
from tests.support.running import RunningHub

pytestmark = pytest.mark.timeout(120)

SECRET = "tok-51c0-api-check"
CATALOG = Path(__file__).resolve().parents[2] / "hub" / "catalog"


@pytest.fixture
def settings(backend, tmp_path, request) -> Settings:
    """The shipped schemas, with an example in the dossier-status request schema."""
    schemas = shutil.copytree(CATALOG / "schemas", tmp_path / "schemas")
    path = schemas / "dossier-status.v1.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**schema, "examples": [dossier(7)]}), encoding="utf-8")
    return make_settings(backend, tmp_path, request, schema_dir=schemas)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINK_TOKEN", SECRET)  # the hub runs in this process: its environment


@pytest.fixture
def locked_sink() -> Iterator[RestSink]:
    with RestSink(require_token=SECRET) as server:
        yield server


def register(running: RunningHub, name: str, url: str, **config: Any) -> None:
    config = {"url": url, "timeout_seconds": 5, **config}
    running.admin().json(
        "POST", "/v1/connectors", json={"name": name, "type": "rest", "config": config}
    )


def check(running: RunningHub, name: str, body: Any = None, key: str | None = None):
    return requests.post(
        f"{running.url}/v1/connectors/{name}/check",
        json=body,
        headers={"Authorization": f"Bearer {key or running.admin_key}"},
        timeout=60,
    )


def test_only_an_admin_may_check_a_connector(running: RunningHub, sink) -> None:
    key = sender_key(running, sink)  # also registers the connector "portal"
    anonymous = requests.post(f"{running.url}/v1/connectors/portal/check", timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    sender = check(running, "portal", {"example": {"a": 1}}, key=key)
    assert sender.status_code == 403 and sender.json()["code"] == "forbidden"
    assert sink.received == []  # nothing was sent for a refused caller


def test_an_unknown_connector_or_service_is_404(running: RunningHub, sink) -> None:
    assert check(running, "nowhere").json()["code"] == "not_found"
    register(running, "portal", sink.url)
    refused = check(running, "portal", {"service": "no.such.service"})
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"


def test_the_example_from_the_body_is_delivered_with_the_secret_from_the_hub(
    running: RunningHub, locked_sink
) -> None:
    bearer = {"type": "bearer", "token_env": "SINK_TOKEN"}
    register(running, "hcc", locked_sink.url + "/in", auth=bearer)
    answer = check(running, "hcc", {"example": {"MaHoSo": "H49-1"}})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["ok"] is True and report["example"] == "body"
    assert {r["status"] for r in report["checks"] + report["conformance"]} == {"ok"}
    [received] = locked_sink.received
    assert json.loads(received.body) == {"MaHoSo": "H49-1"}
    assert SECRET not in answer.text
    xml = check(running, "hcc", {"example": {"a": 1}, "content_type": "application/xml"})
    assert xml.status_code == 422 and xml.json()["details"]["errors"][0]["path"] == "/example"


def test_the_example_comes_from_the_services_schema_through_its_routes_mapping(
    running: RunningHub, sink
) -> None:
    admin = running.admin()
    register_service(admin)  # dossier.status, request schema dossier-status.v1.json
    register(running, "dvcqg", sink.url + "/progress")
    admin.json(
        "POST",
        "/v1/routes",
        json={
            "name": "to-dvcqg",
            "connector": "dvcqg",
            "service_code": "dossier.status",
            "mapping": "dossier-status-to-dvcqg-progress",
        },
    )
    report = check(running, "dvcqg", {"service": "dossier.status"}).json()
    assert report["example"] == (
        "schema dossier-status.v1.json, mapped by dossier-status-to-dvcqg-progress"
    )
    assert report["ok"] is True
    [received] = sink.received
    assert json.loads(received.body)["data"]["MaHoSo"] == dossier(7)["MaHoSo"]
    assert received.headers["x-lgsp-service"] == "dossier.status"


def test_a_failing_check_is_reported_not_raised(running: RunningHub, locked_sink) -> None:
    register(running, "hcc", locked_sink.url, auth={"type": "bearer", "token_env": "UNSET_X"})
    answer = check(running, "hcc")
    assert answer.status_code == 200
    report = answer.json()
    assert report["ok"] is False and report["example"] is None
    failed = {r["name"] for r in report["checks"] + report["conformance"] if r["status"] == "fail"}
    assert {"secret", "auth", "authentication"} <= failed


def test_the_cli_prints_the_table_and_exits_1_on_a_failure(
    running: RunningHub, locked_sink, tmp_path: Path
) -> None:
    admin = ["--url", running.url, "--key", running.admin_key]
    register(running, "good", locked_sink.url, auth={"type": "bearer", "token_env": "SINK_TOKEN"})
    (tmp_path / "example.json").write_text(json.dumps({"MaHoSo": "H49-2"}), encoding="utf-8")
    passed = lgsp(tmp_path, "connectors", "check", "good", "--example", "example.json", *admin)
    assert passed.returncode == 0, passed.stderr
    for needle in ("round trip", "5xx is retryable", "pass", "no check failed"):
        assert needle in passed.stdout
    assert "FAIL" not in passed.stdout

    register(running, "bad", locked_sink.url)  # no credentials: the sink answers 401
    failed = lgsp(tmp_path, "connectors", "check", "bad", *admin)
    assert failed.returncode == 1, failed.stdout
    assert "FAIL" in failed.stdout and "none configured" in failed.stdout
    as_json = json.loads(lgsp(tmp_path, "connectors", "check", "bad", "--json", *admin).stdout)
    assert as_json["ok"] is False

    unknown = lgsp(tmp_path, "connectors", "check", "nowhere", *admin)
    assert_one_line_error(unknown, "not_found")
    bad_file = lgsp(tmp_path, "connectors", "check", "good", "--example", "example.txt", *admin)
    assert_one_line_error(bad_file, "--example")
