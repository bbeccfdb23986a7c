"""Bad input over real HTTP: every refusal is a structured ``{"code", "message", "details"}`` with
the exact status, never a stack trace, and leaves nothing behind — no message, delivery, outbox,
event or idempotency row, and nothing reaches the partner. Refusals of a caller (401/403) are
recorded as denials. Runs on SQLite + embedded broker and on PostgreSQL + RabbitMQ."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event, func, select

from hub.context import Hub
from hub.store.tables import (
    deliveries,
    denials,
    idempotency_keys,
    message_events,
    messages,
    outbox,
)
from sandbox.rest_sink import RestSink
from tests.conftest import delete_queues, make_settings, open_hub
from tests.support.partners import (
    allow,
    dossier,
    register_rest_route,
    register_sender,
    register_service,
    standard,
)
from tests.support.running import RunningHub, start_hub, wait_until

pytestmark = pytest.mark.timeout(60)

TRAFFIC = (messages, deliveries, outbox, message_events, idempotency_keys)
XML_SERVICE = "xml.free"  # application/xml, no schema
LIMIT = 1024
PASSWD_LINE = next(
    (line for line in Path("/etc/passwd").read_text().splitlines() if line.startswith("root:")),
    "root:x:0:0:",
)

XXE = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<x>&e;</x>'
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10))
    + b"]>\n<lolz>&lol9;</lolz>"
)
XINCLUDE = (
    b'<?xml version="1.0"?>\n<x xmlns:xi="http://www.w3.org/2001/XInclude">'
    b'<xi:include href="file:///etc/passwd" parse="text"/></x>'
)
# A real edXML sample (edoc_new.edxml of the VXP SDK) starts with "1212" before "<?xml".
STRAY_PREFIX = (
    b'1212<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<edXML:edXMLEnvelope xmlns:edXML="http://www.e-doc.vn/Schema/">'
    b"<edXML:edXMLHeader/></edXML:edXMLEnvelope>"
)


# ── helpers ──────────────────────────────────────────────────────────────────────────────


def traffic(hub: Hub) -> dict[str, int]:
    with hub.engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TRAFFIC
        }


def denial_rows(hub: Hub) -> list[Any]:
    """The recorded denials, once the recorder has written what it holds (it batches)."""
    hub.denials.flush()
    with hub.engine.connect() as conn:
        return conn.execute(select(denials).order_by(denials.c.id)).all()


def assert_error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The exact status, the structured body, and no stack trace."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip()
    assert isinstance(body["details"], dict)
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return body


@dataclass
class Env:
    running: RunningHub
    sink: RestSink
    key: str

    @property
    def hub(self) -> Hub:
        return self.running.hub

    def submit(
        self,
        service: str,
        body: Any,
        content_type: str | None = "application/json",
        key: str | None = "",
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> requests.Response:
        """POST /v1/messages; ``key=""`` means the sender's key, ``None`` no key at all."""
        h = dict(headers or {})
        if content_type:
            h["Content-Type"] = content_type
        key = self.key if key == "" else key
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        return requests.post(
            self.running.url + "/v1/messages",
            data=body,
            headers=h,
            params={"service": service, **(params or {})},
            timeout=30,
        )

    def get(self, path: str, key: str | None = None, **params: Any) -> requests.Response:
        return requests.get(
            self.running.url + path,
            params=params,
            timeout=30,
            headers={"Authorization": f"Bearer {key or self.key}"},
        )

    def refused(
        self,
        status: int,
        code: str,
        service: str,
        body: Any,
        content_type: str | None = "application/json",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Submit, expect the refusal, and prove nothing was stored or delivered."""
        before = traffic(self.hub)
        answer = assert_error(self.submit(service, body, content_type, **kwargs), status, code)
        assert traffic(self.hub) == before, "a refused request left rows behind"
        assert self.sink.request_count == 0
        return answer


def prepare(running: RunningHub, sink: RestSink) -> Env:
    """``motcua`` may send ``dossier.status`` (JSON schema) and ``xml.free`` (XML, no schema),
    both routed to the sink."""
    admin = running.admin()
    sender = standard(admin, sink.url)
    register_service(admin, XML_SERVICE, schema=None, content_type="application/xml")
    register_rest_route(admin, sink.url, name="xml-sink", service=XML_SERVICE, path="/xml")
    allow(admin, "motcua", XML_SERVICE)
    return Env(running, sink, sender.session.headers["Authorization"][7:])


@pytest.fixture
def env(running, sink) -> Env:
    return prepare(running, sink)


@pytest.fixture
def limited(backend, tmp_path, request, sink) -> Iterator[Env]:
    """A hub whose body limit is ``LIMIT`` bytes."""
    hub = open_hub(make_settings(backend, tmp_path, request, max_body_bytes=LIMIT))
    running = start_hub(hub)
    try:
        yield prepare(running, sink)
    finally:
        running.stop()
        delete_queues(hub)
        hub.close()


def _status(env: Env, message_id: str) -> str:
    return env.get(f"/v1/messages/{message_id}").json()["status"]


def _accepted(resp: requests.Response) -> str:
    assert resp.status_code == 202, resp.text
    return resp.json()["id"]


# ── malformed bodies ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "body",
    [b"{bad", b"", b'{"MaHoSo": "x",}', b"\xff\xfe{}"],
    ids=["truncated", "empty", "trailing-comma", "not-utf8"],
)
def test_malformed_json_is_400_malformed_input_and_stores_nothing(env, body):
    answer = env.refused(400, "malformed_input", "dossier.status", body)
    assert answer["details"]["reason"]


def test_malformed_xml_is_400_naming_the_line_and_stores_nothing(env):
    body = b'<?xml version="1.0"?>\n<a>\n  <b>\n</a>\n'
    answer = env.refused(400, "malformed_input", XML_SERVICE, body, "application/xml")
    assert answer["details"]["line"] == 4
    assert "b" in answer["details"]["reason"]


def test_stray_bytes_before_the_xml_declaration_are_400_malformed_input_not_500(env):
    answer = env.refused(400, "malformed_input", XML_SERVICE, STRAY_PREFIX, "application/xml")
    assert answer["details"]["line"] == 1


def test_deeply_nested_json_is_400_malformed_input_not_500(env, request):
    env.refused(400, "malformed_input", "dossier.status", b"[" * 100_000)


# ── schema violations ────────────────────────────────────────────────────────────────────


SCHEMA_CASES = {
    "wrong-type": ({**dossier(1), "TrangThaiHoSo": "4"}, "TrangThaiHoSo", "/TrangThaiHoSo"),
    "out-of-range": ({**dossier(1), "TrangThaiHoSo": 11}, "TrangThaiHoSo", "/TrangThaiHoSo"),
    "missing-required": (
        {k: v for k, v in dossier(1).items() if k != "MaHoSo"},
        "MaHoSo",
        "/MaHoSo",
    ),
    "additional-property": ({**dossier(1), "Extra": 1}, "Extra", "/Extra"),
}


@pytest.mark.parametrize("case", list(SCHEMA_CASES))
def test_schema_violation_is_422_naming_the_field_and_stores_nothing(env, case):
    document, field, _ = SCHEMA_CASES[case]
    answer = env.refused(422, "schema_violation", "dossier.status", json.dumps(document).encode())
    assert answer["details"]["schema"] == "dossier-status.v1.json"
    errors = answer["details"]["errors"]
    assert errors and all(e["path"].startswith("/") and e["message"] for e in errors)
    assert any(field in e["path"] or repr(field) in e["message"] for e in errors), errors


def test_wrong_type_error_path_is_the_json_pointer_of_the_field(env):
    answer = env.refused(
        422,
        "schema_violation",
        "dossier.status",
        json.dumps(SCHEMA_CASES["wrong-type"][0]).encode(),
    )
    assert [e["path"] for e in answer["details"]["errors"]] == ["/TrangThaiHoSo"]


@pytest.mark.parametrize("case", ["missing-required", "additional-property"])
def test_required_and_additional_property_errors_point_at_the_field(env, case):
    document, _, pointer = SCHEMA_CASES[case]
    answer = env.refused(422, "schema_violation", "dossier.status", json.dumps(document).encode())
    assert pointer in [e["path"] for e in answer["details"]["errors"]]


def test_message_that_no_route_takes_is_422_no_route_and_stores_nothing(env):
    admin = env.running.admin()
    register_service(admin, "unrouted", schema=None)
    allow(admin, "motcua", "unrouted")
    env.refused(422, "no_route", "unrouted", json.dumps(dossier(1)).encode())


# ── size limits ──────────────────────────────────────────────────────────────────────────


def test_body_at_the_limit_is_accepted(limited):
    document = json.dumps(dossier(1)).encode()
    body = document + b" " * (LIMIT - len(document))
    message_id = _accepted(limited.submit("dossier.status", body))
    wait_until(lambda: _status(limited, message_id) == "delivered", what="delivery")


def test_declared_content_length_over_the_limit_is_413_without_reading_the_body(limited):
    before = traffic(limited.hub)
    host, port = limited.running.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/messages?service=dossier.status HTTP/1.1\r\n"
            b"Host: hub\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + limited.key.encode() + b"\r\n"
            b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n"
        )
        raw = b""
        while chunk := conn.recv(65536):  # the hub answers although the body never comes
            raw += chunk
    head, _, payload = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert json.loads(payload)["code"] == "payload_too_large"
    assert traffic(limited.hub) == before


def test_declared_content_length_over_the_limit_is_413_payload_too_large(limited):
    answer = limited.refused(413, "payload_too_large", "dossier.status", b"x" * (LIMIT + 1))
    assert answer["details"]["limit"] == LIMIT


def test_chunked_body_growing_past_the_limit_is_413_payload_too_large(limited):
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b" " * 300

    answer = limited.refused(413, "payload_too_large", "dossier.status", chunks())
    assert answer["details"]["limit"] == LIMIT


# ── hostile XML ──────────────────────────────────────────────────────────────────────────


def test_xxe_is_400_hostile_input_and_never_reveals_the_file(env):
    before = traffic(env.hub)
    resp = env.submit(XML_SERVICE, XXE, "application/xml")
    answer = assert_error(resp, 400, "hostile_input")
    assert answer["details"]["reason"] == "dtd_forbidden"
    assert PASSWD_LINE not in resp.text
    assert traffic(env.hub) == before and env.sink.request_count == 0


def test_xxe_in_utf16_is_400_hostile_input(env):
    body = XXE.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    resp = env.submit(XML_SERVICE, body.encode("utf-16"), "application/xml")
    assert_error(resp, 400, "hostile_input")
    assert PASSWD_LINE not in resp.text
    assert traffic(env.hub)["messages"] == 0 and env.sink.request_count == 0


def test_billion_laughs_is_400_hostile_input_quickly(env):
    started = time.monotonic()
    env.refused(400, "hostile_input", XML_SERVICE, BILLION_LAUGHS, "application/xml")
    assert time.monotonic() - started < 5, "entities were expanded"


PADDING = b"<!--" + b"x" * 5000 + b"-->\n"


@pytest.mark.parametrize(
    "document",
    [
        XXE,
        BILLION_LAUGHS,
    ],
    ids=["xxe", "billion-laughs"],
)
def test_doctype_behind_a_long_prolog_is_still_400_hostile_input(env, document):
    declaration, _, rest = document.partition(b"\n")
    started = time.monotonic()
    resp = env.submit(XML_SERVICE, declaration + b"\n" + PADDING + rest, "application/xml")
    assert time.monotonic() - started < 5
    assert resp.status_code == 400 and PASSWD_LINE not in resp.text
    assert traffic(env.hub)["messages"] == 0
    assert_error(resp, 400, "hostile_input")


def test_xinclude_is_passed_through_unprocessed(env):
    """The hub never runs XInclude: the element is ordinary content, stored and delivered
    byte-for-byte, and the referenced file is never read."""
    message_id = _accepted(env.submit(XML_SERVICE, XINCLUDE, "application/xml"))
    wait_until(lambda: _status(env, message_id) == "delivered", what="delivery")
    delivered = env.sink.wait_for(1)[0]
    assert delivered.body == XINCLUDE and PASSWD_LINE.encode() not in delivered.body
    with env.hub.engine.connect() as conn:
        stored = conn.execute(select(messages.c.payload)).scalar_one()
    assert stored == XINCLUDE
    trace = env.get(f"/v1/messages/{message_id}").text
    assert PASSWD_LINE not in trace


# ── unknown service, content type ────────────────────────────────────────────────────────


def test_unknown_service_is_403_like_any_service_without_a_rule_and_stores_nothing(env):
    """Whether a service exists is not told to a system without an access rule for it."""
    answer = env.refused(403, "forbidden", "no.such.service", json.dumps(dossier(1)).encode())
    assert answer["details"]["service"] == "no.such.service"


def test_json_body_to_an_xml_service_is_415_naming_the_service_type(env):
    answer = env.refused(
        415, "unsupported_media_type", XML_SERVICE, b'{"a": 1}', "application/json"
    )
    assert answer["details"]["accepted"] == ["application/xml"]


def test_xml_body_to_a_json_service_is_415(env):
    env.refused(415, "unsupported_media_type", "dossier.status", b"<a/>", "application/xml")


@pytest.mark.parametrize("content_type", ["text/plain", None], ids=["text-plain", "missing"])
def test_unsupported_content_type_is_415_listing_the_accepted_types(env, content_type):
    answer = env.refused(
        415,
        "unsupported_media_type",
        "dossier.status",
        json.dumps(dossier(1)).encode(),
        content_type,
    )
    assert "application/json" in answer["details"]["accepted"]


def test_missing_service_parameter_is_422_invalid_request(env):
    before = traffic(env.hub)
    resp = requests.post(
        env.running.url + "/v1/messages",
        data=b"{}",
        timeout=30,
        headers={"Authorization": f"Bearer {env.key}", "Content-Type": "application/json"},
    )
    answer = assert_error(resp, 422, "invalid_request")
    assert [e["path"] for e in answer["details"]["errors"]] == ["/query/service"]
    assert traffic(env.hub) == before


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v1/no-such-thing", 404),
        ("DELETE", "/v1/messages", 405),
    ],
    ids=["unknown-path", "wrong-method"],
)
def test_unknown_path_or_method_is_answered_with_the_structured_error_body(
    env, method, path, status
):
    resp = requests.request(
        method, env.running.url + path, timeout=30, headers={"Authorization": f"Bearer {env.key}"}
    )
    assert resp.status_code == status
    body = resp.json()
    assert set(body) == {"code", "message", "details"}, body
    assert isinstance(body["code"], str) and body["code"]
    if status == 404:
        assert body["code"] == "not_found"


@pytest.mark.parametrize(
    "where", ["idempotency-key", "correlation-id", "content-type", "recipient"]
)
def test_overlong_envelope_values_are_refused_with_a_4xx(env, where):
    headers, params, content_type = {}, {}, "application/json"
    if where == "idempotency-key":
        headers["Idempotency-Key"] = "k" * 300
    elif where == "correlation-id":
        headers["X-Correlation-Id"] = "c" * 300
    elif where == "content-type":
        content_type = "application/json; profile=" + "p" * 150
    else:
        params["recipient"] = "r" * 100
    before = traffic(env.hub)
    resp = env.submit(
        "dossier.status",
        json.dumps(dossier(1)).encode(),
        content_type,
        headers=headers,
        params=params,
    )
    assert 400 <= resp.status_code < 500, resp.text
    assert_error(resp, resp.status_code, resp.json()["code"])
    assert traffic(env.hub) == before


# ── authentication ───────────────────────────────────────────────────────────────────────


def test_missing_malformed_or_unknown_api_key_is_401_and_each_is_a_denial(env):
    real_prefix = env.key.split("_")[1]
    presented = {
        "missing": None,
        "empty-bearer": None,
        "malformed": "not-a-key",
        "malformed-prefix": "lgsp_short_" + "x" * 43,
        "unknown": "lgsp_deadbeef_" + "x" * 43,
        "wrong-secret": f"lgsp_{real_prefix}_" + "x" * 43,
    }
    for name, key in presented.items():
        before = len(denial_rows(env.hub))
        headers = {"Authorization": "Bearer "} if name == "empty-bearer" else {}
        answer = env.refused(
            401,
            "unauthenticated",
            "dossier.status",
            json.dumps(dossier(1)).encode(),
            key=key,
            headers=headers,
        )
        assert env.key not in json.dumps(answer)
        rows = denial_rows(env.hub)
        assert len(rows) == before + 1, name
        assert rows[-1].system_code is None and rows[-1].reason
        assert rows[-1].action == "POST /v1/messages"


def test_unauthenticated_request_to_a_long_path_is_401_and_still_a_denial(env, request):
    resp = requests.get(env.running.url + "/v1/messages/" + "x" * 120, timeout=30)
    assert_error(resp, 401, "unauthenticated")
    rows = denial_rows(env.hub)
    assert len(rows) == 1 and rows[0].action.startswith("GET /v1/messages/")


def test_x_api_key_header_authenticates_like_bearer(env):
    resp = requests.post(
        env.running.url + "/v1/messages",
        params={"service": "dossier.status"},
        data=json.dumps(dossier(1)),
        timeout=30,
        headers={"X-API-Key": env.key, "Content-Type": "application/json"},
    )
    _accepted(resp)


# ── authorisation ────────────────────────────────────────────────────────────────────────


def _short_sqlite_lock_wait(hub: Hub) -> None:
    """On SQLite, wait 0.5 s instead of 30 s for a lock, so a self-deadlock fails fast."""
    if hub.engine.dialect.name == "sqlite":

        @event.listens_for(hub.engine, "connect")
        def _fast(dbapi_conn, _record) -> None:
            dbapi_conn.execute("PRAGMA busy_timeout=500")


def test_system_without_an_access_rule_is_403_and_a_denial_names_system_and_service(env, request):
    if env.hub.engine.dialect.name == "sqlite":
        _short_sqlite_lock_wait(env.hub)
    other = register_sender(env.running.admin(), "other")
    answer = env.refused(
        403, "forbidden", "dossier.status", json.dumps(dossier(1)).encode(), key=other
    )
    assert answer["details"]["service"] == "dossier.status"
    rows = denial_rows(env.hub)
    assert [(r.system_code, r.service_code, r.reason) for r in rows] == [
        ("other", "dossier.status", "no access rule")
    ]


def test_non_admin_system_is_403_on_admin_endpoints_and_each_is_a_denial(env):
    calls = [
        ("POST", "/v1/agencies", {"code": "000.00.99.H49", "name": "x"}),
        ("GET", "/v1/dead-letters", None),
        ("POST", "/v1/dead-letters/x/replay", {"reason": "try"}),
        ("POST", "/v1/dead-letters/x/discard", {"reason": "try"}),
        ("GET", "/v1/systems", None),
    ]
    for method, path, body in calls:
        resp = requests.request(
            method,
            env.running.url + path,
            json=body,
            timeout=30,
            headers={"Authorization": f"Bearer {env.key}"},
        )
        assert_error(resp, 403, "forbidden")
        last = denial_rows(env.hub)[-1]
        assert (last.system_code, last.action) == ("motcua", f"{method} {path}")
    assert len(denial_rows(env.hub)) == len(calls)
    agencies = env.running.admin().json("GET", "/v1/agencies")
    assert "000.00.99.H49" not in [a["code"] for a in agencies]


# ── dead letters ─────────────────────────────────────────────────────────────────────────


def _admin_post(env: Env, path: str, body: Any = None) -> requests.Response:
    return requests.post(
        env.running.url + path,
        json=body,
        timeout=30,
        headers={"Authorization": f"Bearer {env.running.admin_key}"},
    )


def test_replay_of_a_delivered_delivery_is_409_conflict_and_changes_nothing(env):
    message_id = _accepted(env.submit("dossier.status", json.dumps(dossier(1)).encode()))
    wait_until(lambda: _status(env, message_id) == "delivered", what="delivery")
    delivery = env.get(f"/v1/messages/{message_id}").json()["deliveries"][0]["id"]
    before = traffic(env.hub)
    answer = assert_error(
        _admin_post(env, f"/v1/dead-letters/{delivery}/replay", {"reason": "again"}),
        409,
        "conflict",
    )
    assert answer["details"]["status"] == "delivered"
    assert traffic(env.hub) == before
    assert _status(env, message_id) == "delivered" and len(env.sink.received) == 1


def test_replay_of_an_unknown_delivery_is_404(env):
    before = traffic(env.hub)
    assert_error(_admin_post(env, "/v1/dead-letters/01234567-no-such/replay"), 404, "not_found")
    assert traffic(env.hub) == before


def test_discard_without_a_reason_is_422_and_the_delivery_stays_dead(env):
    env.sink.set_faults(fail_next=1, fail_status=400)
    message_id = _accepted(env.submit("dossier.status", json.dumps(dossier(1)).encode()))
    wait_until(lambda: _status(env, message_id) == "dead", what="dead letter")
    delivery = env.get(f"/v1/messages/{message_id}").json()["deliveries"][0]["id"]
    before = traffic(env.hub)
    path = f"/v1/dead-letters/{delivery}/discard"
    for body, code in [
        (None, "invalid_request"),
        ({}, "invalid_request"),
        ({"reason": ""}, "invalid_request"),
        ({"reason": "   "}, "schema_violation"),
    ]:
        answer = assert_error(_admin_post(env, path, body), 422, code)
        assert any(
            e["path"].endswith("reason") or e["path"] == "/body"
            for e in answer["details"]["errors"]
        ), answer
    assert traffic(env.hub) == before
    assert _status(env, message_id) == "dead"


# ── visibility ───────────────────────────────────────────────────────────────────────────


def test_a_system_cannot_read_or_find_another_systems_message(env):
    admin = env.running.admin()
    other_key = register_sender(admin, "other")
    allow(admin, "other", "dossier.status")
    mine = _accepted(env.submit("dossier.status", json.dumps(dossier(1)).encode()))
    theirs = _accepted(env.submit("dossier.status", json.dumps(dossier(2)).encode(), key=other_key))
    assert_error(env.get(f"/v1/messages/{theirs}"), 404, "not_found")
    assert_error(env.get(f"/v1/messages/{mine}", key=other_key), 404, "not_found")
    assert [m["id"] for m in env.get("/v1/messages").json()["items"]] == [mine]
    assert [m["id"] for m in env.get("/v1/messages", key=other_key).json()["items"]] == [theirs]
    assert env.get("/v1/messages", sender="other").json()["items"] == []
    everything = env.get("/v1/messages", key=env.running.admin_key).json()["items"]
    assert {m["id"] for m in everything} == {mine, theirs}


# ── query validation ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": 0}, "/query/limit"),
        ({"limit": 10000}, "/query/limit"),
        ({"limit": "ten"}, "/query/limit"),
        ({"since": "yesterday"}, "/query/since"),
    ],
    ids=["limit-0", "limit-10000", "limit-text", "since-text"],
)
def test_invalid_search_parameters_are_422_invalid_request_naming_the_parameter(env, params, field):
    answer = assert_error(env.get("/v1/messages", **params), 422, "invalid_request")
    assert [e["path"] for e in answer["details"]["errors"]] == [field]
    assert all(e["message"] for e in answer["details"]["errors"])
