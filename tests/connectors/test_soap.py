"""The soap connector against the sandbox SOAP service over real loopback HTTP."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep

from connectors.soap import SoapConnector
from hub.connector import OutboundMessage, connector_type
from hub.errors import (
    LocalDeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.server import SandboxResponse
from sandbox.soap_service import WSDL_PATH, SoapService, soap_fault
from tests.connectors.large import MIB, TEXT_UNIT, deliver_in_child, write_file

SECRET = "soap-tok-77c1-very-secret"
KNOWN_ID = "001090000001"

MakeConnector = Callable[..., SoapConnector]


@pytest.fixture
def service() -> Iterator[SoapService]:
    with SoapService() as server:
        yield server


@pytest.fixture
def make_connector() -> Iterator[MakeConnector]:
    made: list[SoapConnector] = []

    def make(wsdl: str, operation: str = "LookupCitizen", **config: Any) -> SoapConnector:
        if operation == "LookupCitizen":
            config.setdefault("static_arguments", {"Purpose": "dossier 1.000656"})
        connector = SoapConnector("citizen", {"wsdl": wsdl, "operation": operation, **config})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(
    payload: bytes | dict[str, Any] | Payload | None = None, **fields: Any
) -> OutboundMessage:
    content_type = fields.pop("content_type", "application/json")
    if payload is None:
        payload = {"IdNumber": KNOWN_ID}
    if isinstance(payload, dict):
        payload = json.dumps(payload).encode()
    if isinstance(payload, bytes):
        payload = Payload.of(payload, content_type)
    base = OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.H49",
        sender_system="onestop",
        service="citizen.lookup",
        recipient=None,
        content_type=content_type,
        payload=payload,
    )
    return replace(base, **fields)


# --- success --------------------------------------------------------------------------------
def test_lookup_with_wsdl_from_url_returns_the_answer_as_json(
    service: SoapService, make_connector: MakeConnector
) -> None:
    result = make_connector(service.wsdl_url).deliver(message())

    answer = json.loads(result.response)
    assert result.remote_status == "200"
    assert result.content_type == "application/json"
    assert answer["Found"] is True
    assert answer["Citizen"]["BirthDate"] == "1990-01-15"
    [call] = service.received
    assert call.operation == "LookupCitizen"
    assert call.arguments == {"IdNumber": KNOWN_ID, "Purpose": "dossier 1.000656"}


def test_unknown_citizen_is_a_successful_not_found_answer(
    service: SoapService, make_connector: MakeConnector
) -> None:
    result = make_connector(service.wsdl_url).deliver(message({"IdNumber": "999999999999"}))
    assert json.loads(result.response) == {"Found": False, "Citizen": None}


def test_wsdl_from_a_file_with_endpoint_override_delivers(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(str(WSDL_PATH), endpoint=service.endpoint)
    assert json.loads(connector.deliver(message()).response)["Found"] is True
    assert service.request_count == 1  # the WSDL came from disk: only the call was sent


def test_receive_message_passes_payload_and_message_id_and_reports_the_ack_code(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(
        service.wsdl_url,
        "ReceiveMessage",
        payload_field="Payload",
        message_id_field="MessageId",
        result_status_field="AckCode",
        static_arguments={"Sender": "000.00.00.H49"},
    )
    edxml = "<edXML><Subject>Công văn</Subject></edXML>".encode()
    msg = message(edxml, content_type="application/xml")

    result = connector.deliver(msg)

    [call] = service.received
    assert call.arguments == {
        "MessageId": msg.id,
        "Sender": "000.00.00.H49",
        "Payload": edxml.decode(),
    }
    assert result.remote_status == "00"
    assert json.loads(result.response)["Duplicate"] is False


def test_redelivery_is_recognised_by_the_service_through_the_message_id(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(
        service.wsdl_url, "ReceiveMessage", payload_field="Payload", message_id_field="MessageId"
    )
    msg = message(b"<edXML/>")
    connector.deliver(msg)
    second = connector.deliver(replace(msg, attempt=2))

    assert json.loads(second.response)["Duplicate"] is True
    assert service.unique_keys() == [msg.id]


def test_wsdl_is_loaded_once_per_connector_instance(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url)
    for _ in range(3):
        connector.deliver(message())
    assert service.request_count == 1 + 3  # one WSDL download, three calls


def test_auth_header_is_sent_on_wsdl_download_and_calls(
    service: SoapService, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NDXP_KEY", SECRET)
    connector = make_connector(
        service.wsdl_url, auth={"type": "api_key", "header": "X-NDXP-Key", "key_env": "NDXP_KEY"}
    )
    connector.deliver(message())
    assert service.received[0].headers["x-ndxp-key"] == SECRET


# --- error mapping --------------------------------------------------------------------------
def test_client_fault_maps_to_permanent_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(service.wsdl_url).deliver(message({"IdNumber": "12345"}))
    assert caught.value.remote_status == "fault:Client"
    assert caught.value.details["fault_string"] == "IdNumber must be 12 digits"


def test_server_fault_maps_to_transient_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url)
    connector.health()  # load the WSDL before the fault is armed
    service.set_faults(fail_next=1)  # the SOAP service's injected failure: soap:Server, HTTP 500
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "fault:Server"
    assert caught.value.details["http_status"] == 500
    assert connector.deliver(message()).remote_status == "200"  # and the retry succeeds


def test_server_fault_is_permanent_when_server_faults_are_not_retryable(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url, server_faults_retryable=False)
    connector.health()
    service.set_faults(fail_next=1, fail_status=500)
    with pytest.raises(PermanentDeliveryError):
        connector.deliver(message())


@pytest.mark.parametrize("status", [503, 502, 429])
def test_gateway_error_without_soap_fault_maps_to_transient_error(
    service: SoapService, make_connector: MakeConnector, status: int
) -> None:
    connector = make_connector(service.wsdl_url)
    connector.health()
    service.set_faults(fail_next=1, fail_status=status)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == str(status)


def test_gateway_404_without_soap_fault_maps_to_permanent_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url)
    connector.health()
    service.set_faults(fail_next=1, fail_status=404)
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "404"


def test_outage_maps_to_transient_connection_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url)
    connector.health()
    service.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "connection_error"


def test_timeout_maps_to_transient_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url, timeout_seconds=5)
    connector.health()
    service.set_faults(latency_ms=1000)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message(), timeout=0.2)
    assert caught.value.remote_status == "timeout"


def test_unreachable_wsdl_is_transient_and_loaded_on_the_next_delivery(
    make_connector: MakeConnector,
) -> None:
    service = SoapService().start()
    service.stop()
    connector = make_connector(service.wsdl_url)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "connection_error"
    with service.start():  # same port
        assert connector.deliver(message()).remote_status == "200"


def test_stopped_service_after_wsdl_was_loaded_is_transient(make_connector: MakeConnector) -> None:
    service = SoapService().start()
    connector = make_connector(service.wsdl_url)
    connector.deliver(message())
    service.stop()
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())


def test_payload_that_is_not_a_json_object_is_a_permanent_mapping_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url)
    for payload in (b"<xml/>", b"[1, 2]"):
        with pytest.raises(PermanentDeliveryError, match="JSON object") as caught:
            connector.deliver(message(payload))
        assert caught.value.details["reason"] == "mapping"
    assert service.received == []


def test_argument_the_operation_does_not_take_is_a_local_mapping_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    with pytest.raises(LocalDeliveryError, match="IdNo") as caught:
        make_connector(service.wsdl_url).deliver(message({"IdNo": KNOWN_ID}))
    assert caught.value.details["reason"] == "mapping"
    assert caught.value.code == "local_failure"
    assert service.received == []


def test_a_control_character_in_an_argument_is_our_failure_and_nothing_is_sent(
    service: SoapService, make_connector: MakeConnector
) -> None:
    """Finding 9: JSON carries U+0001, XML 1.0 cannot; that is not the partner's refusal."""
    connector = make_connector(service.wsdl_url)
    connector.health()
    before = service.request_count
    with pytest.raises(LocalDeliveryError, match="'IdNumber'") as caught:
        connector.deliver(message({"IdNumber": "0010\u00019000001"}))
    assert caught.value.details == {
        "argument": "IdNumber",
        "character": "U+0001",
        "offset": 4,
        "reason": "encoding",
    }
    assert caught.value.remote_status is None
    assert service.request_count == before


