"""W3C Trace Context end to end, on both backends: the caller's ``traceparent`` is answered
with the hub's span of the same trace, kept with the message, and continued by the worker —
later, through the broker — in the partner's request (a span of its own per attempt); every
log line about the delivery carries the message id, the correlation id and the trace. A
``traceparent`` that is not valid costs the caller nothing: a new trace is started."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest

from hub import logs, tracecontext
from sandbox.soap_service import SoapService
from tests.support.partners import (
    allow,
    dossier,
    register_citizen_registry,
    register_sender,
    register_service,
    standard,
)
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(120)


def a_trace() -> tuple[str, str, str]:
    """A caller's trace-id, parent-id and ``traceparent``."""
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, parent_id, f"00-{trace_id}-{parent_id}-01"


def submit(client, body: bytes, **headers: str):
    response = client.request(
        "POST",
        "/v1/messages",
        params={"service": "dossier.status"},
        data=body,
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 202, response.text
    return response.json()["id"], tracecontext.parse(response.headers["traceparent"])


def status(client, message_id: str) -> str:
    return client.json("GET", f"/v1/messages/{message_id}")["status"]


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The hub's log as JSON lines, from every thread (the worker's included), at DEBUG for
    the delivery attempt."""
    out = io.StringIO()
    handler = logs.handler("json", out)
    root, attempts = logging.getLogger(), logging.getLogger("hub.attempt")
    root.addHandler(handler)
    level = attempts.level
    attempts.setLevel(logging.DEBUG)
    yield out
    attempts.setLevel(level)
    root.removeHandler(handler)


def test_the_callers_trace_reaches_the_partner_and_every_log_line_of_the_delivery(
    running, sink, log_lines
):
    sender = standard(running.admin(), sink.url)
    trace_id, parent_id, traceparent = a_trace()
    sink.set_faults(fail_next=1, fail_status=503)  # two attempts: two spans of the trace
    message_id, answered = submit(
        sender,
        json.dumps(dossier(1)).encode(),
        traceparent=traceparent,
        tracestate="lgsp=t61rcWkgMzE",
        **{"X-Correlation-Id": "case-42"},
    )
    assert answered.trace_id == trace_id and answered.span_id != parent_id

    wait_until(lambda: status(sender, message_id) == "delivered", what="delivery")
    (received,) = sink.wait_for(1)
    sent = tracecontext.parse(received.headers["traceparent"], received.headers["tracestate"])
    assert sent.trace_id == trace_id and sent.state == "lgsp=t61rcWkgMzE"
    assert sent.span_id not in (parent_id, answered.span_id)

    entries = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    failed, delivered = (
        e for e in entries if e.get("message_id") == message_id and e["logger"] == "hub.attempt"
    )
    assert "attempt 1 via portal failed" in failed["message"] and failed["level"] == "INFO"
    assert delivered["message"].startswith("attempt 2 via portal: 20")
    for entry in (failed, delivered):
        assert entry["correlation_id"] == "case-42" and entry["trace_id"] == trace_id
    assert delivered["span_id"] == sent.span_id != failed["span_id"]


@pytest.mark.parametrize(
    "invalid",
    [f"00-{'0' * 32}-{secrets.token_hex(8)}-01", "00-not-a-trace-01"],
    ids=["zero-trace-id", "malformed"],
)
def test_an_invalid_traceparent_is_ignored_and_a_new_trace_started(running, sink, invalid):
    sender = standard(running.admin(), sink.url)
    message_id, answered = submit(
        sender, json.dumps(dossier(2)).encode(), traceparent=invalid, tracestate="lgsp=1"
    )
    assert answered is not None and answered.trace_id != "0" * 32
    wait_until(lambda: status(sender, message_id) == "delivered", what="delivery")
    (received,) = sink.wait_for(1)
    assert tracecontext.parse(received.headers["traceparent"]).trace_id == answered.trace_id
    assert "tracestate" not in received.headers  # it goes only with a valid traceparent


def test_a_synchronous_soap_call_carries_the_callers_trace(running):
    admin = running.admin()
    key = register_sender(admin)
    register_service(admin, "citizen.lookup", mode="sync", schema="citizen-lookup.v1.json")
    with SoapService() as soap:
        register_citizen_registry(admin, soap.wsdl_url)
        allow(admin, "motcua", "citizen.lookup")
        trace_id, parent_id, traceparent = a_trace()
        lookup = {"IdNumber": "001090000001", "Purpose": "Xác minh chủ hồ sơ", "OfficerId": "cb-42"}
        response = running.client(key).call(
            "citizen.lookup",
            json.dumps(lookup).encode(),
            "application/json",
            headers={"traceparent": traceparent},
        )
        assert response.json()["Found"] is True
        answered = tracecontext.parse(response.headers["traceparent"])
        (call,) = [r for r in soap.received if r.operation == "LookupCitizen"]
    sent = tracecontext.parse(call.headers["traceparent"])
    assert answered.trace_id == sent.trace_id == trace_id
    assert len({parent_id, answered.span_id, sent.span_id}) == 3
