"""The VDXP axis simulator's own contract, spoken to with plain ``requests`` and a signer written
here (not the connector's): the HMAC rules, who owns which agency, the mailboxes and statuses,
idempotency, safe edXML reading, the WSO2 front, faults and the ledger."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.vdxp import VdxpAxis

SAMPLES = Path("/work/shared/domain/samples")
SYSTEM, SECRET = "lgsp-h57", "h57-secret-8c1d"
PEER, PEER_SECRET = "vpcp", "vpcp-secret-2b7e"
OURS, THEIRS, OTHER = "000.00.00.H57", "000.00.00.G22", "000.00.01.A53"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


@pytest.fixture
def axis() -> Iterator[VdxpAxis]:
    with VdxpAxis(
        seed=False, system_id=SYSTEM, secret=SECRET, consumer_key="h57", consumer_secret="c-h57"
    ) as server:
        server.add_system(PEER, PEER_SECRET)
        server.add_agency(OURS, "UBND thành phố Huế", None, SYSTEM)
        server.add_agency(THEIRS, "Văn phòng Chính phủ", None, PEER)
        server.add_agency(OTHER, "Văn phòng Tỉnh ủy", None, PEER)
        yield server


def signed_headers(
    method: str,
    path: str,
    body: bytes,
    system: str = SYSTEM,
    secret: str = SECRET,
    stamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    digest = hashlib.sha256(body).hexdigest()
    stamp_text = str(int(time.time()) if stamp is None else stamp)
    nonce = nonce or secrets.token_hex(16)
    text = "\n".join([method, path, stamp_text, nonce, digest]).encode()
    return {
        "X-VDXP-System": system,
        "X-VDXP-Timestamp": stamp_text,
        "X-VDXP-Nonce": nonce,
        "X-VDXP-Content-SHA256": digest,
        "X-VDXP-Signature": hmac.new(secret.encode(), text, hashlib.sha256).hexdigest(),
    }


def call(axis: VdxpAxis, operation: str, body: Any = None, **who: Any) -> requests.Response:
    data = json.dumps(body).encode() if body is not None else b""
    headers = signed_headers("POST", f"/{operation}", data, **who)
    return requests.post(f"{axis.url}/{operation}", data=data, headers=headers, timeout=5)


def edxml(sender: str = OURS, *recipients: str, extra: str = "") -> bytes:
    to = "".join(f"<To><OrganId>{code}</OrganId></To>" for code in recipients)
    return (
        f'<edXML xmlns="{EDXML_NS}"><edXMLEnvelope><edXMLHeader><MessageHeader>'
        f"<From><OrganId>{sender}</OrganId></From>{to}<Subject>Thử</Subject>"
        f"</MessageHeader></edXMLHeader></edXMLEnvelope>{extra}</edXML>"
    ).encode()


def multipart(header: dict[str, Any], document: bytes, boundary: str = "b0undary") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="header"\r\n\r\n'
            f"{json.dumps(header)}\r\n--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="d.edxml"\r\n\r\n'
        ).encode()
        + document
        + f"\r\n--{boundary}--\r\n".encode()
    )


def send(
    axis: VdxpAxis,
    document: bytes | None = None,
    key: str | None = None,
    system: str = SYSTEM,
    secret: str = SECRET,
    **header: Any,
) -> requests.Response:
    fields = {"from": OURS, "to": [THEIRS], "servicetype": "eDoc", "messagetype": "edoc", **header}
    body = multipart({k: v for k, v in fields.items() if v is not None}, document or edxml())
    headers = signed_headers("POST", "/sendEdoc", body, system, secret)
    headers["Content-Type"] = "multipart/form-data; boundary=b0undary"
    if key:
        headers["X-Idempotency-Key"] = key
    return requests.post(f"{axis.url}/sendEdoc", data=body, headers=headers, timeout=10)


def bearer(axis: VdxpAxis, key: str = "h57", secret: str = "c-h57") -> dict[str, str]:
    answer = requests.post(
        f"{axis.url}/token",
        data={"grant_type": "client_credentials"},
        auth=(key, secret),
        timeout=5,
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


# --- the signature ------------------------------------------------------------------------------
def test_a_signed_call_is_answered_in_the_axis_shape(axis) -> None:
    answer = call(axis, "getAgenciesList", {"limit": 1})
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "OK",
        "ErrorCode": "0",
        "ErrorDesc": "",
        "data": [{"code": THEIRS, "pcode": None, "name": "Văn phòng Chính phủ"}],
    }


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (lambda h: h.pop("X-VDXP-Nonce"), "missing header x-vdxp-nonce"),
        (lambda h: h.update({"X-VDXP-System": "nobody"}), "unknown system"),
        (lambda h: h.update({"X-VDXP-Signature": "0" * 64}), "signature"),
        (lambda h: h.update({"X-VDXP-Content-SHA256": hashlib.sha256(b"x").hexdigest()}), "SHA"),
        (lambda h: h.update({"X-VDXP-Nonce": "short"}), "nonce"),
    ],
)
def test_a_wrong_or_missing_header_is_refused(axis, tamper, says) -> None:
    body = b'{"limit": 1}'
    headers = signed_headers("POST", "/getAgenciesList", body)
    tamper(headers)
    answer = requests.post(f"{axis.url}/getAgenciesList", data=body, headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["ErrorCode"] == "AUTH_FAILED" and says in answer.json()["ErrorDesc"]
    assert axis.received == []


def test_a_body_changed_after_signing_is_refused(axis) -> None:
    headers = signed_headers("POST", "/getAgenciesList", b'{"limit": 1}')
    answer = requests.post(
        f"{axis.url}/getAgenciesList", data=b'{"limit": 9}', headers=headers, timeout=5
    )
    assert answer.status_code == 401


def test_the_secret_of_another_system_does_not_sign_for_this_one(axis) -> None:
    assert call(axis, "getAgenciesList", secret=PEER_SECRET).status_code == 401
    assert call(axis, "getAgenciesList", system=PEER, secret=PEER_SECRET).status_code == 200


@pytest.mark.parametrize(("offset", "status"), [(-290, 200), (290, 200), (-310, 401), (400, 401)])
def test_the_timestamp_must_be_within_five_minutes(axis, offset, status) -> None:
    answer = call(axis, "getAgenciesList", stamp=int(time.time()) + offset)
    assert answer.status_code == status


def test_a_nonce_is_taken_once(axis) -> None:
    headers = signed_headers("POST", "/getAgenciesList", b"")
    first = requests.post(f"{axis.url}/getAgenciesList", headers=headers, timeout=5)
    again = requests.post(f"{axis.url}/getAgenciesList", headers=headers, timeout=5)
    assert (first.status_code, again.status_code) == (200, 401)
    assert "already used" in again.json()["ErrorDesc"]
    other = call(
        axis, "getAgenciesList", system=PEER, secret=PEER_SECRET, nonce=headers["X-VDXP-Nonce"]
    )
    assert other.status_code == 200  # nonces are per system


# --- ownership and mailboxes ---------------------------------------------------------------------
def test_sending_stores_once_and_puts_one_record_in_each_mailbox(axis) -> None:
    document = edxml(OURS, THEIRS, OTHER)
    answer = send(axis, document, to=[THEIRS, OTHER]).json()

    assert answer["status"] == "OK" and answer["duplicate"] is False
    records = {r["to"]: r for r in answer["data"]}
    assert set(records) == {THEIRS, OTHER}
    for code in (THEIRS, OTHER):
        [record] = axis.mailbox(code)
        assert record == records[code]
        assert record["contentSha256"] == hashlib.sha256(document).hexdigest()
        assert (record["status"], record["serviceType"], record["messageType"]) == (
            "initial",
            "eDoc",
            "edoc",
        )
    assert axis.stored_path(records[THEIRS]["id"]) == axis.stored_path(records[OTHER]["id"])
    assert axis.stored_path(records[THEIRS]["id"]).read_bytes() == document
    assert [r["id"] for r in axis.sent_by(SYSTEM)] == [r["id"] for r in answer["data"]]


def test_without_to_the_recipients_come_from_the_edxml(axis) -> None:
    answer = send(axis, edxml(OURS, OTHER, THEIRS), to=None).json()
    assert [r["to"] for r in answer["data"]] == [OTHER, THEIRS]
    status = (SAMPLES / "vxp-sdk-example/status_finish_06.edxml").read_bytes()
    axis.add_agency("000.00.00.H41", "UBND tỉnh Nghệ An", None, SYSTEM)
    answer = send(axis, status, to=None, messagetype="status", **{"from": "000.00.00.H41"}).json()
    assert [(r["to"], r["messageType"]) for r in answer["data"]] == [(THEIRS, "status")]


def test_the_sending_system_must_own_the_from_agency(axis) -> None:
    answer = send(axis, **{"from": THEIRS})
    assert answer.status_code == 403 and answer.json()["ErrorCode"] == "FORBIDDEN"
    assert axis.mailbox(THEIRS) == []


def test_unknown_recipients_are_named(axis) -> None:
    answer = send(axis, to=[THEIRS, "000.00.99.H99", "H99.01"])
    assert answer.status_code == 422
    assert answer.json()["ErrorCode"] == "UNKNOWN_AGENCY"
    assert answer.json()["agencies"] == ["000.00.99.H99", "H99.01"]
    assert axis.mailbox(THEIRS) == [] and list(axis.store.directory.iterdir()) == []


@pytest.mark.parametrize(
    "document",
    [
        b"1212<?xml version='1.0'?><edXML/>",  # the stray bytes of a real sample
        b"<notEdxml/>",
        f'<edXML xmlns="{EDXML_NS}"><edXMLEnvelope/></edXML>'.encode(),
    ],
)
def test_what_is_not_an_edxml_is_refused(axis, document) -> None:
    answer = send(axis, document, to=None)
    assert answer.status_code == 400 and answer.json()["ErrorCode"] == "INVALID_EDXML"
    assert list(axis.store.directory.iterdir()) == []


def test_entities_are_not_resolved_when_reading_recipients(axis, tmp_path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("000.00.01.A53")  # would be a known agency if it were read
    hostile = f'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file://{secret_file}">]>'.encode() + edxml(
        OURS, "&x;"
    )
    answer = send(axis, hostile, to=None)
    assert answer.status_code == 400 and axis.mailbox(OTHER) == []


def test_received_lists_initial_records_of_the_callers_agencies(axis) -> None:
    ids = [r["id"] for r in send(axis, to=[THEIRS, OTHER]).json()["data"]]
    peer = {"system": PEER, "secret": PEER_SECRET}

    assert len(call(axis, "getReceivedEdocList", {}, **peer).json()["data"]) == 2
    only = call(axis, "getReceivedEdocList", {"agency": OTHER}, **peer).json()["data"]
    assert [r["id"] for r in only] == [ids[1]]
    assert call(axis, "getReceivedEdocList", {}).json()["data"] == []  # nothing for us
    refused = call(axis, "getReceivedEdocList", {"agency": THEIRS})
    assert refused.status_code == 403  # not our agency

    moved = call(axis, "updateStatus", {"docId": ids[0], "status": "processing"}, **peer)
    assert moved.json()["data"]["status"] == "processing"
    left = call(axis, "getReceivedEdocList", {}, **peer).json()["data"]
    assert [r["id"] for r in left] == [ids[1]]
    sent = call(axis, "getSentEdocList", {}).json()["data"]
    assert {r["id"]: r["status"] for r in sent} == {ids[0]: "processing", ids[1]: "initial"}


def test_get_edoc_streams_the_body_to_the_recipients_system_only(axis) -> None:
    document = edxml(
        OURS, THEIRS, extra="<AttachmentEncoded>" + "QUJD" * 1000 + "</AttachmentEncoded>"
    )
    [record] = send(axis, document).json()["data"]

    fetched = call(axis, "getEdoc", {"docId": record["id"]}, system=PEER, secret=PEER_SECRET)
    assert fetched.status_code == 200 and fetched.content == document
    assert json.loads(fetched.headers["X-VDXP-Record"]) == record
    assert call(axis, "getEdoc", {"docId": record["id"]}).status_code == 403
    missing = call(axis, "getEdoc", {"docId": "nope"}, system=PEER, secret=PEER_SECRET)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["processing", "done"], True),
        (["done"], True),
        (["fail"], True),
        (["processing", "initial", "processing"], True),
        (["done", "processing"], False),
        (["fail", "done"], False),
        (["archived"], False),
    ],
)
def test_status_moves(axis, path, allowed) -> None:
    [record] = send(axis).json()["data"]
    peer = {"system": PEER, "secret": PEER_SECRET}
    answers = [
        call(axis, "updateStatus", {"docId": record["id"], "status": s}, **peer) for s in path
    ]
    assert all(a.status_code == 200 for a in answers[:-1])
    assert (answers[-1].status_code == 200) is allowed
    assert call(axis, "updateStatus", {"docId": record["id"], "status": "done"}).status_code == 403


def test_agencies_are_registered_to_the_calling_system(axis) -> None:
    added = call(axis, "registerAgency", {"code": "000.00.02.H57", "name": "Sở", "pcode": OURS})
    assert added.json()["data"] == {"code": "000.00.02.H57", "pcode": OURS, "name": "Sở"}
    assert send(axis, **{"from": "000.00.02.H57"}).status_code == 200
    taken = call(axis, "registerAgency", {"code": THEIRS, "name": "x"})
    assert taken.status_code == 409 and taken.json()["ErrorCode"] == "AGENCY_TAKEN"
    assert call(axis, "registerAgency", {"code": "", "name": "x"}).status_code == 400


# --- idempotency --------------------------------------------------------------------------------
def test_the_same_key_gives_the_same_records(axis) -> None:
    first = send(axis, key="msg-1").json()
    again = send(axis, key="msg-1").json()
    assert again["duplicate"] is True and again["data"] == first["data"]
    assert len(axis.mailbox(THEIRS)) == 1
    assert len(list(axis.store.directory.iterdir())) == 1
    conflict = send(axis, edxml(OURS, THEIRS, extra="<x/>"), key="msg-1")
    assert conflict.status_code == 409 and conflict.json()["ErrorCode"] == "CONFLICT"
    axis.add_agency("000.00.00.K57", "HĐND", None, PEER)
    theirs = send(axis, key="msg-1", system=PEER, secret=PEER_SECRET, **{"from": "000.00.00.K57"})
    assert theirs.json()["duplicate"] is False  # keys are per system
    assert [(r.idempotency_key, r.duplicate) for r in axis.received] == [
        ("msg-1", False),
        ("msg-1", True),
        ("msg-1", True),
    ]


# --- the WSO2 front -----------------------------------------------------------------------------
def test_wso2_token_and_bearer(axis) -> None:
    refused = requests.post(
        f"{axis.url}/token", data={"grant_type": "client_credentials"}, auth=("h57", "x"), timeout=5
    )
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    url = f"{axis.url}/truclienthong/v1.0.0/agencies"
    unauthorised = requests.get(url, headers={"Authorization": "Bearer forged"}, timeout=5)
    assert unauthorised.status_code == 401 and unauthorised.json()["fault"]["code"] == 900901
    headers = bearer(axis)
    assert requests.get(url, headers=headers, timeout=5).json()["count"] == 3
    axis.expire_tokens()
    assert requests.get(url, headers=headers, timeout=5).status_code == 401
    assert axis.token_requests == 2


def test_wso2_documents_round_trip(axis) -> None:
    axis.add_client("vpcp", "c-vpcp", PEER)
    base = f"{axis.url}/truclienthong/v1.0.0"
    document = edxml(OURS, THEIRS)
    content = base64.encodebytes(document).decode().replace("/", "\\/")  # line breaks, escapes
    body = {"kind": "edoc", "from": OURS, "content": content}
    posted = requests.post(f"{base}/documents", json=body, headers=bearer(axis), timeout=5)
    assert posted.status_code == 201
    [record] = posted.json()["documents"]
    assert record["status"] == "INITIAL" and record["to"] == THEIRS

    theirs = bearer(axis, "vpcp", "c-vpcp")
    listed = requests.get(f"{base}/documents?status=initial", headers=theirs, timeout=5).json()
    assert [r["id"] for r in listed["documents"]] == [record["id"]]
    got = requests.get(f"{base}/documents/{record['id']}/content", headers=theirs, timeout=5)
    assert got.content == document
    put = requests.put(
        f"{base}/documents/{record['id']}/status",
        json={"status": "DONE"},
        headers=theirs,
        timeout=5,
    )
    assert put.json()["status"] == "DONE"
    sent = requests.get(f"{base}/documents?direction=sent", headers=bearer(axis), timeout=5)
    assert [r["status"] for r in sent.json()["documents"]] == ["DONE"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"from": "000.00.00.H57", "kind": "edoc", "content": "not base64!"}',
        b'{"from": "000.00.00.H57", "kind": "edoc", "content": "QUJD"',
        b'{"from": "000.00.00.H57", "kind": "edoc"}',
        b'{"from": "000.00.00.H57", "kind": "edoc", "content": "QUJD", "extra": 1}',
        b'["not an object"]',
    ],
)
def test_wso2_malformed_documents_are_refused(axis, body) -> None:
    answer = requests.post(
        f"{axis.url}/truclienthong/v1.0.0/documents",
        data=body,
        headers={**bearer(axis), "Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 400 and answer.json()["code"] == "BAD_REQUEST"
    assert list(axis.store.directory.iterdir()) == []


# --- faults and the ledger ----------------------------------------------------------------------
def test_faults_answer_in_the_style_of_the_request(axis) -> None:
    axis.set_faults(fail_next=1, fail_status=503)
    busy = call(axis, "getAgenciesList")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert busy.json() == {
        "status": "FAIL",
        "ErrorCode": "SYSTEM_BUSY",
        "ErrorDesc": "injected fault",
    }
    axis.set_faults(fail_next=2, error_code="E_REJECTED")
    assert call(axis, "getAgenciesList").json()["ErrorCode"] == "E_REJECTED"
    url = f"{axis.url}/truclienthong/v1.0.0/agencies"
    refused = requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5)
    assert (refused.status_code, refused.json()["code"]) == (400, "E_REJECTED")
    requests.post(f"{axis.url}/_sandbox/faults", json={"outage": True}, timeout=5)
    with pytest.raises(requests.ConnectionError):
        call(axis, "getAgenciesList")


def test_the_ledger_keeps_large_bodies_by_digest_only(axis) -> None:
    big = edxml(
        OURS, THEIRS, extra="<AttachmentEncoded>" + "QUJD" * (3 << 18) + "</AttachmentEncoded>"
    )
    assert send(axis, big).status_code == 200
    [sent] = axis.received
    assert sent.operation == "sendEdoc" and not sent.body_kept and sent.body == b""
    assert sent.argument_digests["file"] == (len(big), hashlib.sha256(big).hexdigest())
