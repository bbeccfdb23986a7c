"""The sms connector against the SMS gateway simulator over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.sms import SmsConnector, mask_phone, normalise_phone, segments
from hub.connector import DeliveryResult, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.rest_sink import RestSink
from sandbox.server import SandboxRequest, SandboxResponse
from sandbox.sms import SmsGateway

USERNAME, PASSWORD, BRANDNAME = "ubnd-hue", "sms-7d2f-password", "UBND HUE"
PHONE = "0912345678"
OWNER = "Nguyễn Văn An"
TEMPLATES = {
    "dossier-done": "Hồ sơ {MaHoSo} của ông/bà {ChuHoSo}: {TrangThaiTen}. Hẹn trả {NgayHenTra}.",
    "dossier-received": "UBND tỉnh đã tiếp nhận hồ sơ {MaHoSo}.",
    "braces": "{{MaHoSo}} = {MaHoSo}",
}
PARAMS = {
    "MaHoSo": "000.00.12.H57-260105-00012",
    "ChuHoSo": OWNER,
    "TrangThaiTen": "Đã trả kết quả",
    "NgayHenTra": "15/01/2026",
}
# every form the number could leak in
PHONE_FORMS = ("0912345678", "84912345678", "912345678", "912 345 678", "0912 345 678")

MakeConnector = Callable[..., SmsConnector]


@pytest.fixture
def gateway() -> Iterator[SmsGateway]:
    with SmsGateway(username=USERNAME, password=PASSWORD, brandnames=[BRANDNAME]) as server:
        yield server


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "sms.password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.fixture
def make_connector(password_file: Path) -> Iterator[MakeConnector]:
    made: list[SmsConnector] = []

    def make(url: str, **config: Any) -> SmsConnector:
        base = {
            "url": url,
            "username": USERNAME,
            "password_file": str(password_file),
            "brandname": BRANDNAME,
            "templates": TEMPLATES,
            "default_template": "dossier-done",
            "timeout_seconds": 2,
        }
        connector = SmsConnector("sms", {**base, **config})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(body: Any = None, **fields: Any) -> OutboundMessage:
    if body is None:
        body = {"phone": PHONE, "template": "dossier-done", "params": PARAMS}
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    base = OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.12.H57",
        sender_system="onestop",
        service="dossier.notify-sms",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )
    return replace(base, **fields)


def leaks(*things: Any) -> list[str]:
    """The phone forms and the owner's name found in ``things`` (errors, results, bytes)."""
    parts = []
    for thing in things:
        if isinstance(thing, DeliveryError):
            parts += [str(thing), str(thing.remote_status), repr(thing.as_dict())]
        elif isinstance(thing, DeliveryResult):
            parts += [str(thing.remote_status), repr(thing.details), thing.response.decode()]
        else:
            parts.append(str(thing))
    text = "\n".join(parts)
    return [v for v in (*PHONE_FORMS, OWNER) if v in text]


