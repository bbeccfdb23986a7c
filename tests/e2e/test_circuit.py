"""Retries that outlast an outage, on both backends: a partner down for 60 s under load loses
nothing and dead-letters nothing — its circuit opens, the queue waits without spending attempts,
a probe finds the partner back and the queue drains by itself; a poison message among good ones
is dead-lettered alone; a delivery whose retry budget is spent is dead-lettered as such."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, select

from hub.store.tables import deliveries
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

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def patient(backend, tmp_path, request) -> Iterator[RunningHub]:
    """A hub with the production retry policy (no count limit, a time budget) sped up: the
    circuit opens after 3 consecutive failures and probes every 2 s."""
    hub = open_hub(
        make_settings(
            backend,
            tmp_path,
            request,
            retry_max_attempts=0,
            retry_base_seconds=0.5,
            retry_max_seconds=4.0,
            circuit_failure_threshold=3,
            circuit_probe_seconds=2.0,
        )
    )
    running = start_hub(hub)
    yield running
    running.stop()
    delete_queues(hub)
    hub.close()


def _counts(hub) -> dict[str, int]:
    with hub.reader.connect() as conn:
        return dict(
            conn.execute(
                select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
            ).all()
        )


def _send_all(sender, numbers, ids: list[str]) -> None:
    for n in numbers:
        ids.append(
            sender.send("dossier.status", json.dumps(dossier(n)).encode(), "application/json")["id"]
        )


def test_partner_down_60s_under_load_loses_nothing_and_dead_letters_nothing(patient, sink):
    sender = standard(patient.admin(), sink.url)
    total, clients = 200, 4
    sink.set_faults(outage=True)
    down_at = time.monotonic()
    ids: list[str] = []
    threads = [
        threading.Thread(target=_send_all, args=(sender, range(i, total, clients), ids))
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == total
    time.sleep(max(0.0, 60 - (time.monotonic() - down_at)))
    attempts_while_down = sink.request_count
    listed = {c["name"]: c for c in patient.admin().json("GET", "/v1/connectors")}
    assert listed["portal"]["circuit"]["state"] in ("open", "half_open")
    assert listed["portal"]["circuit"]["failures"] >= 3
    ready = requests.get(patient.url + "/readyz", timeout=10)
    assert ready.status_code == 200  # a failing partner does not make the hub unready
    assert ready.json()["details"]["circuits"]["portal"]["state"] in ("open", "half_open")
    sink.clear_faults()
    wait_until(
        lambda: _counts(patient.hub).get("delivered") == total,
        timeout=120,
        what=f"{total} deliveries after the partner came back",
    )
    assert _counts(patient.hub) == {"delivered": total}
    assert len(sink.unique) == total
    # The circuit kept the queue waiting: far fewer attempts than messages while down (a
    # retry per message per backoff would be thousands), and none of them spent on dead ends.
    assert attempts_while_down < total / 2, attempts_while_down
    admin = patient.admin()
    traces = [admin.json("GET", f"/v1/messages/{mid}")["events"] for mid in ids]
    kinds = [e["event"] for events in traces for e in events]
    assert "dead" not in kinds
    assert kinds.count("circuit_opened") >= 1 and kinds.count("circuit_closed") >= 1
    opened = next(e for events in traces for e in events if e["event"] == "circuit_opened")
    assert opened["connector"] == "portal" and opened["details"]["threshold"] == 3


def test_a_poison_message_among_good_ones_is_dead_lettered_alone(patient, sink):
    sender = standard(patient.admin(), sink.url)
    sink.set_faults(fail_next=1, fail_status=400)  # the first request is refused for good
    ids: list[str] = []
    _send_all(sender, range(100), ids)
    wait_until(
        lambda: (
            sum(_counts(patient.hub).values()) == 100
            and _counts(patient.hub).get("delivered", 0) == 99
        ),
        timeout=60,
        what="99 delivered and one dead",
    )
    assert _counts(patient.hub) == {"delivered": 99, "dead": 1}
    dead = patient.admin().json("GET", "/v1/dead-letters")["items"]
    assert len(dead) == 1 and dead[0]["remote_status"] == "400"
    circuit = patient.hub.circuits.state("portal")  # a permanent failure says nothing of it
    assert circuit is None or circuit["state"] == "closed"


def test_a_spent_retry_budget_dead_letters_with_the_reason(backend, tmp_path, request, sink):
    hub = open_hub(
        make_settings(
            backend,
            tmp_path,
            request,
            retry_max_attempts=0,
            retry_base_seconds=0.2,
            retry_max_seconds=0.5,
            circuit_failure_threshold=1000,
        )
    )
    running = start_hub(hub)
    try:
        admin = running.admin()
        sender = standard(admin, sink.url)
        admin.json(
            "POST",
            "/v1/services",
            json={
                "code": "dossier.urgent",
                "name": "urgent",
                "request_schema": None,
                "retry_budget_seconds": 2,
            },
        )
        admin.json(
            "POST",
            "/v1/access-rules",
            json={"system_code": "motcua", "service_code": "dossier.urgent"},
        )
        admin.json(
            "POST",
            "/v1/routes",
            json={"name": "urgent", "connector": "portal", "service_code": "dossier.urgent"},
        )
        sink.set_faults(error_rate=1.0, fail_status=503)
        urgent = sender.send("dossier.urgent", b"{}", "application/json")["id"]
        normal = sender.send("dossier.status", json.dumps(dossier(1)).encode(), "application/json")[
            "id"
        ]
        wait_until(
            lambda: sender.json("GET", f"/v1/messages/{urgent}")["status"] == "dead",
            timeout=30,
            what="the urgent message's budget to run out",
        )
        events = sender.json("GET", f"/v1/messages/{urgent}")["events"]
        assert events[-1]["details"]["reason"] == "retry budget of 2 s spent"
        assert sum(e["event"] == "retrying" for e in events) >= 2
        # the default budget (24 h) keeps the other message retrying
        assert sender.json("GET", f"/v1/messages/{normal}")["status"] == "retrying"
    finally:
        running.stop()
        delete_queues(hub)
        hub.close()


def test_a_synchronous_call_to_a_failing_partner_is_paused_then_resumes(patient, sink):
    admin = patient.admin()
    key = register_sender(admin)
    register_service(admin, "catalogue.query", mode="sync", schema=None)
    register_rest_route(admin, sink.url, name="catalogue", service="catalogue.query")
    allow(admin, "motcua", "catalogue.query")

    def call() -> requests.Response:
        return requests.post(
            f"{patient.url}/v1/services/catalogue.query/call",
            data=b"{}",
            timeout=30,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )

    sink.set_faults(outage=True)
    assert [call().status_code for _ in range(3)] == [502, 502, 502]
    paused = call()
    assert paused.status_code == 503 and paused.json()["code"] == "upstream_paused"
    assert int(paused.headers["Retry-After"]) >= 1
    sink.clear_faults()
    wait_until(lambda: call().status_code == 200, timeout=15, what="the probe to close it")
    assert call().status_code == 200
