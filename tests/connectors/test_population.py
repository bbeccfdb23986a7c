"""The population connector against the NDXP gateway simulator over real loopback HTTP, in both
forms: one normalised answer, the officer rule, the real sample, the XSDs, error classes, and no
ID number anywhere but in a successful answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from connectors.population import PopulationConnector
from hub.connector import OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.ndxp import NdxpGateway
from sandbox.population import SOAP, soap_fault
from sandbox.server import SandboxResponse

SAMPLES = Path("/work/shared/domain/samples/population-db-mock")
KEY, SECRET, WRONG = "lgsp-h57", "pop-secret-8d2e", "wrong-secret-0000"
KNOWN, UNKNOWN, NAME = "099085000001", "099085000777", "Nguyễn Văn Thử"
CONTEXTS = {"soap": "csdldc", "json": "csdldc-json"}
VERIFY, EXISTS = "XacMinhThongTinNhanThan", "XacThucThongTinCongDan"

Make = Callable[..., PopulationConnector]


@pytest.fixture(autouse=True)
def consumer_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_SECRET", SECRET)
    monkeypatch.setenv("NDXP_WRONG_SECRET", WRONG)


@pytest.fixture
def gateway() -> Iterator[NdxpGateway]:
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


def config(gateway: NdxpGateway, form: str = "soap", **overrides: Any) -> dict[str, Any]:
    return {
        "url": gateway.url,
        "consumer_key": KEY,
        "consumer_secret_env": "NDXP_SECRET",
        "context": CONTEXTS[form],
        "version": "1.0",
        "form": form,
        "MaDVC": "1.000001.000.00.00.H57",
        "MaTichHop": "TH-H57-01",
        "MaDonVi": "000.00.00.H57",
        "MaDichVu": "033",
        "timeout_seconds": 2,
        **overrides,
    }


@pytest.fixture
def make(gateway: NdxpGateway) -> Iterator[Make]:
    made: list[PopulationConnector] = []

    def build(form: str = "soap", target: NdxpGateway | None = None, **overrides: Any):
        connector = PopulationConnector("population", config(target or gateway, form, **overrides))
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def lookup(**fields: Any) -> dict[str, Any]:
    base = {
        "SoDinhDanh": KNOWN,
        "HoVaTen": NAME,
        "NgayThangNamSinh": "19850312",
        "MaCanBo": "cb-0042",
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


def message(body: dict[str, Any] | None = None, **fields: Any) -> OutboundMessage:
    data = json.dumps(lookup() if body is None else body, ensure_ascii=False).encode()
    base = OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.H57",
        sender_system="onestop",
        service="citizen.verify",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )
    return replace(base, **fields)


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SAMPLES / name)))


# --- the acceptance suite, both forms -----------------------------------------------------------
class TestPopulationSoapContract(ConnectorContract):
    @pytest.fixture
    def partner(self, gateway):
        return gateway

    @pytest.fixture
    def connector(self, make):
        return make("soap")

    @pytest.fixture
    def outbound(self):
        return message()


class TestPopulationJsonContract(ConnectorContract):
    @pytest.fixture
    def partner(self, gateway):
        return gateway

    @pytest.fixture
    def connector(self, make):
        return make("json")

    @pytest.fixture
    def outbound(self):
        return message()


# --- one normalised answer ----------------------------------------------------------------------
def test_both_forms_give_the_same_normalised_answer(gateway, make) -> None:
    soap, plain = make("soap").deliver(message()), make("json").deliver(message())

    assert (soap.remote_status, plain.remote_status) == ("200", "error_code:0")
    assert json.loads(soap.response) == json.loads(plain.response)
    [citizen] = json.loads(soap.response)["CongDan"]
    assert citizen["SoDinhDanh"] == KNOWN
    assert citizen["HoVaTen"] == {"Ho": "Nguyễn", "ChuDem": "Văn", "Ten": "Thử"}
    assert citizen["NgayThangNamSinh"] == {"NgayThangNam": "19850312"}
    assert citizen["Me"]["HoVaTen"]["Ten"] == "Mẫu"
    assert soap.details["result"] == plain.details["result"] == "found"
    assert soap.content_type == "application/json"


def test_the_json_form_splits_the_birth_date_and_has_no_madonvi(gateway, make) -> None:
    msg = message(lookup(NgayThangNamSinh="12/03/1985"))
    make("json").deliver(msg)
    sent = gateway.received[0].json()
    assert (sent["NgayThangNam"], sent["Nam"]) == ("12/03", "1985")
    assert "MaDonVi" not in sent and "NgayThangNamSinh" not in sent
    assert sent["MaYeuCau"] == msg.id and sent["MaTichHop"] == "TH-H57-01"


def test_a_business_account_is_passed_in_the_json_form(gateway, make) -> None:
    body = lookup(LoaiTaiKhoan=2, MaSoThue="0100109106", ThuDienTu="ke.toan@example.vn")
    make("json").deliver(message(body))
    sent = gateway.received[0].json()
    assert (sent["LoaiTaiKhoan"], sent["MaSoThue"]) == (2, "0100109106")


@pytest.mark.parametrize("form", ["soap", "json"])
def test_an_unknown_citizen_is_not_found(gateway, make, form) -> None:
    result = make(form).deliver(message(lookup(SoDinhDanh=UNKNOWN)))
    assert json.loads(result.response) == {"CongDan": []}
    assert result.details["result"] == "not_found"


@pytest.mark.parametrize("form", ["soap", "json"])
@pytest.mark.parametrize(("number", "exists"), [(KNOWN, True), (UNKNOWN, False)])
def test_the_existence_check_answers_tontai(gateway, make, form, number, exists) -> None:
    body = {"operation": EXISTS, "SoDinhDanh": number, "HoVaTen": NAME, "MaCanBo": "cb"}
    result = make(form).deliver(message(body))
    assert json.loads(result.response) == {"TonTai": exists}
    assert result.details == {"result": "found" if exists else "not_found", "operation": EXISTS}


def test_the_operation_may_come_from_the_configuration(gateway, make) -> None:
    body = lookup(NgayThangNamSinh=None)
    result = make("soap", operation=EXISTS).deliver(message(body))
    assert json.loads(result.response) == {"TonTai": True}


# --- the SOAP shapes: the real sample and the XSDs ----------------------------------------------
def test_the_soap_requests_validate_against_the_request_xsds(gateway, make) -> None:
    connector = make("soap")
    connector.deliver(message())
    body = {"operation": EXISTS, "SoDinhDanh": KNOWN, "HoVaTen": NAME}
    connector.deliver(message(body, headers={"x-lgsp-officer": "cb-1"}))
    verify, exists = (etree.fromstring(r.body).find(f"{{{SOAP}}}Body")[0] for r in gateway.received)
    schema("XacMinhThongTinNhanThanRequest.xsd").assertValid(verify)
    schema("XacThucThongTinCongDan.xsd").assertValid(exists)


def test_the_real_sample_answer_is_read(gateway, make) -> None:
    """input-output.xml is a note: "Input:" + a request whose start tag is broken (the
    ``xmlns:dan=`` attribute runs into a second ``<soapenv:Envelope``), "Output:" + the answer."""
    text = (SAMPLES / "input-output.xml").read_text(encoding="utf-8")
    request_text, answer_text = text.split("Output:")
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(request_text.removeprefix("Input:").strip().encode())

    class SampleAnswer(NdxpGateway):  # the population service answering the sample verbatim
        def handle(self, request):
            answer = super().handle(request)
            if request.path.endswith(EXISTS):
                return SandboxResponse(200, answer_text.strip().encode(), "text/xml")
            return answer

    with SampleAnswer(consumer_key=KEY, consumer_secret=SECRET) as sample:
        body = {"operation": EXISTS, "SoDinhDanh": UNKNOWN, "HoVaTen": NAME, "MaCanBo": "cb"}
        result = make("soap", target=sample).deliver(message(body))
        sent = etree.fromstring(sample.received[0].body).find(f"{{{SOAP}}}Body")[0]
    assert json.loads(result.response) == {"TonTai": True}
    # what we send has the sample request's element, namespace and field order
    start = request_text.index("<dan:XacThucThongTinCongDanRequest>")
    end = request_text.index("</dan:XacThucThongTinCongDanRequest>") + 36
    inner = request_text[start:end].replace(
        "<dan:XacThucThongTinCongDanRequest>",
        '<dan:XacThucThongTinCongDanRequest xmlns:dan="http://dancuquocgia.bca">',
    )
    expected = etree.fromstring(inner.encode())
    assert sent.tag == expected.tag
    assert [c.tag for c in sent] == [c.tag for c in expected]


# --- the officer --------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["soap", "json"])
def test_a_lookup_without_an_officer_is_refused_before_anything_is_sent(gateway, make, form):
    with pytest.raises(LocalDeliveryError) as caught:
        make(form).deliver(message(lookup(MaCanBo=None)))
    assert caught.value.details["reason"] == "no_officer"
    assert gateway.request_count == 0 and gateway.token_requests == 0


def test_the_officer_may_come_from_the_message_header(gateway, make) -> None:
    make("soap").deliver(message(lookup(MaCanBo=None), headers={"X-LGSP-Officer": "cb-7"}))
    assert gateway.received[0].arguments["MaCanBo"] == "cb-7"


@pytest.mark.parametrize(
    ("body", "form"),
    [
        (lookup(SoDinhDanh="12345"), "soap"),
        (lookup(SoCMND="12"), "soap"),
        (lookup(NgayThangNamSinh="1985-03-12"), "soap"),
        (lookup(HoVaTen=""), "soap"),
        (lookup(MaSoThue="0100109106"), "soap"),  # a JSON-form field
        (lookup(LoaiTaiKhoan=2), "json"),  # a business without MaSoThue
        (lookup(operation="XoaCongDan"), "json"),
        (
            {
                "operation": EXISTS,
                "SoDinhDanh": KNOWN,
                "HoVaTen": NAME,
                "MaCanBo": "c",
                "NgayThangNamSinh": "19850312",
            },
            "soap",
        ),
    ],
)
def test_requests_the_operation_cannot_carry_are_local_failures(gateway, make, body, form):
    with pytest.raises(LocalDeliveryError):
        make(form).deliver(message(body))
    assert gateway.request_count == 0


def test_a_code_missing_from_the_configuration_is_permanent_before_sending(gateway) -> None:
    cfg = {k: v for k, v in config(gateway).items() if k != "MaDichVu"}
    body = {"operation": EXISTS, "SoDinhDanh": KNOWN, "HoVaTen": NAME, "MaCanBo": "c"}
    with pytest.raises(PermanentDeliveryError) as caught:
        PopulationConnector("population", cfg).deliver(message(body))
    assert caught.value.details["reason"] == "config" and gateway.request_count == 0


# --- error classes ------------------------------------------------------------------------------
def test_a_refusing_soap_service_is_a_permanent_client_fault(gateway, make) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:  # the service wants yyyyMMdd
        make("soap", birth_date_format="%d-%m-%Y").deliver(message())
    assert caught.value.remote_status == "fault:Client"


def test_a_refusing_json_service_is_a_permanent_error_code(gateway, make) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:  # the service wants dd/MM
        make("json", day_month_format="%m%d").deliver(message())
    assert caught.value.remote_status == "error_code:400"


class Failing(NdxpGateway):
    """A population service failing as told, quoting the request's ID number and name."""

    answer: tuple[str, str] = ("", "")

    def handle(self, request):
        kind, code = self.answer
        if request.path == "/token" or not kind:
            return super().handle(request)
        if kind == "wrapped":  # the service's answer inside the gateway's envelope
            inner = json.loads(super().handle(request).body)
            envelope = {"code": 200, "status": "OK", "correlationId": "c", "response": inner}
            return SandboxResponse.json(200, envelope)
        quoted = f"{KNOWN} {NAME}: {code}"
        if kind == "fault":
            return SandboxResponse(500, soap_fault(code, quoted), "text/xml")
        if kind == "error_code":
            return SandboxResponse.json(200, {"error_code": code, "message": quoted})
        return SandboxResponse.json(
            int(code), {"code": int(code), "status": quoted, "correlationId": "c", "response": None}
        )


