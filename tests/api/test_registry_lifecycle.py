"""The registry's whole lifecycle through the admin API, on both backends: every kind can be
shown, updated, disabled, enabled and deleted; a delete of something still referenced is
refused naming the references; disabling stops use without losing anything queued; a key can
be rotated with a grace period or revoked at once; every change is audited with who and why."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import func, select

from hub.client import ClientError, HubClient
from hub.store.tables import audit_log, deliveries, denials
from tests.support.partners import AGENCY, allow, dossier, register_sender, standard
from tests.support.running import RunningHub, wait_until

pytestmark = pytest.mark.timeout(90)

ENTRIES = {  # kind path → an entry of it that ``standard`` registers
    "agencies": AGENCY,
    "systems": "motcua",
    "services": "dossier.status",
    "access-rules": "motcua/dossier.status",
    "connectors": "portal",
    "routes": "route-portal",
}


def refused(call, code: str) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    assert info.value.code == code, (info.value.code, info.value.message)
    return info.value


def audited(running: RunningHub, action: str) -> list[tuple[str, str | None, str | None]]:
    with running.hub.reader.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.target, audit_log.c.reason)
            .where(audit_log.c.action == action)
            .order_by(audit_log.c.id)
        ).all()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("path", list(ENTRIES))
def test_every_kind_can_be_shown_disabled_and_enabled_with_the_reason_audited(running, sink, path):
    admin = running.admin()
    standard(admin, sink.url)
    entry = ENTRIES[path]
    shown = admin.json("GET", f"/v1/{path}/{entry}")
    flag = "active" if path == "systems" else "enabled"
    assert shown[flag] is True
    assert (
        admin.json("POST", f"/v1/{path}/{entry}/disable", params={"reason": "maintenance"})[flag]
        is False
    )
    assert admin.json("GET", f"/v1/{path}/{entry}")[flag] is False
    assert admin.json("POST", f"/v1/{path}/{entry}/enable")[flag] is True
    label = {"access-rules": "access_rule"}.get(path, path[:-1].replace("agencie", "agency"))
    assert audited(running, f"disable_{label}") == [("lgsp-admin", entry, "maintenance")]
    assert audited(running, f"enable_{label}") == [("lgsp-admin", entry, None)]
    refused(lambda: admin.json("GET", f"/v1/{path}/no-such-{path}"), "not_found")


def test_update_changes_only_the_given_fields_and_checks_the_result_whole(running, sink):
    admin = running.admin()
    standard(admin, sink.url)
    changed = admin.json(
        "PATCH",
        "/v1/services/dossier.status",
        json={"name": "Tiến độ hồ sơ", "retry_budget_seconds": 600},
        params={"reason": "renamed by the department"},
    )
    assert (changed["name"], changed["retry_budget_seconds"], changed["mode"]) == (
        "Tiến độ hồ sơ",
        600,
        "async",
    )
    assert audited(running, "update_service") == [
        (
            "lgsp-admin",
            "dossier.status",
            "renamed by the department; fields: name, retry_budget_seconds",
        )
    ]
    # each refusal names the field, and changes nothing
    for body, code, path in (
        ({"mode": "weird"}, "schema_violation", "/mode"),
        ({"request_schema": "nope.json"}, "unknown_reference", "/request_schema"),
        ({"code": "renamed"}, "invalid_request", "/body/code"),
        ({"name": None}, "schema_violation", "/name"),
    ):
        error = refused(
            lambda b=body: admin.json("PATCH", "/v1/services/dossier.status", json=b), code
        )
        assert path in {e["path"] for e in error.details["errors"]}, error.details
    assert admin.json("GET", "/v1/services/dossier.status")["name"] == "Tiến độ hồ sơ"
    error = refused(
        lambda: admin.json("PATCH", "/v1/routes/route-portal", json={"connector": "ghost"}),
        "unknown_reference",
    )
    assert error.details["errors"][0]["path"] == "/connector"
    admin.json(
        "POST", "/v1/agencies", json={"code": "000.01.00.H49", "name": "Sở", "parent_code": AGENCY}
    )
    refused(
        lambda: admin.json(
            "PATCH", f"/v1/agencies/{AGENCY}", json={"parent_code": "000.01.00.H49"}
        ),
        "schema_violation",
    )
    assert admin.json("PATCH", "/v1/connectors/portal", json={"config": {"url": sink.url + "/p2"}})[
        "config"
    ] == {"url": sink.url + "/p2"}


def test_deleting_what_is_still_referenced_is_refused_naming_the_references(running, sink):
    admin = running.admin()
    standard(admin, sink.url)
    for path, refs in (
        ("agencies/" + AGENCY, ["system motcua"]),
        ("systems/motcua", ["access rule motcua/dossier.status"]),
        ("services/dossier.status", ["access rule motcua/dossier.status", "route route-portal"]),
        ("connectors/portal", ["route route-portal"]),
    ):
        error = refused(lambda p=path: admin.request("DELETE", f"/v1/{p}"), "conflict")
        assert error.details["references"] == refs
    # in the order the references allow, everything goes, each delete audited
    for path, entry in reversed(list(ENTRIES.items())):
        if path == "connectors":
            continue  # after its route
        admin.request("DELETE", f"/v1/{path}/{entry}", params={"reason": "province merged"})
        if path == "routes":
            admin.request("DELETE", "/v1/connectors/portal")
    for path, entry in ENTRIES.items():
        refused(lambda p=path, e=entry: admin.json("GET", f"/v1/{p}/{e}"), "not_found")
    assert ("lgsp-admin", AGENCY, "province merged") in audited(running, "delete_agency")


def test_a_connector_with_deliveries_not_finished_cannot_be_deleted(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    admin.request("POST", "/v1/connectors/portal/disable")
    accepted = sender.send("dossier.status", _body(1), "application/json")
    admin.request("DELETE", "/v1/routes/route-portal")
    error = refused(lambda: admin.request("DELETE", "/v1/connectors/portal"), "conflict")
    assert error.details["references"] == ["1 deliveries not finished (queued, retrying or dead)"]
    admin.request("POST", "/v1/connectors/portal/enable")
    wait_until(
        lambda: sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "delivered"
    )
    admin.request("DELETE", "/v1/connectors/portal")


def test_a_disabled_connector_keeps_its_queue_waiting_and_loses_nothing(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    admin.request("POST", "/v1/connectors/portal/disable", params={"reason": "partner upgrade"})
    ids = [sender.send("dossier.status", _body(n), "application/json")["id"] for n in range(5)]
    time.sleep(2.0)  # the worker had every chance to deliver
    assert sink.received == []
    with running.hub.reader.connect() as conn:
        attempts = conn.execute(select(func.sum(deliveries.c.attempts))).scalar()
    assert not attempts, "a disabled connector spends no attempt"
    admin.request("POST", "/v1/connectors/portal/enable")
    wait_until(
        lambda: all(
            sender.json("GET", f"/v1/messages/{message_id}")["status"] == "delivered"
            for message_id in ids
        ),
        timeout=30,
    )
    sink.wait_for(5, timeout=10, unique=True)  # the sink records a request as it answers it


def test_a_sync_call_to_a_disabled_connector_is_503_upstream_paused(running, sink):
    admin = running.admin()
    key = register_sender(admin)
    admin.json("POST", "/v1/services", json={"code": "lookup", "name": "lookup", "mode": "sync"})
    allow(admin, "motcua", "lookup")
    admin.json(
        "POST",
        "/v1/connectors",
        json={"name": "registry", "type": "rest", "config": {"url": sink.url + "/x"}},
    )
    admin.json(
        "POST", "/v1/routes", json={"name": "r", "connector": "registry", "service_code": "lookup"}
    )
    admin.request("POST", "/v1/connectors/registry/disable")
    response = requests.post(
        f"{running.url}/v1/services/lookup/call",
        data=b'{"a": 1}',
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "upstream_paused" and response.headers["Retry-After"]
    assert sink.received == []


def test_disabled_service_rule_system_and_agency_each_refuse_the_sender(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    for path, status, code in (
        ("services/dossier.status", 403, "disabled"),
        ("access-rules/motcua/dossier.status", 403, "forbidden"),
        ("systems/motcua", 401, "unauthenticated"),
        (f"agencies/{AGENCY}", 401, "unauthenticated"),
    ):
        admin.request("POST", f"/v1/{path}/disable")
        error = refused(lambda: sender.send("dossier.status", _body(1), "application/json"), code)
        assert error.status == status
        admin.request("POST", f"/v1/{path}/enable")
        sender.send("dossier.status", _body(2), "application/json")  # works again at once
    running.hub.denials.flush()
    with running.hub.reader.connect() as conn:
        reasons = set(conn.execute(select(denials.c.reason)).scalars())
    assert {
        "service disabled",
        "no access rule",
        "system deactivated",
        "agency disabled",
    } <= reasons


def test_deliveries_queued_through_a_route_wait_while_it_is_disabled(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    running.stop_worker()
    accepted = sender.send("dossier.status", _body(1), "application/json")
    admin.request("POST", "/v1/routes/route-portal/disable")
    running.start_worker()
    time.sleep(2.0)
    assert sink.received == []
    assert sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "queued"
    admin.request("POST", "/v1/routes/route-portal/enable")
    wait_until(
        lambda: sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "delivered",
        timeout=30,
    )


def test_a_disabled_route_takes_no_new_messages(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    admin.request("POST", "/v1/routes/route-portal/disable")
    error = refused(lambda: sender.send("dossier.status", _body(1), "application/json"), "no_route")
    assert error.status == 422
    admin.request("POST", "/v1/routes/route-portal/enable")
    sender.send("dossier.status", _body(2), "application/json")
    sink.wait_for(1, timeout=20)


def test_a_rotated_key_leaves_the_old_one_valid_for_its_grace_period_only(running, sink):
    admin = running.admin()
    old = HubClient(running.url, standard(admin, sink.url).key)
    rotated = admin.json(
        "POST",
        "/v1/systems/motcua/rotate-key",
        json={"grace_seconds": 2},
        params={"reason": "yearly"},
    )
    new = HubClient(running.url, rotated["api_key"])
    assert rotated["previous_key_until"] and rotated["key_prefix"] != rotated["previous_key_prefix"]
    assert "key_hash" not in rotated and "previous_key_hash" not in rotated
    old.send("dossier.status", _body(1), "application/json")
    new.send("dossier.status", _body(2), "application/json")
    time.sleep(2.2)
    refused(lambda: old.send("dossier.status", _body(3), "application/json"), "unauthenticated")
    new.send("dossier.status", _body(4), "application/json")
    # a rotation without grace refuses the previous key at once
    newer = HubClient(
        running.url,
        admin.json("POST", "/v1/systems/motcua/rotate-key", json={"grace_seconds": 0})["api_key"],
    )
    refused(lambda: new.send("dossier.status", _body(5), "application/json"), "unauthenticated")
    newer.send("dossier.status", _body(6), "application/json")
    running.hub.denials.flush()
    with running.hub.reader.connect() as conn:
        reasons = set(conn.execute(select(denials.c.reason)).scalars())
    assert "API key replaced (its grace period is over)" in reasons
    assert audited(running, "rotate_key")[0] == ("lgsp-admin", "motcua", "yearly; grace_s: 2")


def test_a_revoked_key_is_refused_at_once_with_its_grace_key_until_a_rotation(running, sink):
    admin = running.admin()
    old = HubClient(running.url, standard(admin, sink.url).key)
    new = HubClient(
        running.url, admin.json("POST", "/v1/systems/motcua/rotate-key", json={})["api_key"]
    )
    revoked = admin.json("POST", "/v1/systems/motcua/revoke-key", params={"reason": "leaked"})
    assert revoked["key_revoked_at"]
    for client in (old, new):
        refused(
            lambda c=client: c.send("dossier.status", _body(1), "application/json"),
            "unauthenticated",
        )
    fresh = admin.json("POST", "/v1/systems/motcua/rotate-key", json={"grace_seconds": 3600})
    assert fresh["previous_key_prefix"] is None, "a revoked key does not come back"
    HubClient(running.url, fresh["api_key"]).send("dossier.status", _body(2), "application/json")
    refused(lambda: new.send("dossier.status", _body(3), "application/json"), "unauthenticated")
    running.hub.denials.flush()
    with running.hub.reader.connect() as conn:
        assert "API key revoked" in set(conn.execute(select(denials.c.reason)).scalars())
    assert audited(running, "revoke_key") == [("lgsp-admin", "motcua", "leaked")]


def test_the_only_admin_cannot_lock_itself_out(running):
    admin = running.admin()
    for method, path, body in (
        ("POST", "/v1/systems/lgsp-admin/disable", None),
        ("POST", "/v1/systems/lgsp-admin/revoke-key", None),
        ("DELETE", "/v1/systems/lgsp-admin", None),
        ("PATCH", "/v1/systems/lgsp-admin", {"role": "system"}),
    ):
        refused(lambda m=method, p=path, b=body: admin.request(m, p, json=b), "conflict")
    admin.json("GET", "/v1/systems/lgsp-admin")  # still the admin, still working
    second = admin.json(
        "POST",
        "/v1/systems",
        json={"code": "ops", "agency_code": "lgsp-hub", "name": "Ops", "role": "admin"},
    )
    admin.request("POST", "/v1/systems/lgsp-admin/disable")
    HubClient(running.url, second["api_key"]).json("GET", "/v1/systems")


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/services/dossier.status"),
        ("PATCH", "/v1/services/dossier.status"),
        ("POST", "/v1/services/dossier.status/disable"),
        ("DELETE", "/v1/services/dossier.status"),
        ("POST", "/v1/systems/motcua/rotate-key"),
        ("POST", "/v1/systems/motcua/revoke-key"),
    ],
)
def test_lifecycle_routes_refuse_a_system_and_the_keyless_before_reading_the_body(
    running, sink, method, path
):
    admin = running.admin()
    sender = standard(admin, sink.url)
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {sender.key}"}, 403)):
        response = requests.request(
            method, running.url + path, data=b"{not json", headers=headers, timeout=30
        )
        assert response.status_code == status, response.text
    assert admin.json("GET", "/v1/services/dossier.status")["enabled"] is True
    assert admin.json("GET", "/v1/systems/motcua")["key_revoked_at"] is None


def _body(n: int) -> bytes:
    import json

    return json.dumps(dossier(n)).encode()
