"""Unroutable messages, on both backends: a service that parks them accepts and traces them,
and they are delivered once a route that takes them appears; a service that refuses them (the
default) still answers 422 ``no_route`` and keeps nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from hub.client import ClientError
from hub.store.tables import messages
from tests.support.partners import OTHER_AGENCY, allow, dossier, register_sender
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(90)


def parked_service(admin, unroutable: str = "park") -> None:
    admin.json(
        "POST",
        "/v1/services",
        json={"code": "dossier.status", "name": "Tiến độ", "unroutable": unroutable},
    )
    allow(admin, "motcua", "dossier.status")


def route(admin, sink_url: str, name: str, **fields) -> None:
    admin.json(
        "POST",
        "/v1/connectors",
        json={"name": name, "type": "rest", "config": {"url": f"{sink_url}/{name}"}},
    )
    admin.json("POST", "/v1/routes", json={"name": name, "connector": name, **fields})


def test_a_parked_message_is_delivered_once_a_route_takes_it(running, sink):
    admin = running.admin()
    sender = running.client(register_sender(admin))
    parked_service(admin)
    body = json.dumps(dossier(1, status=9)).encode()
    accepted = sender.send("dossier.status", body, "application/json")
    trace = sender.json("GET", f"/v1/messages/{accepted['id']}")
    assert trace["status"] == "unroutable"
    assert [e["event"] for e in trace["events"]] == ["received", "validated", "unroutable"]
    # a route that does not take it releases nothing
    route(
        admin,
        sink.url,
        "other",
        service_code="dossier.status",
        condition=[{"path": "TrangThaiHoSo", "op": "eq", "value": 1}],
    )
    route(admin, sink.url, "portal", service_code="dossier.status", priority=200)
    wait_until(
        lambda: sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "delivered",
        timeout=30,
    )
    trace = sender.json("GET", f"/v1/messages/{accepted['id']}")
    events = [e["event"] for e in trace["events"]]
    assert events[:5] == ["received", "validated", "unroutable", "routed", "queued"]
    assert events[-1] == "delivered" and trace["trace_intact"]
    assert trace["events"][3]["details"]["parked_for_s"] >= 0
    sink.wait_for(1, timeout=10)
    assert [r.path for r in sink.received] == ["/portal"] and sink.received[0].body == body


def test_a_message_waits_until_every_recipient_has_a_route(running, sink):
    admin = running.admin()
    sender = running.client(register_sender(admin))
    parked_service(admin)
    route(admin, sink.url, "province", service_code="dossier.status", recipient="000.00.00.H49")
    accepted = sender.send(
        "dossier.status",
        json.dumps(dossier(2)).encode(),
        "application/json",
        recipients=["000.00.00.H49", OTHER_AGENCY],
    )
    assert sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "unroutable"
    route(admin, sink.url, "district", service_code="dossier.status", recipient=OTHER_AGENCY)
    wait_until(
        lambda: sender.json("GET", f"/v1/messages/{accepted['id']}")["status"] == "delivered",
        timeout=30,
    )
    sink.wait_for(2, timeout=10)  # the sink records a request as it answers it
    assert sorted(r.path for r in sink.received) == ["/district", "/province"]


def test_a_refusing_service_answers_no_route_and_keeps_nothing(running, sink):
    admin = running.admin()
    sender = running.client(register_sender(admin))
    parked_service(admin, unroutable="refuse")
    with pytest.raises(ClientError) as info:
        sender.send("dossier.status", json.dumps(dossier(3)).encode(), "application/json")
    assert (info.value.status, info.value.code) == (422, "no_route")
    with running.hub.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar() == 0
    # switching the service to parking applies to the next message
    admin.json("PATCH", "/v1/services/dossier.status", json={"unroutable": "park"})
    assert sender.send("dossier.status", json.dumps(dossier(4)).encode(), "application/json")
