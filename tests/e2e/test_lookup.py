"""Synchronous services: a citizen lookup goes through the same checks and trace, is answered
within a timeout, and never leaves a citizen ID number in clear in the trace."""

from __future__ import annotations

import json

import pytest

from hub.client import ClientError
from sandbox.soap_service import SoapService
from tests.support.partners import (
    allow,
    register_citizen_registry,
    register_sender,
    register_service,
)

pytestmark = pytest.mark.timeout(120)

LOOKUP = {"IdNumber": "001090000001", "Purpose": "Xác minh chủ hồ sơ", "OfficerId": "cb-42"}


@pytest.fixture
def soap():
    with SoapService() as server:
        yield server


@pytest.fixture
def caller(running, soap):
    admin = running.admin()
    key = register_sender(admin)
    register_service(admin, "citizen.lookup", mode="sync", schema="citizen-lookup.v1.json")
    register_citizen_registry(admin, soap.wsdl_url)
    allow(admin, "motcua", "citizen.lookup")
    return running.client(key)


def test_lookup_answers_synchronously_and_is_traced(caller):
    response = caller.call("citizen.lookup", json.dumps(LOOKUP).encode(), "application/json")
    answer = response.json()
    assert answer["Found"] is True and answer["Citizen"]["Province"] == "Tây Ninh"
    message_id = response.headers["X-LGSP-Message-Id"]
    msg = caller.json("GET", f"/v1/messages/{message_id}")
    assert [e["event"] for e in msg["events"]] == [
        "received",
        "validated",
        "routed",
        "delivering",
        "delivered",
    ]
    assert msg["status"] == "delivered" and msg["trace_intact"]
    assert "001090000001" not in json.dumps(msg)


def test_lookup_without_purpose_is_refused_before_anything_is_sent(caller, soap):
    with pytest.raises(ClientError) as refused:
        caller.call(
            "citizen.lookup", json.dumps({**LOOKUP, "Purpose": ""}).encode(), "application/json"
        )
    assert refused.value.status == 422
    assert refused.value.details["errors"][0]["path"] == "/Purpose"
    assert soap.received == []


def test_lookup_timeout_is_a_504_with_the_message_id_and_a_failed_event(caller, soap):
    soap.set_faults(latency_ms=2500)
    with pytest.raises(ClientError) as timed_out:
        caller.call("citizen.lookup", json.dumps(LOOKUP).encode(), "application/json")
    assert timed_out.value.status == 504 and timed_out.value.code == "upstream_failed"
    msg = caller.json("GET", f"/v1/messages/{timed_out.value.details['message_id']}")
    assert msg["events"][-1]["event"] == "failed"
    assert msg["events"][-1]["remote_status"] == "timeout"


def test_lookup_partner_fault_is_a_502(caller, soap):
    soap.set_faults(fail_next=1, fail_status=500)
    with pytest.raises(ClientError) as failed:
        caller.call("citizen.lookup", json.dumps(LOOKUP).encode(), "application/json")
    assert failed.value.status == 502


def test_async_service_cannot_be_called_synchronously(running, sink):
    from tests.support.partners import standard

    sender = standard(running.admin(), sink.url)
    with pytest.raises(ClientError) as wrong_mode:
        sender.call("dossier.status", b"{}", "application/json")
    assert wrong_mode.value.status == 409


def test_a_value_the_connector_cannot_encode_is_our_failure_not_the_partners(caller, soap):
    """A control character passes the JSON schema but XML 1.0 cannot carry it: the call fails
    locally (422 local_failure), nothing is sent, and the trace does not blame the partner."""
    body = json.dumps({**LOOKUP, "Purpose": "Xác minh\u0001 hồ sơ"}).encode()
    with pytest.raises(ClientError) as refused:
        caller.call("citizen.lookup", body, "application/json")
    assert (refused.value.status, refused.value.code) == (422, "local_failure")
    assert soap.received == []
    msg = caller.json("GET", f"/v1/messages/{refused.value.details['message_id']}")
    failed = msg["events"][-1]
    assert failed["event"] == "failed" and failed["error_code"] == "local_failure"
    assert failed["remote_status"] is None