@pytest.fixture
def failing() -> Iterator[Failing]:
    with Failing(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


@pytest.mark.parametrize(
    ("form", "answer", "error", "status"),
    [
        ("soap", ("fault", "Client"), PermanentDeliveryError, "fault:Client"),
        ("soap", ("fault", "Server"), TransientDeliveryError, "fault:Server"),
        ("json", ("error_code", "400"), PermanentDeliveryError, "error_code:400"),
        ("json", ("error_code", "503"), TransientDeliveryError, "error_code:503"),
        ("soap", ("envelope", "403"), PermanentDeliveryError, "code:403"),
        ("json", ("envelope", "504"), TransientDeliveryError, "code:504"),
    ],
)
def test_partner_errors_are_classed(failing, make, form, answer, error, status) -> None:
    failing.answer = answer
    with pytest.raises(error) as caught:
        make(form, target=failing).deliver(message())
    assert caught.value.remote_status == status
    assert type(caught.value) is error


@pytest.mark.parametrize("form", ["soap", "json"])
def test_gateway_error_codes_are_classed(gateway, make, form) -> None:
    connector = make(form)
    connector.deliver(message())
    gateway.set_faults(fail_next=1, error_code="503")
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    gateway.set_faults(fail_next=1, error_code="403")
    with pytest.raises(PermanentDeliveryError):
        connector.deliver(message())


def test_a_timeout_is_transient(gateway, make) -> None:
    connector = make("soap")
    gateway.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message(), timeout=0.5)
    assert caught.value.remote_status == "timeout"


