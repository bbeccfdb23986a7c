"""``/metrics`` through a running hub: the scraped numbers equal what was sent and what the
operational data says (trace, search, dead letters, denials); a scrape reads no store; the
metrics need the admin key unless they are public; denial reasons stay a bounded label set.
Runs on SQLite + embedded broker and PostgreSQL + RabbitMQ."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from hub.metrics import MAX_REASONS
from tests.conftest import delete_queues, make_settings, open_hub
from tests.support.partners import dossier, standard
from tests.support.running import RunningHub, start_hub, wait_until

pytestmark = pytest.mark.timeout(90)

SERVICE = "dossier.status"
CONNECTOR = "portal"  # tests.support.partners.register_rest_route's
CLOSING = {"delivered", "retrying", "failed", "dead"}  # the events that close an attempt

Samples = dict[tuple[str, frozenset], float]


@pytest.fixture
def settings(backend, tmp_path, request):
    """Sampled every 0.2 s; one transient failure opens a circuit, probed after 2 s."""
    return make_settings(
        backend,
        tmp_path,
        request,
        metrics_sample_seconds=0.2,
        circuit_failure_threshold=1,
        circuit_probe_seconds=2.0,
    )


def scrape(running: RunningHub, **headers: str) -> Samples:
    resp = requests.get(
        running.url + "/metrics",
        timeout=30,
        headers=headers or {"Authorization": f"Bearer {running.admin_key}"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def get(running: RunningHub, path: str, **params: Any) -> Any:
    return running.admin().json("GET", path, params=params)


def submit(running: RunningHub, key: str, n: int) -> tuple[str, int]:
    """Send dossier ``n``; returns its id and its size."""
    body = json.dumps(dossier(n)).encode()
    resp = requests.post(
        running.url + "/v1/messages",
        params={"service": SERVICE},
        data=body,
        timeout=30,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["id"], len(body)


@pytest.fixture
def sender(running, sink) -> str:
    return standard(running.admin(), sink.url).session.headers["Authorization"][7:]


def test_the_scraped_numbers_agree_with_what_was_sent(running, sink, sender):
    sink.set_faults(fail_next=1, fail_status=400)  # the first message: refused for good, dead
    sent = [submit(running, sender, 1)]
    wait_until(
        lambda: value(scrape(running), "lgsp_dead_letters", connector=CONNECTOR) == 1,
        what="one dead letter",
    )
    # the next attempt fails once more, transiently: it opens the circuit until a probe passes
    sink.set_faults(fail_next=1, fail_status=503)
    sent += [submit(running, sender, n) for n in (2, 3, 4)]
    # open for as long as the probe takes: the counter says it happened, whenever scraped
    wait_until(
        lambda: value(scrape(running), "lgsp_circuit_opened_total", connector=CONNECTOR) == 1,
        what="the circuit opened",
    )
    sink.wait_for(3, timeout=30, unique=True)
    refused = requests.post(
        running.url + "/v1/messages",
        params={"service": SERVICE},
        data=b"{}",
        timeout=30,
        headers={"Authorization": "Bearer lgsp_not_a_key", "Content-Type": "application/json"},
    )
    assert refused.status_code == 401, refused.text
    [dead] = get(running, "/v1/dead-letters")["items"]
    running.admin().json("POST", f"/v1/dead-letters/{dead['id']}/replay", json={"reason": "ok"})
    sink.wait_for(4, timeout=30, unique=True)

    def settled() -> Samples | None:
        samples = scrape(running)
        ready = (
            value(samples, "lgsp_deliveries_total", connector=CONNECTOR, outcome="delivered") == 4
            and value(samples, "lgsp_queue_depth", connector=CONNECTOR) == 0
            and value(samples, "lgsp_dead_letters", connector=CONNECTOR) == 0
            and value(samples, "lgsp_circuit_state", connector=CONNECTOR) == 0
        )
        return samples if ready else None

    samples = wait_until(settled, what="every delivery settled and sampled")

    def messages(status: str) -> float | None:
        return value(samples, "lgsp_messages_total", service=SERVICE, status=status)

    assert (messages("received"), messages("delivered"), messages("dead")) == (4, 4, 1)
    assert messages("failed") is None
    outcomes = {
        dict(labels)["outcome"]: v
        for (name, labels), v in samples.items()
        if name == "lgsp_deliveries_total"
    }
    assert outcomes == {"delivered": 4, "retrying": 1, "dead": 1}
    assert value(samples, "lgsp_payload_bytes_count", service=SERVICE) == 4
    assert value(samples, "lgsp_payload_bytes_sum", service=SERVICE) == sum(s for _, s in sent)
    assert total(samples, "lgsp_denials_total") == 1
    assert value(samples, "lgsp_denials_total", reason="unknown API key") == 1

    # the operational data says the same: each attempt's duration in the trace, the search,
    # the dead letters and the denials
    durations = [
        e["duration_ms"]
        for message_id, _ in sent
        for e in get(running, f"/v1/messages/{message_id}")["events"]
        if e["event"] in CLOSING and e["duration_ms"] is not None
    ]
    assert len(durations) == 6  # 1 dead + 1 replayed, 1 retried + 1, 2 at once
    assert value(samples, "lgsp_delivery_seconds_count", connector=CONNECTOR) == 6
    assert value(samples, "lgsp_delivery_seconds_sum", connector=CONNECTOR) == pytest.approx(
        sum(durations) / 1000
    )
    delivered = get(running, "/v1/messages", status="delivered")["items"]
    assert sorted(m["id"] for m in delivered) == sorted(i for i, _ in sent)
    assert len(sink.unique) == 4
    assert get(running, "/v1/dead-letters")["items"] == []
    denials = wait_until(lambda: get(running, "/v1/denials")["items"], what="the denial written")
    assert [(d["reason"], d["count"]) for d in denials] == [("unknown API key", 1)]


def test_a_scrape_reads_no_store(running, sink, sender):
    submit(running, sender, 1)
    sink.wait_for(1, timeout=30)
    scrape(running)  # the admin key is in the registry cache from now on; the sampler runs
    seen: list[tuple[str, str]] = []

    def statement(conn, cursor, sql, parameters, context, executemany) -> None:
        seen.append((threading.current_thread().name, sql))

    event.listen(running.hub.engine, "before_cursor_execute", statement)
    try:
        # scrape until the listener has seen the sampler read the store (so it would see a
        # scrape do it too)
        samples = wait_until(
            lambda: (s := scrape(running)) and any(t == "metrics-sampler" for t, _ in seen) and s,
            what="a sample taken while scraping",
        )
    finally:
        event.remove(running.hub.engine, "before_cursor_execute", statement)
    serving = {running.thread.name, "AnyIO worker thread"}  # the event loop, its thread pool
    assert [sql for thread, sql in seen if thread in serving] == []
    assert value(samples, "lgsp_messages_total", service=SERVICE, status="received") == 1


def test_the_metrics_need_the_admin_key(running, sender):
    none = requests.get(running.url + "/metrics", timeout=30)
    assert none.status_code == 401
    assert none.json()["code"] == "unauthenticated" and set(none.json()) == {
        "code",
        "message",
        "details",
    }
    not_admin = requests.get(running.url + "/metrics", timeout=30, headers={"X-API-Key": sender})
    assert not_admin.status_code == 403 and not_admin.json()["code"] == "forbidden"
    samples = scrape(running, **{"X-API-Key": running.admin_key})
    assert value(samples, "lgsp_denials_total", reason="no API key") == 1
    assert value(samples, "lgsp_denials_total", reason="admin role required") == 1


def test_public_metrics_need_no_key(backend, tmp_path, request):
    hub = open_hub(make_settings(backend, tmp_path, request, metrics_public=True))
    running = start_hub(hub, worker=False)
    try:
        resp = requests.get(running.url + "/metrics", timeout=30)
        assert resp.status_code == 200, resp.text
        assert "lgsp_sampled_at_seconds" in resp.text
    finally:
        running.stop()
        delete_queues(hub)
        hub.close()


def test_denial_reasons_stay_a_bounded_label_set(hub):
    hub.denials.add(None, None, "submit", "unsigned from 000.00.00.H49", None)
    hub.denials.add(None, None, "submit", "may not send documents as 000.00.11.H49", None)
    for n in range(2 * MAX_REASONS):  # values an attacker chose, with no digit in them
        hub.denials.add(None, None, "submit", "may not send documents as " + "x" * n, None)
    body, _ = hub.metrics.render()
    [family] = [
        f for f in text_string_to_metric_families(body.decode()) if f.name == "lgsp_denials"
    ]
    counted = {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")}
    assert counted["unsigned from"] == 1
    assert counted["may not send documents as"] == 2  # the coded one and the empty one
    assert len(counted) == MAX_REASONS + 1  # and "other"
    assert sum(counted.values()) == 2 + 2 * MAX_REASONS
