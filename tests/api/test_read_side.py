"""The read side (``hub.trace``) through the API: a message's trace, search, dead letters,
denials and the audit log. What a caller supplied — envelope headers, correlation, causation
and idempotency keys — is shown masked, while filtering by its exact stored value still works;
lists are pages, newest first. Runs on SQLite + embedded broker and PostgreSQL + RabbitMQ."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.support.partners import dossier, register_sender, standard
from tests.support.running import RunningHub, wait_until

pytestmark = pytest.mark.timeout(90)

CCCD = "079123456789"
MASKED = "*********789"


def get(running: RunningHub, path: str, key: str | None = None, **params: Any) -> Any:
    resp = requests.get(
        running.url + path,
        params=params,
        timeout=30,
        headers={"Authorization": f"Bearer {key or running.admin_key}"},
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def submit(running: RunningHub, key: str, n: int, **headers: str) -> str:
    resp = requests.post(
        running.url + "/v1/messages",
        params={"service": "dossier.status"},
        data=json.dumps(dossier(n)),
        timeout=30,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers},
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


def key_of(client) -> str:
    return client.session.headers["Authorization"][7:]


@pytest.fixture
def sender(running, sink) -> str:
    return key_of(standard(running.admin(), sink.url))


def test_caller_supplied_values_are_masked_in_the_trace_and_in_search(running, sender):
    supplied = {
        "X-Correlation-Id": f"hs-{CCCD}",
        "X-Causation-Id": f"cmnd {CCCD}",
        "Idempotency-Key": f"nop-{CCCD}",
        "X-LGSP-Citizen": CCCD,
    }
    message_id = submit(running, sender, 1, **supplied)
    plain = submit(running, sender, 2)
    shown = get(running, f"/v1/messages/{message_id}", sender)
    assert shown["correlation_id"] == f"hs-{MASKED}"
    assert shown["causation_id"] == f"cmnd {MASKED}"
    assert shown["idempotency_key"] == f"nop-{MASKED}"
    assert shown["headers"]["x-lgsp-citizen"] == MASKED
    assert shown["trace_intact"] is True, shown["trace_problems"]
    assert [e["event"] for e in shown["events"]][:3] == ["received", "validated", "routed"]
    found = get(running, "/v1/messages", sender, correlation_id=f"hs-{CCCD}")["items"]
    assert [m["id"] for m in found] == [message_id]
    for answer in (shown, found):
        assert CCCD not in json.dumps(answer)
    # the hub's own id, used as the correlation id when none is given, is shown as it is
    assert get(running, f"/v1/messages/{plain}", sender)["correlation_id"] == plain


def test_search_pages_newest_first_with_a_cursor(running, sender):
    ids = [submit(running, sender, n) for n in range(1, 4)]
    first = get(running, "/v1/messages", sender, limit=2)
    assert [m["id"] for m in first["items"]] == ids[:0:-1]
    second = get(running, "/v1/messages", sender, limit=2, cursor=first["next_cursor"])
    assert [m["id"] for m in second["items"]] == ids[:1] and second["next_cursor"] is None


def test_dead_letters_are_listed_and_a_discard_reason_is_masked_in_the_audit_log(
    running, sink, sender
):
    sink.set_faults(fail_next=2, fail_status=400)
    ids = [submit(running, sender, n) for n in (1, 2)]
    page = wait_until(
        lambda: (p := get(running, "/v1/dead-letters"))["items"][1:] and p, what="two dead letters"
    )
    assert [d["message_id"] for d in page["items"]] == ids[::-1]
    assert {d["service_code"] for d in page["items"]} == {"dossier.status"}
    one = get(running, "/v1/dead-letters", limit=1)
    assert len(one["items"]) == 1 and one["next_cursor"] == one["items"][0]["id"]
    delivery = page["items"][0]["id"]
    resp = requests.post(
        f"{running.url}/v1/dead-letters/{delivery}/discard",
        timeout=30,
        json={"reason": f"citizen {CCCD} asked to withdraw"},
        headers={"Authorization": f"Bearer {running.admin_key}"},
    )
    assert resp.status_code == 200, resp.text
    entries = get(running, "/v1/audit-log", action="discard_dead_letter")["items"]
    assert [(e["target"], e["reason"]) for e in entries] == [
        (delivery, f"citizen {MASKED} asked to withdraw")
    ]
    trace = get(running, f"/v1/messages/{ids[1]}")
    assert CCCD not in json.dumps(trace) and trace["status"] == "discarded"


def test_the_audit_log_pages_newest_first_and_filters(running, sender):
    everything = get(running, "/v1/audit-log", limit=500)["items"]
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert {"register_agency", "register_system", "register_route"} <= {
        e["action"] for e in everything
    }
    systems = get(running, "/v1/audit-log", action="register_system")["items"]
    assert [(e["target"], e["actor"]) for e in systems] == [
        ("motcua", "lgsp-admin"),
        ("lgsp-admin", "bootstrap"),
    ]
    first = get(running, "/v1/audit-log", limit=2)
    second = get(running, "/v1/audit-log", limit=2, cursor=first["next_cursor"])
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything[:4]]


def test_denials_are_listed_folded_masked_and_only_for_admins(running, sender):
    for _ in range(2):
        assert requests.get(running.url + "/v1/messages", timeout=30).status_code == 401
    unknown = requests.post(
        f"{running.url}/v1/services/{CCCD}/call",
        data=b"{}",
        timeout=30,
        headers={"Authorization": f"Bearer {sender}", "Content-Type": "application/json"},
    )
    assert unknown.status_code == 403, unknown.text
    other = register_sender(running.admin(), "other")
    refused = requests.get(
        running.url + "/v1/denials", timeout=30, headers={"Authorization": f"Bearer {other}"}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    running.hub.denials.flush()
    page = get(running, "/v1/denials")
    rows = [
        (d["system_code"], d["service_code"], d["action"], d["reason"], d["count"])
        for d in page["items"]
    ]
    assert rows == [
        ("other", None, "GET /v1/denials", "admin role required", 1),
        ("motcua", MASKED, "call", "no access rule", 1),
        (None, None, "GET /v1/messages", "no API key", 2),
    ]
    assert CCCD not in json.dumps(page)
    mine = get(running, "/v1/denials", system="motcua")["items"]
    assert [d["reason"] for d in mine] == ["no access rule"]
    assert get(running, "/v1/denials", service=CCCD)["items"] == mine
    first = get(running, "/v1/denials", limit=1)
    rest = get(running, "/v1/denials", limit=5, cursor=first["next_cursor"])
    assert [d["id"] for d in first["items"] + rest["items"]] == [d["id"] for d in page["items"]]


@pytest.mark.parametrize("path", ["/v1/denials", "/v1/audit-log"])
@pytest.mark.parametrize(
    "params, field",
    [
        ({"cursor": "abc"}, "/query/cursor"),
        ({"limit": 0}, "/query/limit"),
        ({"since": "yesterday"}, "/query/since"),
    ],
    ids=["cursor", "limit", "since"],
)
def test_invalid_list_parameters_are_422_naming_the_parameter(running, path, params, field):
    resp = requests.get(
        running.url + path,
        params=params,
        timeout=30,
        headers={"Authorization": f"Bearer {running.admin_key}"},
    )
    assert resp.status_code == 422, resp.text
    assert [e["path"] for e in resp.json()["details"]["errors"]] == [field]