def test_a_control_character_in_a_nested_or_static_argument_is_named_by_its_path(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url, static_arguments={"Purpose": "tra\x0bcuu"})
    with pytest.raises(LocalDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.details["argument"] == "Purpose"


@pytest.mark.parametrize("size", [100, 3 * MIB], ids=["in-memory", "streamed"])
def test_a_payload_xml_cannot_carry_is_refused_before_sending(
    service: SoapService, make_connector: MakeConnector, tmp_path: Path, size: int
) -> None:
    connector = make_connector(
        service.wsdl_url, "ReceiveMessage", payload_field="Payload", message_id_field="MessageId"
    )
    connector.health()
    before = service.request_count
    path = tmp_path / "edoc.xml"
    data = b"<a>" + b"x" * (size - 8) + b"\x01</a>"
    path.write_bytes(data)
    stored = Payload.stored(path, len(data), "0" * 64, "application/xml")
    with pytest.raises(LocalDeliveryError, match="U\\+0001") as caught:
        connector.deliver(message(stored))
    assert caught.value.details["argument"] == "Payload"
    assert caught.value.details["offset"] == size - 5
    assert service.request_count == before


@pytest.mark.parametrize("size", [100, 3 * MIB], ids=["in-memory", "streamed"])
def test_a_payload_that_is_not_utf8_for_a_string_argument_is_a_local_error(
    service: SoapService, make_connector: MakeConnector, tmp_path: Path, size: int
) -> None:
    connector = make_connector(
        service.wsdl_url, "ReceiveMessage", payload_field="Payload", message_id_field="MessageId"
    )
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"x" * (size - 5) + "Công".encode("latin-1", "replace"))
    stored = Payload.stored(path, size, "0" * 64, "text/plain")
    with pytest.raises(LocalDeliveryError, match="not UTF-8"):
        connector.deliver(message(stored))
    assert service.received == []


