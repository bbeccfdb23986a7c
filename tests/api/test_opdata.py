"""Operational data (``/v1/opdata``), X-Road style, on both backends: one record per exchange
with a partner that agrees exactly with what was sent — queued messages delivered to a real
sink, a synchronous call, a partner on a closed port retried until dead — pages that give each
record once, a window that is respected, health figures that agree with the records, admins
only, and a bad window refused as a structured 422."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from hub import opdata
from hub.client import HubClient
from sandbox.rest_sink import RestSink
from tests.cli.test_cli_errors import closed_port_url
from tests.support.partners import (
    allow,
    dossier,
    register_rest_route,
    register_service,
    standard,
)
from tests.support.running import RunningHub, wait_until

pytestmark = pytest.mark.timeout(60)

CCCD = "079123456789"


@dataclass
class Traffic:
    """What the test sent, and what it expects the records to say about it."""

    since: datetime
    bodies: dict[str, bytes]  # message id → the request as sent
    delivered: list[str]  # queued messages, delivered at the first attempt
    call: str  # the synchronous call's message id
    call_answer: bytes
    lost: str  # the message whose partner is on a closed port: retried, then dead
    correlated: str  # the message sent with a correlation id holding an ID number


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def get(running: RunningHub, path: str, **params: Any) -> Any:
    return running.admin().json("GET", path, params=params)


def all_records(running: RunningHub, **window: Any) -> list[dict[str, Any]]:
    page = get(running, "/v1/opdata/records", **window)
    assert page["next_records_from"] is None
    return page["records"]


@pytest.fixture
def traffic(running: RunningHub, sink: RestSink) -> Traffic:
    admin = running.admin()
    sender: HubClient = standard(admin, sink.url)
    register_service(admin, "dossier.lookup", mode="sync")
    register_rest_route(admin, sink.url, name="lookup", service="dossier.lookup", path="/lookup")
    register_service(admin, "dossier.lost")
    register_rest_route(admin, closed_port_url(), name="lost", service="dossier.lost", timeout=2)
    allow(admin, "motcua", "dossier.lookup")
    allow(admin, "motcua", "dossier.lost")
    since = datetime.now(UTC)
    bodies = {}

    def body(n: int) -> bytes:
        return json.dumps({**dossier(n), "NoiDungXuLy": "x" * 10 * n}).encode()

    delivered = []
    for n in (1, 2, 3):
        correlation = f"hs-{CCCD}" if n == 2 else None
        accepted = sender.send(
            "dossier.status", body(n), "application/json", correlation_id=correlation
        )
        delivered.append(accepted["id"])
        bodies[accepted["id"]] = body(n)
    answer = sender.call("dossier.lookup", body(4), "application/json")
    call = answer.headers["X-LGSP-Message-Id"]
    bodies[call] = body(4)
    lost = sender.send("dossier.lost", body(5), "application/json")["id"]
    bodies[lost] = body(5)
    sink.wait_for(4, timeout=20)
    wait_until(
        lambda: get(running, f"/v1/messages/{lost}")["status"] == "dead", what="a dead letter"
    )
    done = datetime.now(UTC)
    window = {"from": since.isoformat(), "limit": 1}
    wait_until(
        lambda: (
            when(get(running, "/v1/opdata/records", **window)["records_available_before"]) > done
        ),
        what="the records to settle",
    )
    return Traffic(since, bodies, delivered, call, answer.content, lost, delivered[1])


def assert_health_agrees(running: RunningHub, traffic: Traffic, records: list[dict[str, Any]]):
    since = traffic.since.isoformat()
    health = get(running, "/v1/opdata/health", **{"from": since})
    services = {s["service_code"]: s for s in health["services"]}
    assert sorted(services) == ["dossier.lookup", "dossier.lost", "dossier.status"]
    for code, service in services.items():
        mine = [r for r in records if r["service_code"] == code]
        ok = [r for r in mine if r["succeeded"]]
        failed = [r for r in mine if not r["succeeded"]]
        assert (service["successes"], service["failures"]) == (len(ok), len(failed))
        took = [
            (when(r["response_in"]) - when(r["request_out"])) / timedelta(milliseconds=1)
            for r in ok
        ]
        if took:
            assert service["latency_min_ms"] == pytest.approx(min(took), abs=0.01)
            assert service["latency_max_ms"] == pytest.approx(max(took), abs=0.01)
            assert service["latency_avg_ms"] == pytest.approx(sum(took) / len(took), abs=0.01)
        else:
            assert service["latency_avg_ms"] is None
        assert when(service["last_success_at"]) == max(
            (when(r["response_in"]) for r in ok), default=None
        )
        assert when(service["last_failure_at"]) == max(
            (when(r["response_in"]) for r in failed), default=None
        )
        assert [c["connector"] for c in service["connectors"]] == sorted(
            {r["connector"] for r in mine}
        )
    assert (services["dossier.status"]["successes"], services["dossier.lost"]["failures"]) == (3, 4)
    assert services["dossier.lost"]["dead_letters"] == health["dead_letters"] == 1
    earlier = traffic.since - timedelta(hours=1)  # no traffic then; the dead letter waits now
    idle = get(running, "/v1/opdata/health", **{"from": earlier.isoformat(), "to": since})
    assert [
        (s["service_code"], s["successes"], s["failures"], s["dead_letters"])
        for s in idle["services"]
    ] == [("dossier.lost", 0, 0, 1)]
    assert idle["services"][0]["connectors"][0]["connector"] == "lost"


def test_records_and_health_agree_exactly_with_what_was_sent(running, sink, traffic):
    records = all_records(running, **{"from": traffic.since.isoformat()})
    assert [r["response_in"] for r in records] == sorted(r["response_in"] for r in records)
    by_message: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_message.setdefault(r["message_id"], []).append(r)
    assert sorted(by_message) == sorted(traffic.bodies)
    answers = {
        rec.headers["idempotency-key"]: json.dumps(
            {"received": True, "duplicate": False, "seq": rec.seq}
        ).encode()
        for rec in sink.received
    }
    for message_id in traffic.delivered:
        (r,) = by_message[message_id]
        sent = traffic.bodies[message_id]
        assert (r["service_code"], r["connector"], r["attempt"]) == ("dossier.status", "portal", 1)
        assert (r["client_system"], r["client_agency"]) == ("motcua", "000.00.00.H49")
        assert r["succeeded"] and r["outcome"] == "delivered" and not r["synchronous"]
        assert r["message_size"] == r["request_size"] == len(sent)
        assert r["response_size"] == len(answers[message_id])
        assert (r["status_code"], r["fault_code"], r["fault_string"]) == ("201", None, None)
        assert when(r["request_in"]) <= when(r["request_out"]) <= when(r["response_in"])
        assert r["response_out"] is None
    assert by_message[traffic.correlated][0]["correlation_id"] == "hs-*********789"
    assert by_message[traffic.delivered[0]][0]["correlation_id"] == traffic.delivered[0]

    (call,) = by_message[traffic.call]
    assert call["synchronous"] and call["succeeded"] and call["service_code"] == "dossier.lookup"
    assert call["response_out"] == call["response_in"]
    assert call["request_size"] == len(traffic.bodies[traffic.call])
    assert call["response_size"] == len(traffic.call_answer)
    assert when(call["request_in"]) <= when(call["request_out"]) <= when(call["response_in"])

    lost = by_message[traffic.lost]
    assert [(r["attempt"], r["outcome"]) for r in lost] == [
        (1, "retrying"),
        (2, "retrying"),
        (3, "retrying"),
        (4, "dead"),
    ]
    for r in lost:
        assert not r["succeeded"] and r["connector"] == "lost"
        assert (r["fault_code"], r["status_code"]) == ("delivery_transient", "connection_error")
        assert r["fault_string"] and r["response_size"] is None
        assert r["request_size"] == len(traffic.bodies[traffic.lost])
    assert_health_agrees(running, traffic, records)


def test_pages_give_each_record_once_and_the_window_is_respected(running, traffic):
    since = traffic.since.isoformat()
    everything = all_records(running, **{"from": since})
    assert len(everything) == 8
    pages, cursor = [], None
    while True:
        params = {"from": since, "limit": 3, **({"next_records_from": cursor} if cursor else {})}
        page = get(running, "/v1/opdata/records", **params)
        pages.append([r["id"] for r in page["records"]])
        cursor = page["next_records_from"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [i for p in pages for i in p] == [r["id"] for r in everything]

    middle = everything[4]["response_in"]
    before = all_records(running, **{"from": since, "to": middle})
    after = all_records(running, **{"from": middle})
    assert before == [r for r in everything if when(r["response_in"]) < when(middle)]
    assert after == [r for r in everything if when(r["response_in"]) >= when(middle)]
    assert before + after == everything
    assert all_records(running, **{"from": since, "to": since}) == []
    settle = timedelta(seconds=opdata.SETTLE_SECONDS)  # rows may still be committing
    asked = datetime.now(UTC)
    page = get(running, "/v1/opdata/records", **{"from": since})
    assert asked - settle <= when(page["records_available_before"]) <= datetime.now(UTC) - settle


def test_operational_data_is_for_admins_only(running, sink):
    key = standard(running.admin(), sink.url).session.headers["Authorization"][7:]
    params = {"from": datetime.now(UTC).isoformat()}
    for path in ("/v1/opdata/records", "/v1/opdata/health"):
        anonymous = requests.get(running.url + path, params=params, timeout=30)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthenticated")
        sender = requests.get(
            running.url + path,
            params=params,
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert (sender.status_code, sender.json()["code"]) == (403, "forbidden")


def test_a_bad_window_is_a_structured_422_naming_the_parameter(running):
    now = datetime.now(UTC)
    windows = [
        ({"from": now.isoformat(), "to": (now - timedelta(seconds=1)).isoformat()}, "to"),
        ({"from": (now + timedelta(hours=1)).isoformat()}, "from"),
        ({"from": (now - timedelta(days=32)).isoformat()}, "from"),
        ({"from": "2026-11-25T08:00:00"}, "from"),  # no time zone
        ({"from": now.isoformat(), "to": "2026-11-25T08:00:00"}, "to"),
        ({}, "from"),
    ]
    pages = [
        ({"from": now.isoformat(), "next_records_from": "yesterday"}, "next_records_from"),
        ({"from": now.isoformat(), "next_records_from": "9" * 19 + "-1"}, "next_records_from"),
        ({"from": now.isoformat(), "limit": 1001}, "limit"),
    ]
    cases = [(path, *w) for path in ("records", "health") for w in windows]
    cases += [("records", *p) for p in pages]
    for path, params, field in cases:
        resp = requests.get(
            f"{running.url}/v1/opdata/{path}",
            params=params,
            timeout=30,
            headers={"Authorization": f"Bearer {running.admin_key}"},
        )
        assert resp.status_code == 422, (path, params, resp.text)
        body = resp.json()
        assert body["code"] == "invalid_request", body
        assert [e["path"] for e in body["details"]["errors"]] == [f"/query/{field}"], (path, body)