def test_an_outage_then_recovery(gateway, make) -> None:
    connector = make("json")
    gateway.stop()
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    gateway.start()
    assert connector.deliver(message()).details["result"] == "found"


def test_a_wrong_consumer_secret_is_permanent_and_check_fails_auth(gateway, make) -> None:
    connector = make("soap", consumer_secret_env="NDXP_WRONG_SECRET")
    with pytest.raises(PermanentDeliveryError):
        connector.deliver(message())
    assert {r.name: r.status for r in connector.check()}["auth"] == "fail"
    assert {r.status for r in make("soap").check()} == {"ok"}


def test_a_json_answer_inside_the_gateways_envelope_is_unwrapped(failing, make) -> None:
    failing.answer = ("wrapped", "")
    result = make("json", target=failing).deliver(message())
    assert json.loads(result.response)["CongDan"][0]["SoDinhDanh"] == KNOWN


# --- personal data ------------------------------------------------------------------------------
def test_an_id_number_appears_only_in_a_successful_response(gateway, failing, make) -> None:
    """Scan every error path, the not-found path and check results for 12-digit runs."""
    texts: list[str] = []

    def attempt(connector: PopulationConnector, body: dict[str, Any]) -> None:
        try:
            result = connector.deliver(message(body))
        except DeliveryError as exc:
            texts.extend([str(exc), json.dumps(exc.as_dict(), default=str)])
            texts.append(str(exc.remote_status))
        else:
            texts.extend([str(result.remote_status), json.dumps(result.details)])

    for form in ("soap", "json"):
        for body in (
            lookup(SoDinhDanh=UNKNOWN),  # not found
            {"operation": EXISTS, "SoDinhDanh": UNKNOWN, "HoVaTen": NAME, "MaCanBo": "c"},
            lookup(MaCanBo=None),
            lookup(SoCMND="1234"),
            lookup(NgayThangNamSinh="31/02/1985"),
        ):
            attempt(make(form), body)
        for answer in (("fault", "Client"), ("error_code", "400"), ("envelope", "422")):
            failing.answer = answer
            attempt(make(form, target=failing), lookup())
        gateway.set_faults(latency_ms=1500)
        attempt(make(form, timeout_seconds=0.3), lookup())
        gateway.clear_faults()
        texts.extend(r.detail for r in make(form).check())
    found = make("soap").deliver(message())
    assert KNOWN in found.response.decode()
    leaked = [t for t in texts if re.search(r"\d{12}", t) or NAME in t]
    assert not leaked, leaked
    assert any("*********001" in t for t in texts)  # a quoted ID keeps its last 3 digits
