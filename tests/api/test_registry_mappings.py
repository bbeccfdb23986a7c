"""Mappings in the registry, on both backends: an upload is compiled and every example pair run
before it is kept as the next version (a failure is refused whole and the last good version
stays in force); a route uses the latest version at once, or pins ``name@N``; hostile,
malformed, oversized and unauthorised uploads are refused with a structured 4xx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from hub.client import ClientError
from tests.cli.test_cli_errors import assert_one_line_error, lgsp
from tests.support.partners import allow, register_sender

pytestmark = pytest.mark.timeout(90)

CATALOG = Path(__file__).resolve().parents[2] / "hub" / "catalog" / "mappings"


def bundle(kenh: int, *, expected_kenh: int | None = None) -> dict:
    """A mapping (status names → codes, a constant) with one example pair."""
    mapping = {
        "source": {"type": "json"},
        "target": {"type": "json"},
        "fields": {
            "data.MaHoSo": {"from": "ma", "required": True},
            "data.TrangThai": {"from": "trangThai", "code_list": "tt"},
        },
        "constants": {"data.Kenh": kenh},
        "code_lists": {"tt": {"entries": {"processing": 4, "done": 10}}},
    }
    given = {"ma": "H49-1", "trangThai": "done"}
    out = {"data": {"MaHoSo": "H49-1", "TrangThai": 10, "Kenh": expected_kenh or kenh}}
    return {
        "mapping": mapping,
        "examples": [
            {
                "case": "done",
                "in": {"type": "json", "text": json.dumps(given)},
                "out": {"type": "json", "text": json.dumps(out)},
            }
        ],
    }


def upload(running, name: str, body: bytes | dict, key: str | None = None) -> requests.Response:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return requests.put(
        f"{running.url}/v1/mappings/{name}",
        data=data,
        headers={} if key == "" else {"Authorization": f"Bearer {key or running.admin_key}"},
        timeout=30,
    )


def mapped_route(running, sink, mapping: str) -> object:
    admin = running.admin()
    sender = running.client(register_sender(admin))
    admin.json("POST", "/v1/services", json={"code": "progress", "name": "Tiến độ"})
    allow(admin, "motcua", "progress")
    admin.json(
        "POST",
        "/v1/connectors",
        json={"name": "dvcqg", "type": "rest", "config": {"url": sink.url + "/dvcqg"}},
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={
            "name": "to-dvcqg",
            "connector": "dvcqg",
            "service_code": "progress",
            "mapping": mapping,
        },
    )
    return sender


def test_a_route_maps_with_the_latest_version_or_the_one_it_pins(running, sink):
    assert upload(running, "progress-to-dvcqg", bundle(1)).json() == {
        "name": "progress-to-dvcqg",
        "version": 1,
        "created": True,
    }
    sender = mapped_route(running, sink, "progress-to-dvcqg")
    body = json.dumps({"ma": "H49-7", "trangThai": "processing"}).encode()
    sender.send("progress", body, "application/json")
    sink.wait_for(1, timeout=20)
    assert json.loads(sink.received[0].body) == {
        "data": {"MaHoSo": "H49-7", "TrangThai": 4, "Kenh": 1}
    }
    assert upload(running, "progress-to-dvcqg", bundle(2)).json()["version"] == 2
    sender.send("progress", body, "application/json")
    sink.wait_for(2, timeout=20)
    assert json.loads(sink.received[1].body)["data"]["Kenh"] == 2
    admin = running.admin()
    admin.json("PATCH", "/v1/routes/to-dvcqg", json={"mapping": "progress-to-dvcqg@1"})
    sender.send("progress", body, "application/json")
    sink.wait_for(3, timeout=20)
    assert json.loads(sink.received[2].body)["data"]["Kenh"] == 1
    listed = {m["name"]: m for m in admin.json("GET", "/v1/mappings")}
    assert (
        listed["progress-to-dvcqg"]["version"] == 2
        and listed["progress-to-dvcqg"]["source"] == "registry"
    )
    assert listed["dossier-status-to-dvcqg-progress"]["source"] == "built-in"
    shown = admin.json("GET", "/v1/mappings/progress-to-dvcqg@1")
    assert (
        shown["mapping"]["constants"] == {"data.Kenh": 1} and shown["examples"][0]["case"] == "done"
    )
    with pytest.raises(ClientError) as missing:
        admin.json("PATCH", "/v1/routes/to-dvcqg", json={"mapping": "progress-to-dvcqg@7"})
    assert missing.value.code == "unknown_reference"


def test_an_upload_whose_example_fails_is_refused_and_the_last_good_one_stays(running, sink):
    assert upload(running, "m", bundle(1)).status_code == 200
    response = upload(running, "m", bundle(2, expected_kenh=3))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "schema_violation"
    assert error["details"]["errors"][0]["path"].startswith("/examples/done")
    assert [v["version"] for v in running.admin().json("GET", "/v1/mappings/m/versions")] == [1]


@pytest.mark.parametrize(
    "body,code,where",
    [
        (
            {**bundle(1), "mapping": {**bundle(1)["mapping"], "colour": "red"}},
            "invalid_mapping",
            "/colour",
        ),
        (
            {**bundle(1), "mapping": {**bundle(1)["mapping"], "fields": {"a": {"from": "foo(("}}}},
            "invalid_mapping",
            "/fields/a/from",
        ),
        ({**bundle(1), "examples": []}, "schema_violation", "/examples"),
        ({"mapping": bundle(1)["mapping"]}, "schema_violation", "/examples"),
        (b"mapping: &a {x: 1}\nexamples: *a\n", "malformed_input", None),
        (b"{not yaml", "malformed_input", None),
        (
            {
                "mapping": {
                    "source": {"type": "xml"},
                    "target": {"type": "xml"},
                    "xslt": "<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>"
                    "<xsl:template match='/'><x>"
                    "<xsl:copy-of select=\"document('/etc/passwd')\"/>"
                    "</x></xsl:template></xsl:stylesheet>",
                },
                "examples": [
                    {
                        "case": "c",
                        "in": {"type": "xml", "text": "<a/>"},
                        "out": {"type": "xml", "text": "<x/>"},
                    }
                ],
            },
            "schema_violation",
            "/examples/c",
        ),
    ],
)
def test_a_bad_upload_is_a_structured_4xx_and_keeps_nothing(running, body, code, where):
    response = upload(running, "bad", body)
    assert 400 <= response.status_code < 500, response.text
    error = response.json()
    assert error["code"] == code, error
    if where:
        assert any(e["path"].startswith(where) for e in error["details"]["errors"]), error
    assert running.admin().json("GET", "/v1/mappings/bad/versions") == []


def test_uploads_are_for_the_admin_and_size_limited(running, sink):
    key = register_sender(running.admin())
    assert upload(running, "m", bundle(1), key="").status_code == 401
    assert upload(running, "m", bundle(1), key=key).status_code == 403
    assert upload(running, "m", b"x" * (5 * 1024 * 1024)).status_code == 413
    assert running.admin().json("GET", "/v1/mappings/m/versions") == []


def test_cli_uploads_a_mapping_folder_and_lists_it(running, tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    for path in CATALOG.glob("onestop-progress-to-dvcqg*"):
        (shutil.copytree if path.is_dir() else shutil.copy)(path, folder / path.name)
    admin = ["--url", running.url, "--key", running.admin_key]
    done = lgsp(
        tmp_path, "mappings", "upload", "onestop-progress-to-dvcqg", "--dir", str(folder), *admin
    )
    assert done.returncode == 0 and "uploaded as version 1" in done.stdout, done.stderr
    listed = lgsp(tmp_path, "mappings", "list", *admin)
    assert "onestop-progress-to-dvcqg" in listed.stdout and "registry" in listed.stdout
    broken = folder / "onestop-progress-to-dvcqg.examples" / "processing.out.json"
    broken.write_text(broken.read_text().replace("4", "5", 1))
    assert_one_line_error(
        lgsp(
            tmp_path,
            "mappings",
            "upload",
            "onestop-progress-to-dvcqg",
            "--dir",
            str(folder),
            *admin,
        ),
        "schema_violation",
    )