def test_an_answer_that_breaks_the_wsdl_is_the_partners_failure_not_ours(
    make_connector: MakeConnector,
) -> None:
    class Broken(SoapService):  # answers LookupCitizen with an element the WSDL does not have
        def handle(self, request):
            body = (
                b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                b'<c:LookupCitizenResponse xmlns:c="urn:lgsp-hub:sandbox:citizen:1">'
                b"<c:Found>true</c:Found><c:Surprise>1</c:Surprise>"
                b"</c:LookupCitizenResponse></s:Body></s:Envelope>"
            )
            if request.method == "POST":
                return SandboxResponse(200, body, "text/xml")
            return super().handle(request)

    with Broken() as service:
        with pytest.raises(PermanentDeliveryError) as caught:
            make_connector(service.wsdl_url).deliver(message())
    assert not isinstance(caught.value, LocalDeliveryError)
    assert caught.value.remote_status == "200"


# --- large payloads -------------------------------------------------------------------------
def test_a_large_text_payload_is_streamed_escaped_inside_the_envelope(
    service: SoapService, make_connector: MakeConnector, tmp_path: Path
) -> None:
    size = 5 * MIB + 3  # UTF-8 sequences are cut at the 1 MiB read boundaries
    path = tmp_path / "edoc.edxml"
    sha256 = write_file(path, size, TEXT_UNIT)
    connector = make_connector(
        service.wsdl_url,
        "ReceiveMessage",
        payload_field="Payload",
        message_id_field="MessageId",
        result_status_field="AckCode",
    )
    service.keep_body_bytes = MIB
    service.max_body_bytes = 64 * MIB
    stored = Payload.stored(path, size, sha256, "application/xml")

    result = connector.deliver(message(stored))

    [call] = service.received
    assert result.remote_status == "00"
    assert call.argument_digests["Payload"] == (size, sha256)
    assert "Payload" not in call.arguments  # too large to keep: checked by its digest
    assert call.headers["content-length"] == str(call.size)
    assert "transfer-encoding" not in call.headers


