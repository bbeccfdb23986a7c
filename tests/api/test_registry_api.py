"""The registry API refuses invalid registrations with a structured 4xx naming the problem and
leaves no row (nor audit entry) behind; a system's API key is shown once and only its hash is
kept. Runs on SQLite + embedded broker and on PostgreSQL + RabbitMQ."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from hub.client import ClientError
from hub.store.tables import (
    access_rules,
    agencies,
    audit_log,
    connector_instances,
    denials,
    routes,
    services,
    systems,
)
from tests.support.partners import (
    AGENCY,
    allow,
    dossier,
    register_rest_route,
    register_sender,
    register_service,
    standard,
)
from tests.support.running import RunningHub, wait_until

pytestmark = pytest.mark.timeout(60)

REGISTRY = (agencies, systems, services, access_rules, connector_instances, routes, audit_log)


def registry_rows(running: RunningHub) -> dict[str, int]:
    with running.hub.engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in REGISTRY
        }


def post(
    running: RunningHub, path: str, body: Any, key: str | None = None, **kwargs: Any
) -> requests.Response:
    return requests.post(
        running.url + path,
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {key or running.admin_key}"},
        **kwargs,
    )


def get(running: RunningHub, path: str) -> Any:
    resp = requests.get(
        running.url + path, timeout=30, headers={"Authorization": f"Bearer {running.admin_key}"}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def refused(
    running: RunningHub, path: str, body: Any, status: int, code: str, **kwargs: Any
) -> dict[str, Any]:
    """POST, expect the structured refusal, and prove no row or audit entry was written."""
    before = registry_rows(running)
    resp = post(running, path, body, **kwargs)
    assert resp.status_code == status, resp.text
    answer = resp.json()
    assert set(answer) == {"code", "message", "details"}, answer
    assert answer["code"] == code and answer["message"].strip()
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    assert registry_rows(running) == before, "a refused registration left rows behind"
    return answer


def error_paths(answer: dict[str, Any]) -> list[str]:
    return [e["path"] for e in answer["details"]["errors"]]


@pytest.fixture
def registry(running) -> RunningHub:
    """An agency, a system ``motcua``, a service, a connector ``portal`` and a route."""
    admin = running.admin()
    register_sender(admin)
    register_service(admin)
    admin.json(
        "POST",
        "/v1/connectors",
        json={"name": "portal", "type": "rest", "config": {"url": "http://127.0.0.1:9/portal"}},
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={"name": "route-portal", "connector": "portal", "service_code": "dossier.status"},
    )
    return running


# ── codes and names ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("code", ["bad code", "ủy-ban", "-leading", "a/b"])
def test_agency_with_a_bad_code_is_422_naming_code_and_leaves_no_row(registry, code):
    answer = refused(registry, "/v1/agencies", {"code": code, "name": "x"}, 422, "schema_violation")
    assert error_paths(answer) == ["/code"]


def test_agency_code_longer_than_the_column_is_422_invalid_request(registry):
    answer = refused(
        registry, "/v1/agencies", {"code": "a" * 65, "name": "x"}, 422, "invalid_request"
    )
    assert error_paths(answer) == ["/body/code"]


@pytest.mark.parametrize(
    "body, path",
    [
        ({"name": "x"}, "/body/code"),
        ({"code": "a.b", "name": ""}, "/body/name"),
        ({"code": "a.b", "name": "x", "level": 5}, "/body/level"),
    ],
    ids=["missing-code", "empty-name", "level-5"],
)
def test_agency_with_invalid_fields_is_422_invalid_request_naming_the_field(registry, body, path):
    answer = refused(registry, "/v1/agencies", body, 422, "invalid_request")
    assert error_paths(answer) == [path]


def test_malformed_json_body_is_422_invalid_request(registry):
    answer = refused(registry, "/v1/agencies", None, 422, "invalid_request", data=b'{"code": ')
    assert answer["details"]["errors"]


def test_agency_with_an_unknown_parent_is_422_naming_the_field_and_leaves_no_row(registry):
    answer = refused(
        registry,
        "/v1/agencies",
        {"code": "000.00.99.H49", "name": "x", "parent_code": "no.such"},
        422,
        "unknown_reference",
    )
    assert error_paths(answer) == ["/parent_code"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/agencies", {"code": AGENCY, "name": "again"}),
        ("/v1/systems", {"code": "motcua", "agency_code": AGENCY, "name": "again"}),
        ("/v1/services", {"code": "dossier.status", "name": "again"}),
        (
            "/v1/connectors",
            {"name": "portal", "type": "rest", "config": {"url": "http://127.0.0.1:9/other"}},
        ),
        ("/v1/routes", {"name": "route-portal", "connector": "portal"}),
    ],
    ids=["agency", "system", "service", "connector", "route"],
)
def test_duplicate_name_is_409_conflict_and_the_original_is_unchanged(registry, path, body):
    kind = path.rsplit("/", 1)[1]
    listed = get(registry, path)
    answer = refused(registry, path, body, 409, "conflict")
    assert answer["details"]["key"] in {body.get("code"), body.get("name")}
    assert "api_key" not in json.dumps(answer)
    assert get(registry, path) == listed, kind


def test_duplicate_access_rule_is_409_conflict(registry):
    allow(registry.admin(), "motcua", "dossier.status")
    refused(
        registry,
        "/v1/access-rules",
        {"system_code": "motcua", "service_code": "dossier.status"},
        409,
        "conflict",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"system_code": "nobody", "service_code": "dossier.status"},
        {"system_code": "motcua", "service_code": "no.such"},
    ],
    ids=["unknown-system", "unknown-service"],
)
def test_access_rule_naming_something_unknown_is_422_and_leaves_no_row(registry, body):
    refused(registry, "/v1/access-rules", body, 422, "unknown_reference")


# ── systems ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "body, status, code, path",
    [
        (
            {"code": "bad code", "agency_code": AGENCY, "name": "x"},
            422,
            "schema_violation",
            "/code",
        ),
        (
            {"code": "sys", "agency_code": AGENCY, "name": "x", "role": "root"},
            422,
            "schema_violation",
            "/role",
        ),
        ({"code": "sys", "name": "x"}, 422, "invalid_request", "/body/agency_code"),
    ],
    ids=["bad-code", "bad-role", "no-agency"],
)
def test_system_with_invalid_input_is_refused_naming_the_field_and_no_key_is_issued(
    registry, body, status, code, path
):
    answer = refused(registry, "/v1/systems", body, status, code)
    assert error_paths(answer) == [path]
    assert "lgsp_" not in json.dumps(answer)


def test_system_of_an_unknown_agency_is_422_and_no_key_is_issued(registry):
    answer = refused(
        registry,
        "/v1/systems",
        {"code": "sys", "agency_code": "no.such", "name": "x"},
        422,
        "unknown_reference",
    )
    assert "lgsp_" not in json.dumps(answer)


def test_system_key_is_shown_once_and_only_its_hash_is_stored(registry, sink):
    created = post(
        registry, "/v1/systems", {"code": "tiep-nhan", "agency_code": AGENCY, "name": "Tiếp nhận"}
    )
    assert created.status_code == 201, created.text
    shown = created.json()
    key = shown["api_key"]
    assert key.startswith("lgsp_") and "key_hash" not in shown
    listed = get(registry, "/v1/systems")
    assert {s["code"] for s in listed} == {"lgsp-admin", "motcua", "tiep-nhan"}
    for system in listed:
        assert "api_key" not in system and "key_hash" not in system
    assert key not in json.dumps(listed)
    with registry.hub.engine.connect() as conn:
        row = conn.execute(select(systems).where(systems.c.code == "tiep-nhan")).mappings().one()
        audit = conn.execute(select(audit_log)).mappings().all()
    assert row["key_hash"] == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps({k: str(v) for k, v in row.items()})
    assert key not in json.dumps([{k: str(v) for k, v in a.items()} for a in audit])
    # the issued key works for submitting
    admin = registry.admin()
    register_rest_route(admin, sink.url, name="sink", priority=1)
    allow(admin, "tiep-nhan", "dossier.status")
    accepted = registry.client(key).send(
        "dossier.status", json.dumps(dossier(1)).encode(), "application/json"
    )
    assert sink.wait_for(1)[0].json()["MaHoSo"] == dossier(1)["MaHoSo"]
    message = registry.client(key).json("GET", f"/v1/messages/{accepted['id']}")
    assert message["sender_system"] == "tiep-nhan"
    wait_until(
        lambda: (
            registry.client(key).json("GET", f"/v1/messages/{accepted['id']}")["status"]
            == "delivered"
        ),
        what="delivery",
    )


# ── services ─────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "schema", ["no-such.v1.json", "../pyproject.toml", "dossier-status.v1.json/.."]
)
def test_service_with_an_unknown_schema_is_422_and_leaves_no_row(registry, schema):
    answer = refused(
        registry,
        "/v1/services",
        {"code": "svc", "name": "x", "request_schema": schema},
        422,
        "unknown_reference",
    )
    assert schema in answer["message"]


def test_service_with_an_unknown_response_schema_is_422_and_leaves_no_row(registry):
    refused(
        registry,
        "/v1/services",
        {"code": "svc", "name": "x", "mode": "sync", "response_schema": "nope.xsd"},
        422,
        "unknown_reference",
    )


@pytest.mark.parametrize(
    "body, path",
    [
        ({"code": "svc", "name": "x", "mode": "batch"}, "/mode"),
        ({"code": "bad code", "name": "x"}, "/code"),
    ],
    ids=["bad-mode", "bad-code"],
)
def test_service_with_invalid_fields_is_422_naming_the_field(registry, body, path):
    answer = refused(registry, "/v1/services", body, 422, "schema_violation")
    assert error_paths(answer) == [path]


# ── connectors ───────────────────────────────────────────────────────────────────────────


def test_connector_of_an_unknown_type_is_404_listing_installed_types(registry):
    answer = refused(
        registry, "/v1/connectors", {"name": "c1", "type": "ftp", "config": {}}, 404, "not_found"
    )
    assert "rest" in answer["details"]["installed"]


@pytest.mark.parametrize(
    "config, field",
    [
        ({}, "url"),
        ({"url": "ftp://host/x"}, "url"),
        ({"url": "http://127.0.0.1:9/x", "timeout_seconds": "slow"}, "timeout_seconds"),
        ({"url": "http://127.0.0.1:9/x", "method": "DELETE"}, "method"),
        ({"url": "http://127.0.0.1:9/x", "colour": "red"}, "colour"),
    ],
    ids=["missing-url", "bad-scheme", "timeout-type", "bad-method", "unknown-key"],
)
def test_connector_config_violating_the_type_schema_is_422_naming_the_field(
    registry, config, field
):
    answer = refused(
        registry,
        "/v1/connectors",
        {"name": "c1", "type": "rest", "config": config},
        422,
        "schema_violation",
    )
    errors = answer["details"]["errors"]
    assert any(field in e["path"] or field in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    "body, status, code",
    [
        (
            {"name": "bad name", "type": "rest", "config": {"url": "http://127.0.0.1:9/x"}},
            422,
            "schema_violation",
        ),
        ({"name": "c1", "type": "rest", "config": ["url"]}, 422, "invalid_request"),
        ({"name": "c1", "type": "rest"}, 422, "invalid_request"),
    ],
    ids=["bad-name", "config-not-object", "no-config"],
)
def test_connector_with_invalid_fields_is_refused_and_leaves_no_row(registry, body, status, code):
    refused(registry, "/v1/connectors", body, status, code)


# ── routes ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "condition",
    [
        [{"path": "TrangThaiHoSo", "op": "like", "value": 9}],
        [{"op": "eq", "value": 9}],
        [{"path": "a", "xpath": "//a", "op": "eq"}],
        [{"path": "a", "op": "eq", "colour": "red"}],
        [{"xpath": "//[", "op": "exists"}],
    ],
    ids=["bad-operator", "no-subject", "two-subjects", "unknown-key", "bad-xpath"],
)
def test_route_with_an_invalid_condition_is_422_naming_condition(registry, condition):
    answer = refused(
        registry,
        "/v1/routes",
        {"name": "r2", "connector": "portal", "condition": condition},
        422,
        "schema_violation",
    )
    assert error_paths(answer) == ["/condition"]
    assert all(e["message"] for e in answer["details"]["errors"])


def test_route_with_an_invalid_regex_is_422_naming_condition(registry):
    answer = refused(
        registry,
        "/v1/routes",
        {
            "name": "r2",
            "connector": "portal",
            "condition": [{"path": "MaHoSo", "op": "regex", "value": "("}],
        },
        422,
        "schema_violation",
    )
    assert error_paths(answer) == ["/condition"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "r2", "connector": "no-such"},
        {"name": "r2", "connector": "portal", "service_code": "no.such"},
    ],
    ids=["unknown-connector", "unknown-service"],
)
def test_route_naming_something_unknown_is_422_and_leaves_no_row(registry, body):
    refused(registry, "/v1/routes", body, 422, "unknown_reference")


def test_route_with_a_bad_name_is_422_naming_name(registry):
    answer = refused(
        registry, "/v1/routes", {"name": "bad name", "connector": "portal"}, 422, "schema_violation"
    )
    assert error_paths(answer) == ["/name"]


def test_route_with_an_unknown_mapping_is_refused(registry):
    before = registry_rows(registry)
    resp = post(
        registry, "/v1/routes", {"name": "r2", "connector": "portal", "mapping": "no-such-mapping"}
    )
    assert 400 <= resp.status_code < 500, resp.text
    assert registry_rows(registry) == before


# ── who may register ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/systems", {"code": "sys", "agency_code": AGENCY, "name": "x", "role": "admin"}),
        ("/v1/connectors", {"name": "c1", "type": "rest", "config": {"url": "http://127.0.0.1:9"}}),
        ("/v1/access-rules", {"system_code": "motcua", "service_code": "dossier.status"}),
    ],
    ids=["admin-system", "connector", "access-rule"],
)
def test_a_system_cannot_register_anything(registry, path, body):
    key = register_sender(registry.admin(), "other")
    answer = refused(registry, path, body, 403, "forbidden", key=key)
    assert answer["details"] == {}


def test_revoked_access_rule_refuses_the_next_submission_and_is_audited(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    body = json.dumps(dossier(1)).encode()
    sender.send("dossier.status", body, "application/json")
    admin.request("DELETE", "/v1/access-rules/motcua/dossier.status")
    with pytest.raises(ClientError) as refused:
        sender.send("dossier.status", body, "application/json")
    assert refused.value.status == 403
    with pytest.raises(ClientError) as again:
        admin.request("DELETE", "/v1/access-rules/motcua/dossier.status")
    assert again.value.status == 404
    with running.hub.reader.connect() as conn:
        actions = conn.execute(select(audit_log.c.action)).scalars().all()
    assert "delete_access_rule" in actions


def denial_rows(running: RunningHub) -> list[dict[str, Any]]:
    running.hub.denials.flush()
    with running.hub.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(denials).order_by(denials.c.id)).mappings()]


BROKEN = b'{"code": "000.00.99.H49", "name": '


@pytest.mark.parametrize(
    "path", ["/v1/agencies", "/v1/connectors", "/v1/dead-letters/some-delivery/discard"]
)
def test_the_admin_check_comes_before_the_body_is_parsed(registry, path):
    """FastAPI parses a declared body before any dependency runs: a broken body from a caller
    without a key was answered 422 and never recorded. The body is parsed after the check."""
    url = registry.url + path
    headers = {"Content-Type": "application/json"}
    before = len(denial_rows(registry))
    anonymous = requests.post(url, data=BROKEN, headers=headers, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json()["code"] == "unauthenticated"
    system_key = register_sender(registry.admin(), "other")
    system = requests.post(
        url, data=BROKEN, timeout=30, headers={**headers, "Authorization": f"Bearer {system_key}"}
    )
    assert system.status_code == 403, system.text
    assert system.json()["code"] == "forbidden"
    rows = denial_rows(registry)[before:]
    assert [(r["system_code"], r["action"], r["reason"]) for r in rows] == [
        (None, f"POST {path}", "no API key"),
        ("other", f"POST {path}", "admin role required"),
    ]
    answer = refused(registry, path, None, 422, "invalid_request", data=BROKEN)
    assert error_paths(answer) == ["/body"]
    assert "JSON" in answer["details"]["errors"][0]["message"]


def test_an_oversized_registry_body_is_413(registry):
    registry.hub.settings.max_body_bytes, limit = 1000, registry.hub.settings.max_body_bytes
    try:
        refused(
            registry, "/v1/agencies", {"code": "x.y", "name": "n" * 2000}, 413, "payload_too_large"
        )
    finally:
        registry.hub.settings.max_body_bytes = limit


# ── retry budgets ────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/services", {"code": "svc", "name": "x"}),
        ("/v1/connectors", {"name": "c1", "type": "rest", "config": {"url": "http://127.0.0.1:9"}}),
    ],
    ids=["service", "connector"],
)
def test_retry_budget_is_kept_and_listed_and_defaults_to_null(registry, path, body):
    created = post(registry, path, {**body, "retry_budget_seconds": 90.5})
    assert created.status_code == 201, created.text
    assert created.json()["retry_budget_seconds"] == 90.5
    key = body.get("code") or body.get("name")
    listed = {e.get("code") or e.get("name"): e for e in get(registry, path)}
    assert listed[key]["retry_budget_seconds"] == 90.5
    default = {k: v + "2" if k in ("code", "name") else v for k, v in body.items()}
    assert post(registry, path, default).json()["retry_budget_seconds"] is None


@pytest.mark.parametrize("budget", [0, -5, "soon", "Infinity"])
@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/services", {"code": "svc", "name": "x"}),
        ("/v1/connectors", {"name": "c1", "type": "rest", "config": {"url": "http://127.0.0.1:9"}}),
    ],
    ids=["service", "connector"],
)
def test_a_retry_budget_not_above_zero_is_422_naming_it(registry, path, body, budget):
    answer = refused(
        registry, path, {**body, "retry_budget_seconds": budget}, 422, "invalid_request"
    )
    assert error_paths(answer) == ["/body/retry_budget_seconds"]


def test_a_connector_is_updated_in_place_with_its_retry_budget_and_audited(registry):
    url = "http://127.0.0.1:9/moved"
    resp = requests.put(
        registry.url + "/v1/connectors/portal",
        timeout=30,
        json={"config": {"url": url}, "retry_budget_seconds": 600},
        headers={"Authorization": f"Bearer {registry.admin_key}"},
    )
    assert resp.status_code == 200, resp.text
    portal = {c["name"]: c for c in get(registry, "/v1/connectors")}["portal"]
    assert portal["config"] == {"url": url} and portal["retry_budget_seconds"] == 600
    with registry.hub.reader.connect() as conn:
        assert conn.execute(
            select(audit_log.c.target).where(audit_log.c.action == "update_connector")
        ).scalars().all() == ["portal"]


@pytest.mark.parametrize(
    "name, body, status, code",
    [
        ("no-such", {"config": {"url": "http://127.0.0.1:9"}}, 404, "not_found"),
        ("portal", {"config": {"url": "ftp://x"}}, 422, "schema_violation"),
        (
            "portal",
            {"config": {"url": "http://127.0.0.1:9"}, "retry_budget_seconds": 0},
            422,
            "invalid_request",
        ),
    ],
    ids=["unknown", "bad-config", "bad-budget"],
)
def test_a_refused_connector_update_changes_nothing(registry, name, body, status, code):
    listed = get(registry, "/v1/connectors")
    resp = requests.put(
        registry.url + f"/v1/connectors/{name}",
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {registry.admin_key}"},
    )
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code
    assert get(registry, "/v1/connectors") == listed
