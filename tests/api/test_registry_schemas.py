"""Schemas in the registry, on both backends: an upload is a new version, checked first and
refused whole when it is not a valid schema (the last good one stays in force); the latest
version is used at once by this process and within the cache window by every other one;
``name@N`` pins a version; built-in files are version 0."""

from __future__ import annotations

import json
import time

import pytest
import requests

from hub.client import ClientError, HubClient
from hub.context import Hub
from hub.errors import SchemaViolation
from tests.cli.test_cli_errors import assert_one_line_error, lgsp
from tests.support.partners import dossier, standard

pytestmark = pytest.mark.timeout(90)

STRICTER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["MaHoSo", "TrangThaiHoSo", "NguoiXuLy"],
}


def put(running, name: str, body: bytes, key: str | None = None) -> requests.Response:
    return requests.put(
        f"{running.url}/v1/schemas/{name}",
        data=body,
        headers={} if key == "" else {"Authorization": f"Bearer {key or running.admin_key}"},
        timeout=30,
    )


def test_an_uploaded_version_is_in_force_at_once_and_an_older_one_can_be_pinned(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)  # dossier.status validated by the built-in file
    body = json.dumps(dossier(1)).encode()
    sender.send("dossier.status", body, "application/json")
    uploaded = put(running, "dossier-status.v1.json", json.dumps(STRICTER).encode())
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"name": "dossier-status.v1.json", "version": 1, "created": True}
    with pytest.raises(ClientError) as refused:  # no NguoiXuLy: the new version says no
        sender.send("dossier.status", body, "application/json")
    assert refused.value.code == "schema_violation"
    assert refused.value.details["errors"][0]["path"] == "/NguoiXuLy"
    listed = {s["name"]: s for s in admin.json("GET", "/v1/schemas")}
    assert listed["dossier-status.v1.json"] == {
        "name": "dossier-status.v1.json",
        "version": 1,
        "source": "registry",
    }
    assert listed["citizen-lookup.v1.json"]["source"] == "built-in"
    shown = admin.request("GET", "/v1/schemas/dossier-status.v1.json")
    assert json.loads(shown.text) == STRICTER and shown.headers["X-LGSP-Version"] == "1"
    # the same document again is no new version; a looser one is version 2
    assert (
        put(running, "dossier-status.v1.json", json.dumps(STRICTER).encode()).json()["created"]
        is False
    )
    looser = {**STRICTER, "required": ["MaHoSo"]}
    assert (
        put(running, "dossier-status.v1.json", json.dumps(looser).encode()).json()["version"] == 2
    )
    sender.send("dossier.status", body, "application/json")
    # a service may pin version 1
    admin.json(
        "PATCH",
        "/v1/services/dossier.status",
        json={"request_schema": "dossier-status.v1.json@1"},
    )
    with pytest.raises(ClientError):
        sender.send("dossier.status", body, "application/json")
    assert [
        v["version"] for v in admin.json("GET", "/v1/schemas/dossier-status.v1.json/versions")
    ] == [1, 2]
    with pytest.raises(ClientError) as missing:
        admin.json(
            "PATCH",
            "/v1/services/dossier.status",
            json={"request_schema": "dossier-status.v1.json@9"},
        )
    assert missing.value.code == "unknown_reference"


@pytest.mark.parametrize(
    "name,body,code",
    [
        ("x.json", b'{"type": 5}', "schema_violation"),
        ("x.json", b"{not json", "malformed_input"),
        ("x.json", b'{"a": 1, "a": 2}', "malformed_input"),
        (
            "x.xsd",
            b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/></xs:schema>",
            "schema_violation",
        ),
        ("x.xsd", b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', "hostile_input"),
        (
            "x.xsd",
            b"<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>"
            b"<xs:include schemaLocation='http://127.0.0.1:9/evil.xsd'/></xs:schema>",
            "schema_violation",
        ),
        ("x.txt", b"{}", "schema_violation"),
        ("x.json", b"\xff\xfe", "malformed_input"),
    ],
)
def test_a_bad_schema_is_refused_and_the_last_good_one_stays(running, name, body, code):
    good = json.dumps({"type": "object"}).encode()
    target = name if name.endswith((".json", ".xsd")) else "x.json"
    if target.endswith(".json"):
        assert put(running, target, good).status_code == 200
    response = put(running, name, body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"] == code, response.json()
    if target.endswith(".json"):
        versions = running.admin().json("GET", f"/v1/schemas/{target}/versions")
        assert [v["version"] for v in versions] == [1]


def test_uploads_are_for_the_admin_and_size_limited(running, sink):
    key = standard(running.admin(), sink.url).key
    assert put(running, "x.json", b"{}", key="").status_code == 401
    assert put(running, "x.json", b"{}", key=key).status_code == 403
    huge = b'{"description": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    assert put(running, "x.json", huge).status_code == 413
    assert running.admin().json("GET", "/v1/schemas/x.json/versions") == []


def test_another_process_uses_the_new_version_within_the_cache_window(running, hub):
    other = Hub(hub.settings.model_copy(update={"registry_cache_seconds": 0.3}))
    try:
        strict = {"type": "object", "required": ["x"]}
        with pytest.raises(SchemaViolation):
            other.schemas.validate("dossier-status.v1.json", {"MaHoSo": "1"})
        other.schemas.validate("dossier-status.v1.json", dossier(1))
        assert put(running, "dossier-status.v1.json", json.dumps(strict).encode()).ok
        time.sleep(0.4)
        with pytest.raises(SchemaViolation):
            other.schemas.validate("dossier-status.v1.json", dossier(1))
        other.schemas.validate("dossier-status.v1.json", {"x": 1})
    finally:
        other.close()


def test_cli_uploads_lists_and_shows(running, tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"type": "object"}))
    (tmp_path / "bad.json").write_text('{"type": 5}')
    admin = ["--url", running.url, "--key", running.admin_key]
    up = lgsp(tmp_path, "schemas", "upload", "new.v1.json", "s.json", "--reason", "v1", *admin)
    assert up.returncode == 0 and "uploaded as version 1" in up.stdout, up.stderr
    listed = lgsp(tmp_path, "schemas", "list", *admin)
    assert "new.v1.json" in listed.stdout and "registry" in listed.stdout
    shown = lgsp(tmp_path, "schemas", "show", "new.v1.json", *admin)
    assert json.loads(shown.stdout) == {"type": "object"}
    assert_one_line_error(
        lgsp(tmp_path, "schemas", "upload", "new.v1.json", "bad.json", *admin), "schema_violation"
    )
    HubClient(running.url, running.admin_key).json("GET", "/v1/schemas/new.v1.json/versions")
