"""The sandbox SOAP service on its own: large envelopes are parsed from the spooled body."""

from __future__ import annotations

import base64
import hashlib

import requests

from sandbox.soap_service import SOAP_ENV, TNS, SoapService

MIB = 1024 * 1024


def envelope(operation: str, **arguments: str) -> bytes:
    fields = "".join(f"<c:{name}>{value}</c:{name}>" for name, value in arguments.items())
    return (
        f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><c:{operation} xmlns:c="{TNS}">{fields}'
        f"</c:{operation}></s:Body></s:Envelope>"
    ).encode()


def test_a_large_envelope_is_parsed_from_its_spooled_body_with_argument_digests() -> None:
    payload = "Công văn &amp; phụ lục " * 200_000  # about 5 MB of argument text
    text = payload.replace("&amp;", "&").encode()
    with SoapService(keep_body_bytes=MIB) as service:
        answer = requests.post(
            service.endpoint, data=envelope("ReceiveMessage", MessageId="m-1", Payload=payload)
        )
    assert answer.status_code == 200 and b"<c:AckCode>00</c:AckCode>" in answer.content
    [call] = service.received
    assert call.arguments == {"MessageId": "m-1"}  # the payload was too large to keep
    assert call.argument_digests["Payload"] == (len(text), hashlib.sha256(text).hexdigest())
    assert not call.body_kept


def test_a_large_envelope_with_a_doctype_is_refused_with_a_client_fault() -> None:
    body = b'<!DOCTYPE s [<!ENTITY x "y">]>' + envelope(
        "ReceiveMessage", MessageId="m", Payload="x" * (2 * MIB)
    )
    with SoapService(keep_body_bytes=MIB) as service:
        answer = requests.post(service.endpoint, data=body)
    assert answer.status_code == 500 and b"DOCTYPE" in answer.content
    assert service.received == []


def test_receive_file_takes_base64_content() -> None:
    content = base64.b64encode(b"%PDF-1.7").decode()
    with SoapService() as service:
        answer = requests.post(
            service.endpoint, data=envelope("ReceiveFile", MessageId="f-1", Content=content)
        )
    assert answer.status_code == 200
    assert service.received[0].arguments["Content"] == content