# --- success ----------------------------------------------------------------------------------
def test_a_template_is_rendered_with_diacritics_and_sent_as_unicode(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    outbound = message()
    result = make_connector(gateway.url).deliver(outbound)
    (sms,) = gateway.outbox
    assert sms["text"] == (
        "Hồ sơ 000.00.12.H57-260105-00012 của ông/bà Nguyễn Văn An: Đã trả kết quả. "
        "Hẹn trả 15/01/2026."
    )
    assert sms["unicode"] is True and sms["brandname"] == BRANDNAME
    assert sms["phone"] == "84912345678" and sms["request_id"] == outbound.id
    assert result.remote_status == "code:100"
    assert result.details["to"] == "*******678"
    assert result.details["template"] == "dossier-done"
    assert result.details["message_id"] == sms["message_id"]
    assert result.details["segments"] == sms["segments"] == 2
    assert leaks(result) == []


def test_ascii_only_strips_diacritics_and_sends_gsm7(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    result = make_connector(gateway.url, ascii_only=True).deliver(message())
    (sms,) = gateway.outbox
    assert sms["text"] == (
        "Ho so 000.00.12.H57-260105-00012 cua ong/ba Nguyen Van An: Da tra ket qua. "
        "Hen tra 15/01/2026."
    )
    assert sms["unicode"] is False and result.details["encoding"] == "gsm7"
    assert sms["segments"] == result.details["segments"] == 1


def test_ascii_only_maps_typographic_punctuation_and_refuses_what_has_no_ascii_form(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    connector = make_connector(
        gateway.url, ascii_only=True, templates={"t": "“{X}” – {Y}…"}, default_template="t"
    )
    connector.deliver(message({"phone": PHONE, "template": "t", "params": {"X": "Đ", "Y": "ạ"}}))
    assert gateway.outbox[0]["text"] == '"D" - a...'
    with pytest.raises(LocalDeliveryError, match="U\\+1F600") as caught:
        connector.deliver(message({"phone": PHONE, "template": "t", "params": {"X": "😀", "Y": 1}}))
    assert caught.value.details["reason"] == "not_ascii"
    assert gateway.request_count == 1


def test_the_default_template_and_escaped_braces(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    connector = make_connector(gateway.url, default_template="braces")
    connector.deliver(message({"phone": PHONE, "params": {"MaHoSo": "H57-1"}}))
    assert gateway.outbox[0]["text"] == "{MaHoSo} = H57-1"


@pytest.mark.parametrize(
    "given",
    ["0912345678", "+84912345678", "84912345678", "0084912345678", "+84 912 345 678",
     "(+84) 912.345.678", "091-234-5678"],
)  # fmt: skip
def test_the_phone_is_normalised_to_the_gateways_form(
    gateway: SmsGateway, make_connector: MakeConnector, given: str
) -> None:
    body = {"phone": given, "template": "dossier-received", "params": PARAMS}
    result = make_connector(gateway.url).deliver(message(body))
    assert gateway.outbox[0]["phone"] == "84912345678"
    assert result.details["to"] == "*******678"


@pytest.mark.parametrize(
    "given",
    ["02363822123", "091234567", "09123456789", "0612345678", "+1 650 555 0100", "912345678",
     "", "abc", 912345678, None],
)  # fmt: skip
def test_an_invalid_phone_is_refused_before_anything_is_sent(
    gateway: SmsGateway, make_connector: MakeConnector, given: Any
) -> None:
    body = {"phone": given, "template": "dossier-received", "params": PARAMS}
    with pytest.raises(LocalDeliveryError) as caught:
        make_connector(gateway.url).deliver(message(body))
    assert caught.value.details["reason"] == "invalid_phone"
    assert gateway.request_count == 0
    if isinstance(given, str) and len(given) > 3:
        assert given not in repr(caught.value.as_dict())


def test_normalise_and_mask_phone() -> None:
    assert normalise_phone("0387 654 321") == "84387654321"
    assert normalise_phone("0287654321") is None  # a landline: no SMS
    assert mask_phone("+84 912 345 678") == mask_phone("0912345678") == "*******678"
    assert mask_phone("12") == mask_phone(None) == "***"


def test_redelivery_sends_one_sms(gateway: SmsGateway, make_connector: MakeConnector) -> None:
    connector, outbound = make_connector(gateway.url), message()
    first = connector.deliver(outbound)
    again = connector.deliver(replace(outbound, attempt=2))
    assert len(gateway.outbox) == 1
    assert first.details["message_id"] == again.details["message_id"]


# --- refused before sending ---------------------------------------------------------------------
def test_a_missing_placeholder_is_refused_naming_it(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "NgayHenTra"} | {"TrangThaiTen": ""}
    with pytest.raises(LocalDeliveryError) as caught:
        make_connector(gateway.url).deliver(message({"phone": PHONE, "params": params}))
    assert caught.value.details["placeholders"] == ["NgayHenTra", "TrangThaiTen"]
    assert caught.value.details["reason"] == "missing_placeholder"
    assert gateway.request_count == 0
    assert leaks(caught.value) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not_json"),
        ([PHONE], "shape"),
        ({"phone": PHONE, "params": ["x"]}, "shape"),
        ({"phone": PHONE, "template": "no-such", "params": PARAMS}, "unknown_template"),
    ],
)
def test_what_the_gateway_could_not_take_is_local(
    gateway: SmsGateway, make_connector: MakeConnector, body: Any, reason: str
) -> None:
    with pytest.raises(LocalDeliveryError) as caught:
        make_connector(gateway.url).deliver(message(body))
    assert caught.value.details["reason"] == reason
    assert gateway.request_count == 0


def test_no_template_and_no_default_is_local(
    gateway: SmsGateway, make_connector: MakeConnector, password_file: Path
) -> None:
    config = {**make_connector(gateway.url).config}
    del config["default_template"]
    connector = SmsConnector("sms", config)
    with pytest.raises(LocalDeliveryError, match="no default_template"):
        connector.deliver(message({"phone": PHONE, "params": PARAMS}))
    connector.close()


def test_the_length_is_capped_in_segments(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    long_name = {**PARAMS, "ChuHoSo": "Nguyễn " * 40}
    with pytest.raises(LocalDeliveryError) as caught:
        make_connector(gateway.url, max_segments=2).deliver(
            message({"phone": PHONE, "params": long_name})
        )
    assert caught.value.details["reason"] == "too_long"
    assert caught.value.details["segments"] > 2
    assert gateway.request_count == 0


def test_segments_are_counted_as_the_network_does() -> None:
    assert segments("a" * 160) == ("gsm7", 1)
    assert segments("a" * 161) == ("gsm7", 2)
    assert segments("a" * 306) == ("gsm7", 2) and segments("a" * 307) == ("gsm7", 3)
    assert segments("[" * 80) == ("gsm7", 1) and segments("[" * 81) == ("gsm7", 2)
    assert segments("ạ" * 70) == ("ucs2", 1) and segments("ạ" * 71) == ("ucs2", 2)
    assert segments("😀" * 35) == ("ucs2", 1)  # two UTF-16 units each


# --- the gateway's answers ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("99", TransientDeliveryError),  # system busy
        ("103", TransientDeliveryError),  # quota exceeded
        ("101", PermanentDeliveryError),  # authentication
        ("102", PermanentDeliveryError),  # account locked
        ("104", PermanentDeliveryError),  # brandname not registered / blocked
        ("105", PermanentDeliveryError),  # invalid number
        ("106", PermanentDeliveryError),  # invalid content
    ],
)
def test_the_gateways_codes_are_classed(
    gateway: SmsGateway,
    make_connector: MakeConnector,
    code: str,
    error: type[DeliveryError],
) -> None:
    gateway.set_faults(fail_next=1, error_code=code)
    with pytest.raises(error) as caught:
        make_connector(gateway.url).deliver(message())
    assert type(caught.value) is error
    assert caught.value.remote_status == f"code:{code}"
    assert caught.value.details["partner_message"]


def test_retryable_codes_are_configurable(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    gateway.set_faults(fail_next=2, error_code="104")
    with pytest.raises(TransientDeliveryError):
        make_connector(gateway.url, retryable_codes=["104"]).deliver(message())
    with pytest.raises(PermanentDeliveryError):
        make_connector(gateway.url, retryable_codes=[]).deliver(message())


def test_real_refusals_from_the_gateways_state(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    connector = make_connector(gateway.url)
    gateway.quota = 1  # the Vietnamese text takes 2 segments
    with pytest.raises(TransientDeliveryError) as quota:
        connector.deliver(message())
    assert quota.value.remote_status == "code:103"
    gateway.quota = None
    gateway.block(BRANDNAME)
    with pytest.raises(PermanentDeliveryError) as blocked:
        connector.deliver(message())
    assert blocked.value.remote_status == "code:104"
    assert "*******678" in blocked.value.message  # the gateway quoted the number: masked
    assert leaks(quota.value, blocked.value) == []
    assert gateway.outbox == []


def test_a_request_id_reused_for_another_text_is_permanent(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    connector, outbound = make_connector(gateway.url), message()
    connector.deliver(outbound)
    other = {"phone": PHONE, "template": "dossier-received", "params": PARAMS}
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(replace(outbound, payload=message(other).payload))
    assert caught.value.remote_status == "code:108"


def test_wrong_credentials_are_permanent_and_the_password_is_not_shown(
    gateway: SmsGateway, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password")
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(gateway.url, password_file=str(wrong)).deliver(message())
    assert caught.value.remote_status == "code:101"
    assert caught.value.details["http_status"] == 401
    assert "not-the-password" not in repr(caught.value.as_dict())
    assert gateway.outbox == []


def test_an_unset_password_variable_is_a_permanent_configuration_error(
    gateway: SmsGateway, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMS_TEST_PASSWORD", raising=False)
    config = {k: v for k, v in make_connector(gateway.url).config.items() if k != "password_file"}
    connector = SmsConnector("sms", {**config, "password_env": "SMS_TEST_PASSWORD"})
    with pytest.raises(PermanentDeliveryError, match="SMS_TEST_PASSWORD") as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "config"
    assert gateway.request_count == 0
    monkeypatch.setenv("SMS_TEST_PASSWORD", PASSWORD)
    assert connector.deliver(message()).remote_status == "code:100"
    connector.close()


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_trouble_is_transient(
    gateway: SmsGateway, make_connector: MakeConnector, status: int
) -> None:
    gateway.set_faults(fail_next=1, fail_status=status)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(gateway.url).deliver(message())
    assert caught.value.remote_status == str(status)


def test_a_slow_gateway_times_out_as_transient(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    gateway.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(gateway.url, timeout_seconds=0.5).deliver(message())
    assert caught.value.remote_status == "timeout"


def test_an_outage_then_recovery(gateway: SmsGateway, make_connector: MakeConnector) -> None:
    connector = make_connector(gateway.url)
    gateway.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "connection_error"
    gateway.clear_faults()
    assert connector.deliver(message()).remote_status == "code:100"


def test_an_answer_without_a_code_is_permanent_and_field_names_are_configurable(
    make_connector: MakeConnector,
) -> None:
    fields = {"phone": "so_dien_thoai", "text": "noi_dung", "request_id": "ma_yeu_cau"}
    with RestSink() as sink:  # answers {"received": true}: no code at all
        with pytest.raises(PermanentDeliveryError, match="without a readable code") as caught:
            make_connector(sink.url, fields=fields).deliver(message())
    sent = sink.received[0].json()
    assert sent["so_dien_thoai"] == "84912345678" and "ma_yeu_cau" in sent and "noi_dung" in sent
    assert sink.received[0].path == "/sms/send"
    assert caught.value.remote_status == "201"


# --- personal data ------------------------------------------------------------------------------
class EchoingGateway(SmsGateway):
    """A gateway whose 5xx page quotes the whole request, as some debug pages do."""

    def fault_response(self, status: int) -> SandboxResponse:
        return SandboxResponse(status, b"error handling " + self.last_body, "text/plain")

    def dispatch(self, request: SandboxRequest) -> SandboxResponse | None:
        self.last_body = request.body
        return super().dispatch(request)


def test_the_phone_and_the_name_are_masked_in_every_error_and_detail(
    make_connector: MakeConnector, tmp_path: Path
) -> None:
    caught: list[Any] = []
    with EchoingGateway(username=USERNAME, password=PASSWORD, brandnames=[BRANDNAME]) as gateway:
        connector = make_connector(gateway.url)
        caught.append(connector.deliver(message()))
        for faults in ({"fail_status": 502}, {"fail_status": 400}, {"error_code": "105"}):
            gateway.set_faults(fail_next=1, **faults)
            with pytest.raises(DeliveryError) as failed:
                connector.deliver(message())
            caught.append(failed.value)
        gateway.clear_faults()
        gateway.block(BRANDNAME)  # the refusal quotes 84912345678
        with pytest.raises(DeliveryError) as blocked:
            connector.deliver(message())
        caught.append(blocked.value)
        for phone in ("0912 345 678", "02363822123"):
            with pytest.raises(LocalDeliveryError) as local:
                connector.deliver(message({"phone": phone, "template": "nope", "params": {}}))
            caught.append(local.value)
    assert "error handling" in caught[1].details["response_excerpt"]  # the echo was read …
    assert leaks(*caught) == []  # … and masked
    errors = [c for c in caught if isinstance(c, DeliveryError)]
    assert all(e.details["to"] in ("*******678", "********123") for e in errors)


# --- check and configuration --------------------------------------------------------------------
def test_check_is_ok_against_the_gateway(
    gateway: SmsGateway, make_connector: MakeConnector
) -> None:
    results = {r.name: r for r in make_connector(gateway.url).check()}
    assert all(r.status == "ok" for r in results.values()), results
    assert "/account/balance" in results["auth"].detail
    assert gateway.outbox == []


def test_check_fails_auth_with_a_wrong_password(
    gateway: SmsGateway, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password")
    results = {r.name: r for r in make_connector(gateway.url, password_file=str(wrong)).check()}
    assert results["auth"].status == "fail" and "401" in results["auth"].detail
    assert "not-the-password" not in repr(results)


def test_check_fails_when_the_password_file_is_missing(
    gateway: SmsGateway, make_connector: MakeConnector, tmp_path: Path
) -> None:
    connector = make_connector(gateway.url, password_file=str(tmp_path / "missing"))
    results = {r.name: r.status for r in connector.check()}
    assert results["secret"] == "fail" and results["auth"] == "fail"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"default_template": "nope"}, "/default_template"),
        ({"templates": {"t": "Hồ sơ {MaHoSo"}}, "/templates/t"),
        ({"templates": {"t": "{Ma Ho So}"}}, "/templates/t"),
        ({"templates": {}}, "/templates"),
        ({"brandname": "UBND TINH THUA THIEN HUE"}, "/brandname"),
        ({"password_env": "SMS_PASSWORD"}, "/password_env"),
        ({"password": PASSWORD}, "/password"),
        ({"max_segments": 0}, "/max_segments"),
        ({"retryable_codes": "99"}, "/retryable_codes"),
        ({"fields": {"phone_number": "x"}}, "/fields/phone_number"),
    ],
)
def test_invalid_config_names_the_field(
    make_connector: MakeConnector, change: dict[str, Any], path: str
) -> None:
    config = {**make_connector("http://sms.invalid").config, "default_template": "dossier-done"}
    with pytest.raises(SchemaViolation) as caught:
        SmsConnector("sms", {**config, **change})
    errors = caught.value.details["errors"]
    assert any(e["path"] == path for e in errors), errors


class TestSmsConnectorContract(ConnectorContract):
    @pytest.fixture
    def partner(self, gateway: SmsGateway) -> SmsGateway:
        return gateway

    @pytest.fixture
    def connector(self, partner: SmsGateway, make_connector: MakeConnector) -> SmsConnector:
        return make_connector(partner.url)

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message()