def test_a_large_binary_payload_is_streamed_as_base64(
    service: SoapService, make_connector: MakeConnector, tmp_path: Path
) -> None:
    size = 3 * MIB + 1  # not a multiple of 3: the last base64 group is padded
    path = tmp_path / "scan.pdf"
    sha256 = write_file(path, size)
    connector = make_connector(
        service.wsdl_url,
        "ReceiveFile",
        payload_field="Content",
        message_id_field="MessageId",
        static_arguments={"FileName": "scan.pdf"},
    )
    stored = Payload.stored(path, size, sha256, "application/pdf")

    assert connector.deliver(message(stored)).remote_status == "200"

    [call] = service.received
    assert call.operation == "ReceiveFile"
    assert base64.b64decode(call.arguments["Content"]) == path.read_bytes()
    assert call.arguments["FileName"] == "scan.pdf"


def test_a_small_binary_payload_goes_through_zeep_as_base64(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(
        service.wsdl_url, "ReceiveFile", payload_field="Content", message_id_field="MessageId"
    )
    connector.deliver(message(b"%PDF-1.7 \xff\x00", content_type="application/pdf"))
    assert base64.b64decode(service.received[0].arguments["Content"]) == b"%PDF-1.7 \xff\x00"


def test_a_200_mb_text_payload_reaches_the_service_intact_at_flat_memory(tmp_path: Path) -> None:
    size = 200 * MIB
    path = tmp_path / "edoc.edxml"
    data_sha = write_file(path, size, TEXT_UNIT)
    with SoapService(max_body_bytes=2 * size) as service:
        config = {
            "wsdl": service.wsdl_url,
            "operation": "ReceiveMessage",
            "payload_field": "Payload",
            "message_id_field": "MessageId",
            "timeout_seconds": 120,
        }
        report = deliver_in_child(
            "soap", config, path, size, data_sha, "application/xml", warm_up="<edXML/>"
        )
        big = service.received[-1]
    assert report["remote_status"] == "200"
    assert big.argument_digests["Payload"] == (size, data_sha)
    growth_mib = (report["peak_kib"] - report["baseline_kib"]) / 1024
    assert growth_mib < 60, f"peak RSS grew by {growth_mib:.0f} MiB for a 200 MiB payload"


def test_unknown_operation_is_a_permanent_configuration_error(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url, "GetDocument")
    with pytest.raises(PermanentDeliveryError, match="LookupCitizen") as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "config"
    assert not connector.health().ok


def test_missing_wsdl_file_is_a_permanent_configuration_error(
    make_connector: MakeConnector, tmp_path: Path
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(str(tmp_path / "nope.wsdl")).deliver(message())
    assert caught.value.details["reason"] == "config"


def test_wsdl_with_a_doctype_is_refused(
    service: SoapService, make_connector: MakeConnector, tmp_path: Path
) -> None:
    hostile = tmp_path / "hostile.wsdl"
    text = WSDL_PATH.read_text(encoding="utf-8").replace(
        "<wsdl:definitions",
        '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<wsdl:definitions',
        1,
    )
    hostile.write_text(text, encoding="utf-8")
    with pytest.raises(PermanentDeliveryError, match="DTD"):
        make_connector(str(hostile), endpoint=service.endpoint).deliver(message())


def test_secret_quoted_in_a_fault_is_scrubbed_from_the_error(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    class EchoingService(SoapService):  # a service that quotes the credential in its fault
        def fault_response(self, status: int) -> SandboxResponse:
            return soap_fault("Client", f"token {SECRET} is not valid for this service")

    monkeypatch.setenv("NDXP_TOKEN", SECRET)
    with EchoingService() as service:
        connector = make_connector(
            service.wsdl_url, auth={"type": "bearer", "token_env": "NDXP_TOKEN"}
        )
        connector.health()
        service.set_faults(fail_next=1)
        with pytest.raises(PermanentDeliveryError) as caught:
            connector.deliver(message())
    assert SECRET not in str(caught.value.as_dict())
    assert "token *** is not valid" in caught.value.message


# --- configuration and health ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "path", "mentions"),
    [
        ({"wsdl": "x.wsdl"}, "/operation", "operation"),
        ({"operation": "Op"}, "/wsdl", "wsdl"),
        ({"wsdl": "x.wsdl", "operation": "Op", "timeout_seconds": -1}, "/timeout_seconds", "-1"),
        (
            {"wsdl": "x.wsdl", "operation": "Op", "payload_fields": "P"},
            "/payload_fields",
            "payload_fields",
        ),
        ({"wsdl": "x.wsdl", "operation": "Op", "endpoint": "partner:80"}, "/endpoint", "match"),
        (
            {"wsdl": "x.wsdl", "operation": "Op", "auth": {"type": "api_key"}},
            "/auth/key_env",
            "key_env",
        ),
    ],
)
def test_invalid_config_raises_schema_violation_naming_the_field(
    config: dict[str, Any], path: str, mentions: str
) -> None:
    with pytest.raises(SchemaViolation) as caught:
        SoapConnector("citizen", config)
    errors = caught.value.details["errors"]
    assert any(e["path"] == path and mentions in e["message"] for e in errors), errors


def test_soap_type_is_registered_under_the_connector_entry_point() -> None:
    assert connector_type("soap") is SoapConnector


def test_health_is_ok_when_wsdl_loads_and_endpoint_answers(
    service: SoapService, make_connector: MakeConnector
) -> None:
    health = make_connector(service.wsdl_url).health()
    assert health.ok, health.detail


def test_health_is_not_ok_during_an_outage(
    service: SoapService, make_connector: MakeConnector
) -> None:
    connector = make_connector(service.wsdl_url)
    assert connector.health().ok
    service.set_faults(outage=True)
    assert not connector.health().ok


def test_health_is_not_ok_when_the_wsdl_cannot_be_loaded(make_connector: MakeConnector) -> None:
    service = SoapService().start()
    service.stop()
    assert not make_connector(service.wsdl_url).health().ok


# --- the sandbox service itself -------------------------------------------------------------
def test_service_serves_its_wsdl_with_its_real_address(service: SoapService) -> None:
    text = requests.get(service.wsdl_url).text
    assert f'location="{service.endpoint}"' in text
    assert "sandbox.invalid" not in text
    assert (
        zeep.Client(service.wsdl_url).service.LookupCitizen(IdNumber=KNOWN_ID, Purpose="test").Found
        is True
    )


def test_service_refuses_a_doctype_with_a_client_fault(service: SoapService) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "boom">]>'
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>&x;'
        b"</e:Body></e:Envelope>"
    )
    r = requests.post(service.endpoint, data=body, headers={"Content-Type": "text/xml"})
    assert r.status_code == 500
    assert b"soap:Client" in r.content and b"DOCTYPE" in r.content
    assert service.received == []


def test_service_answers_malformed_xml_and_unknown_operations_with_client_faults(
    service: SoapService,
) -> None:
    malformed = requests.post(service.endpoint, data=b"<not-closed>")
    unknown = requests.post(
        service.endpoint,
        data=(
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
            b'<Other xmlns="urn:x"/></e:Body></e:Envelope>'
        ),
    )
    for r in (malformed, unknown):
        assert r.status_code == 500 and b"soap:Client" in r.content


class TestSoapConnectorContract(ConnectorContract):
    @pytest.fixture
    def partner(self, service: SoapService) -> SoapService:
        return service

    @pytest.fixture
    def connector(self, partner: SoapService) -> Iterator[SoapConnector]:
        instance = SoapConnector(
            "contract",
            {
                "wsdl": str(WSDL_PATH),
                "endpoint": partner.endpoint,
                "operation": "ReceiveMessage",
                "message_id_field": "MessageId",
                "payload_field": "Payload",
                "timeout_seconds": 2,
            },
        )
        yield instance
        instance.close()

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message(b'{"MaHoSo": "H49.01-240101-0001"}')
