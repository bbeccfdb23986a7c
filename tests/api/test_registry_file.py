"""The registry as code, on both backends: export → apply on an empty hub → export gives the
same file; a plan first and a dry run that changes nothing; entries the file drops are
disabled, never deleted; a bad file — malformed, hostile, oversized, unauthorised, or one that
would leave a route without its connector — is refused whole, naming where, with nothing
half-applied."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import jsonschema
import psycopg
import pytest
import requests
import yaml
from sqlalchemy import func, select

from hub.client import ClientError, HubClient
from hub.registry.ascode import SCHEMA_FILE, file_schema
from hub.store.tables import agencies, audit_log, systems
from tests.cli.test_cli_errors import assert_one_line_error, lgsp
from tests.conftest import PG_ADMIN_URL, make_settings, open_hub
from tests.support.partners import AGENCY, standard
from tests.support.running import RunningHub, start_hub

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def empty(backend, tmp_path, request) -> Iterator[RunningHub]:
    """A second hub on a store of its own, with nothing registered but its admin."""
    overrides = {}
    database = None
    if backend == "postgres":
        request.getfixturevalue("pg_url")
        database = f"lgsp_test_other_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        overrides["database_url"] = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    (tmp_path / "other").mkdir()
    hub = open_hub(make_settings(backend, tmp_path / "other", request, **overrides))
    running = start_hub(hub, worker=False)
    yield running
    running.stop()
    hub.close()
    if database:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def populate(admin: HubClient, sink_url: str) -> None:
    """A registry with a bit of everything: an agency tree, a disabled route, a sync service,
    a connector with a secret reference and a retry budget."""
    standard(admin, sink_url)
    admin.json(
        "POST",
        "/v1/agencies",
        json={"code": "000.01.00.H49", "name": "Sở Tư pháp", "parent_code": AGENCY, "level": 2},
    )
    admin.json(
        "POST", "/v1/services", json={"code": "citizen.lookup", "name": "Tra cứu", "mode": "sync"}
    )
    admin.json(
        "POST",
        "/v1/connectors",
        json={
            "name": "population",
            "type": "rest",
            "config": {
                "url": sink_url + "/pop",
                "auth": {"type": "bearer", "token_env": "POP_TOKEN"},
            },
            "retry_budget_seconds": 3600,
        },
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={
            "name": "lookup",
            "connector": "population",
            "service_code": "citizen.lookup",
            "condition": [{"path": "SoDinhDanh", "op": "exists"}],
        },
    )
    admin.request("POST", "/v1/routes/lookup/disable")
    strict = {
        "type": "object",
        "required": ["SoDinhDanh"],
        "properties": {"SoDinhDanh": {"type": "string"}},
    }
    admin.request("PUT", "/v1/schemas/citizen.v2.json", data=json.dumps(strict).encode())
    xsd = (
        "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>"
        "<xs:element name='HoSo' type='xs:string'/></xs:schema>"
    )
    admin.request("PUT", "/v1/schemas/hoso.v1.xsd", data=xsd.encode())
    admin.json("PATCH", "/v1/services/citizen.lookup", json={"request_schema": "citizen.v2.json"})
    given, out = {"SoDinhDanh": "001099000001"}, {"id": "001099000001"}
    bundle = {
        "mapping": {
            "source": {"type": "json", "schema": "citizen.v2.json"},
            "target": {"type": "json"},
            "fields": {"id": "SoDinhDanh"},
        },
        "examples": [
            {
                "case": "one",
                "in": {"type": "json", "text": json.dumps(given)},
                "out": {"type": "json", "text": json.dumps(out)},
            }
        ],
    }
    admin.request("PUT", "/v1/mappings/citizen-to-population", json=bundle)
    admin.json("PATCH", "/v1/routes/lookup", json={"mapping": "citizen-to-population"})


def test_export_apply_on_an_empty_hub_export_gives_the_same_file(running, empty, sink, tmp_path):
    populate(running.admin(), sink.url)
    exported = lgsp(
        tmp_path, "registry", "export", "--url", running.url, "--key", running.admin_key
    )
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    jsonschema.validate(document, json.loads(SCHEMA_FILE.read_text()))
    assert "api_key" not in exported.stdout and "key_hash" not in exported.stdout
    assert "token_env: POP_TOKEN" in exported.stdout  # a reference, the only form a secret has
    assert [s["name"] for s in document["schemas"]] == ["citizen.v2.json", "hoso.v1.xsd"]
    assert [m["name"] for m in document["mappings"]] == ["citizen-to-population"]
    (tmp_path / "province.yaml").write_text(exported.stdout, encoding="utf-8")

    target = ["--url", empty.url, "--key", empty.admin_key]
    dry = lgsp(tmp_path, "registry", "apply", "-f", "province.yaml", "--dry-run", *target)
    assert dry.returncode == 0, dry.stderr
    assert "planned (dry run: nothing changed)" in dry.stdout and "create" in dry.stdout
    with empty.hub.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(systems)).scalar() == 1  # admin only

    applied = lgsp(
        tmp_path, "registry", "apply", "-f", "province.yaml", "--reason", "new province", *target
    )
    assert applied.returncode == 0, applied.stderr
    assert "API key of new system motcua (shown once): lgsp_" in applied.stdout
    again = lgsp(tmp_path, "registry", "export", *target)
    assert again.stdout == exported.stdout
    # a second apply has nothing left to do
    rerun = empty.admin().json("POST", "/v1/registry/apply", data=exported.stdout.encode())
    assert rerun["changes"] == [] and rerun["applied"] is True
    with empty.hub.reader.connect() as conn:
        reasons = set(
            conn.execute(
                select(audit_log.c.reason).where(audit_log.c.actor == "lgsp-admin")
            ).scalars()
        )
    assert reasons == {"new province"}


def test_what_the_file_drops_is_disabled_and_listing_it_again_enables_it(running, sink):
    admin = running.admin()
    populate(admin, sink.url)
    document = admin.json("GET", "/v1/registry")
    document["routes"] = [r for r in document["routes"] if r["name"] != "route-portal"]
    document["access_rules"] = []
    result = admin.json("POST", "/v1/registry/apply", json=document)
    assert {(c["kind"], c["key"], c["action"]) for c in result["changes"]} == {
        ("routes", "route-portal", "disable"),
        ("access_rules", "motcua/dossier.status", "disable"),
    }
    assert admin.json("GET", "/v1/routes/route-portal")["enabled"] is False  # kept, not deleted
    document["routes"].append(
        {"name": "route-portal", "connector": "portal", "service_code": "dossier.status"}
    )
    result = admin.json("POST", "/v1/registry/apply", json=document)
    assert [(c["key"], c["action"]) for c in result["changes"]] == [("route-portal", "enable")]
    # a changed field is an update naming it; the entry's key and type cannot change
    document["services"][0]["name"] = "Tiến độ xử lý hồ sơ"
    result = admin.json("POST", "/v1/registry/apply", json=document, params={"dry_run": "true"})
    assert result["changes"] == [
        {"kind": "services", "key": "citizen.lookup", "action": "update", "fields": ["name"]}
    ]
    assert result["applied"] is False
    document["connectors"][0]["type"] = "soap"
    error = refused(
        lambda: admin.json("POST", "/v1/registry/apply", json=document), "schema_violation"
    )
    assert "cannot change" in error.message


def refused(call, code: str) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


def test_a_file_is_applied_whole_or_not_at_all(running, sink):
    admin = running.admin()
    standard(admin, sink.url)
    before = admin.json("GET", "/v1/registry")
    document = json.loads(json.dumps(before))
    document["agencies"].append({"code": "000.02.00.H49", "name": "Sở mới"})
    document["systems"].append(
        {"code": "new-system", "agency_code": "000.02.00.H49", "name": "Mới"}
    )
    document["routes"].append(
        {"name": "broken", "connector": "ghost", "service_code": "dossier.status"}
    )
    error = refused(
        lambda: admin.json("POST", "/v1/registry/apply", json=document), "schema_violation"
    )
    assert error.details["errors"][0]["path"] == "/routes/broken" and "ghost" in error.message
    # a connector the hub has but the file drops would leave its route without it
    document = json.loads(json.dumps(before))
    document["connectors"] = []
    error = refused(
        lambda: admin.json("POST", "/v1/registry/apply", json=document), "schema_violation"
    )
    assert "route 'route-portal' would be left without its connector 'portal'" in error.message
    # an error only the store finds (an unknown schema) rolls back what came before it
    document = json.loads(json.dumps(before))
    document["agencies"].append({"code": "000.03.00.H49", "name": "Sở khác"})
    document["services"].append({"code": "x", "name": "x", "request_schema": "no-such.json"})
    refused(lambda: admin.json("POST", "/v1/registry/apply", json=document), "unknown_reference")
    assert admin.json("GET", "/v1/registry") == before
    with running.hub.reader.connect() as conn:
        assert (
            conn.execute(
                select(agencies.c.code).where(
                    agencies.c.code.in_(["000.02.00.H49", "000.03.00.H49"])
                )
            ).all()
            == []
        )


def test_the_file_cannot_lock_the_admins_out(running, sink):
    admin = running.admin()
    standard(admin, sink.url)
    document = admin.json("GET", "/v1/registry")
    document["systems"] = [s for s in document["systems"] if s["role"] != "admin"]
    error = refused(
        lambda: admin.json("POST", "/v1/registry/apply", json=document), "schema_violation"
    )
    assert "no admin able to act" in error.message


@pytest.mark.parametrize(
    "body,code,where",
    [
        (b"version: 1\nagencies: [\n", "malformed_input", None),
        (b"a: &x [1, 2]\nb: *x\n", "malformed_input", None),
        (b"version: 1\nsystems: !!python/object:os.system {}\n", "malformed_input", None),
        (
            b"version: 1\nagencies:\n  - code: A\n    name: a\n    colour: red\n",
            "schema_violation",
            "/agencies/0/colour",
        ),
        (
            b"version: 1\nservices:\n  - code: s\n    name: 5\n",
            "schema_violation",
            "/services/0/name",
        ),
        (b"version: 2\n", "schema_violation", "/version"),
        (
            b"version: 1\nagencies:\n  - {code: A, name: a}\n  - {code: A, name: b}\n",
            "schema_violation",
            "/agencies/1",
        ),
        (b"[1, 2, 3]", "schema_violation", "/"),
        (
            b"version: 1\nschemas:\n  - {name: s.json, document: {type: 5}}\n",
            "schema_violation",
            "/schemas/0",
        ),
        (
            b"version: 1\nschemas:\n  - {name: s.xsd, xsd: '<!DOCTYPE x><x/>'}\n",
            "hostile_input",
            "/schemas/0",
        ),
        (b"version: 1\nschemas:\n  - {name: s.json}\n", "schema_violation", "/schemas/0"),
        (
            b"version: 1\nmappings:\n  - {name: m, mapping: {source: {type: json}}, "
            b"examples: []}\n",
            "schema_violation",
            "/mappings/0/examples",
        ),
    ],
)
def test_a_bad_file_is_a_structured_4xx_naming_where(running, body, code, where):
    response = requests.post(
        running.url + "/v1/registry/apply",
        data=body,
        headers={
            "Authorization": f"Bearer {running.admin_key}",
            "Content-Type": "application/yaml",
        },
        timeout=30,
    )
    assert response.status_code in (400, 422), response.text
    error = response.json()
    assert error["code"] == code, error
    if where:
        assert where in {e["path"] for e in error["details"]["errors"]}, error


def test_an_oversized_or_unauthorised_file_is_refused_before_it_is_read(running, sink):
    key = standard(running.admin(), sink.url).key
    huge = b"version: 1\nagencies: []\n" + b"#" * (9 * 1024 * 1024)
    for headers, status in (
        ({}, 401),
        ({"Authorization": f"Bearer {key}"}, 403),
        ({"Authorization": f"Bearer {running.admin_key}"}, 413),
    ):
        response = requests.post(
            running.url + "/v1/registry/apply", data=huge, headers=headers, timeout=60
        )
        assert response.status_code == status, response.text
    assert (
        requests.get(
            running.url + "/v1/registry", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ).status_code
        == 403
    )


def test_cli_apply_of_a_bad_file_is_one_error_line(running, tmp_path):
    (tmp_path / "bad.yaml").write_text("version: 1\nroutes:\n  - {name: r, connector: ghost}\n")
    admin = ["--url", running.url, "--key", running.admin_key]
    assert_one_line_error(
        lgsp(tmp_path, "registry", "apply", "-f", "bad.yaml", *admin), "schema_violation", "ghost"
    )
    assert_one_line_error(
        lgsp(tmp_path, "registry", "apply", "-f", "missing.yaml", *admin),
        "cannot read missing.yaml",
    )


def test_the_shipped_schema_is_the_file_model():
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == file_schema()
