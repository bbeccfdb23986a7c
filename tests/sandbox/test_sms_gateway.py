"""The SMS gateway simulator's own contract, over real HTTP with plain ``requests``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.sms import SmsGateway, count_segments

AUTH = ("lgsp-province", "sms-sandbox-password")  # the simulator's defaults
PHONE = "84912345678"


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    with SmsGateway(brandnames=["UBND TINH", "SO TU PHAP"]) as server:
        yield server


def sms(**changes: Any) -> dict[str, Any]:
    body = {
        "brandname": "UBND TINH",
        "phone": PHONE,
        "text": "Ho so H57-260105-00012 da co ket qua",
        "unicode": False,
        "request_id": "req-1",
    }
    return {k: v for k, v in {**body, **changes}.items() if v is not ...}


def send(gateway: SmsGateway, body: Any, auth: Any = AUTH) -> requests.Response:
    return requests.post(f"{gateway.url}/sms/send", json=body, auth=auth, timeout=5)


# --- authentication -----------------------------------------------------------------------------
@pytest.mark.parametrize("auth", [None, ("lgsp-province", "wrong"), ("other", AUTH[1])])
def test_missing_or_wrong_credentials_are_refused_401(gateway: SmsGateway, auth: Any) -> None:
    for answer in (
        send(gateway, sms(), auth),
        requests.get(f"{gateway.url}/account/balance", auth=auth, timeout=5),
    ):
        assert answer.status_code == 401
        assert answer.json()["code"] == "101"
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert gateway.received == [] and gateway.outbox == []


def test_a_garbled_basic_header_is_refused(gateway: SmsGateway) -> None:
    answer = requests.post(
        f"{gateway.url}/sms/send", json=sms(), headers={"Authorization": "Basic %%%"}, timeout=5
    )
    assert answer.status_code == 401


def test_a_locked_account_is_refused_102(gateway: SmsGateway) -> None:
    gateway.locked = True
    assert send(gateway, sms()).json()["code"] == "102"


# --- sending ------------------------------------------------------------------------------------
def test_a_valid_sms_is_sent_kept_and_recorded(gateway: SmsGateway) -> None:
    answer = send(gateway, sms())
    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == "100" and body["phone"] == PHONE and body["segments"] == 1
    (kept,) = gateway.outbox
    assert kept["message_id"] == body["message_id"] and kept["text"] == sms()["text"]
    (record,) = gateway.received
    assert record.operation == "send" and record.idempotency_key == "req-1"


def test_the_same_request_id_is_not_sent_twice(gateway: SmsGateway) -> None:
    first, again = send(gateway, sms()).json(), send(gateway, sms()).json()
    assert first == again and len(gateway.outbox) == 1
    assert len(gateway.received) == 2 and len(gateway.unique) == 1
    reused = send(gateway, sms(text="another text")).json()
    assert reused["code"] == "108"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"brandname": "UNKNOWN"}, "104"),
        ({"phone": "0912345678"}, "105"),  # the gateway wants 84…
        ({"phone": "84212345678"}, "105"),
        ({"phone": None}, "105"),
        ({"text": "  "}, "106"),
        ({"text": "Hồ sơ đã có kết quả"}, "106"),  # not GSM-7 without unicode
        ({"text": "x" * 766}, "106"),  # 6 segments > 5
        ({"request_id": ...}, "109"),
        ({"unicode": "yes"}, "109"),
    ],
)
def test_invalid_messages_are_refused_with_the_gateways_code(
    gateway: SmsGateway, changes: dict[str, Any], code: str
) -> None:
    answer = send(gateway, sms(**changes))
    assert answer.status_code == 200 and answer.json()["code"] == code
    assert gateway.outbox == [] and gateway.received == []


def test_an_invalid_number_is_quoted_in_the_refusal(gateway: SmsGateway) -> None:
    assert "84212345678" in send(gateway, sms(phone="84212345678")).json()["description"]


def test_a_body_that_is_not_a_json_object_is_109(gateway: SmsGateway) -> None:
    for body in (b"not json", b"[1]"):
        answer = requests.post(f"{gateway.url}/sms/send", data=body, auth=AUTH, timeout=5)
        assert answer.json()["code"] == "109"


def test_unicode_text_is_counted_in_ucs2_segments(gateway: SmsGateway) -> None:
    answer = send(gateway, sms(text="ạ" * 71, unicode=True)).json()
    assert answer["code"] == "100" and answer["segments"] == 2


def test_a_blocked_brandname_is_refused_104(gateway: SmsGateway) -> None:
    gateway.block("UBND TINH")
    assert send(gateway, sms()).json()["code"] == "104"
    assert send(gateway, sms(brandname="SO TU PHAP")).json()["code"] == "100"


def test_the_quota_is_spent_by_segments_and_reported(gateway: SmsGateway) -> None:
    gateway.quota = 3
    assert send(gateway, sms(text="y" * 200, request_id="a")).json()["segments"] == 2
    balance = requests.get(f"{gateway.url}/account/balance", auth=AUTH, timeout=5).json()
    assert balance == {
        "code": "100",
        "description": "Thành công",
        "quota_remaining": 1,
        "brandnames": ["UBND TINH", "SO TU PHAP"],
    }
    assert send(gateway, sms(text="y" * 200, request_id="b")).json()["code"] == "103"
    assert send(gateway, sms(request_id="c")).json()["code"] == "100"
    assert gateway.quota == 0 and len(gateway.outbox) == 2


def test_count_segments() -> None:
    assert count_segments("a" * 160, unicode=False) == 1
    assert count_segments("a" * 161, unicode=False) == 2
    assert count_segments("€" * 80, unicode=False) == 1  # extension: two septets each
    assert count_segments("€" * 81, unicode=False) == 2
    assert count_segments("ạ", unicode=False) is None
    assert count_segments("ạ" * 70, unicode=True) == 1
    assert count_segments("ạ" * 135, unicode=True) == 3


def test_other_paths_and_methods(gateway: SmsGateway) -> None:
    assert requests.get(f"{gateway.url}/sms/other", auth=AUTH, timeout=5).status_code == 404
    wrong = requests.get(f"{gateway.url}/sms/send", auth=AUTH, timeout=5)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"


# --- faults -------------------------------------------------------------------------------------
def test_the_error_code_fault_answers_in_the_gateways_shape(gateway: SmsGateway) -> None:
    gateway.set_faults(fail_next=1, error_code="99")
    answer = send(gateway, sms())
    assert answer.status_code == 200
    assert answer.json()["code"] == "99" and "bận" in answer.json()["description"]
    assert send(gateway, sms()).json()["code"] == "100"


def test_injected_failures_and_outage(gateway: SmsGateway) -> None:
    gateway.set_faults(fail_next=1, fail_status=503)
    assert send(gateway, sms()).status_code == 503
    gateway.set_faults(outage=True)
    with pytest.raises(requests.ConnectionError):
        send(gateway, sms())
    gateway.clear_faults()
    assert send(gateway, sms()).json()["code"] == "100"
    assert len(gateway.outbox) == 1


def test_it_serves_on_a_fixed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with SmsGateway(port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert send(server, sms()).json()["code"] == "100"
