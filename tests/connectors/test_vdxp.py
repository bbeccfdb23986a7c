"""The vdxp connector against the VDXP axis simulator over real loopback HTTP, in both styles
(VNPT's signed calls, a provincial LGSP's WSO2 gateway): sending to one and to several agencies,
the pull side (list, fetch with its integrity check, confirm), idempotency, every refusal the
axis makes and how it is classed, a 100 MB document end to end, the agency directory, check()
and the acceptance suite."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.vdxp import ReceivedEdoc, VdxpConnector
from hub.connector import OutboundMessage
from hub.errors import (
    LocalDeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.vdxp import VdxpAxis

SAMPLES = Path("/work/shared/domain/samples/vxp-sdk-example")
OURS, PEER = "lgsp-h57", "vpcp-national"  # two systems on the axis
SECRET, PEER_SECRET, WRONG = "h57-hmac-secret-4f1c", "vpcp-hmac-secret-9d2e", "a-wrong-secret-0000"
CONSUMER, PEER_CONSUMER = "h57-consumer-secret-77a0", "vpcp-consumer-secret-31b5"
OFFICE_SECRET, OFFICE_CONSUMER = "office-hmac-secret-52c8", "office-consumer-secret-0e94"
PROVINCE, OFFICE, NGHE_AN = "000.00.00.H57", "000.00.01.H57", "000.00.00.H41"  # ours
VPCP, PARTY, COUNCIL = "000.00.00.G22", "000.00.01.A53", "000.00.00.K57"  # the peer's
MIB = 1024 * 1024
STYLES = ["vnpt", "wso2"]

Make = Callable[..., VdxpConnector]


@pytest.fixture(autouse=True)
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "VDXP_SECRET": SECRET,
        "VDXP_PEER_SECRET": PEER_SECRET,
        "VDXP_WRONG": WRONG,
        "VDXP_CONSUMER": CONSUMER,
        "VDXP_PEER_CONSUMER": PEER_CONSUMER,
        "VDXP_OFFICE_SECRET": OFFICE_SECRET,
        "VDXP_OFFICE_CONSUMER": OFFICE_CONSUMER,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def axis() -> Iterator[VdxpAxis]:
    with VdxpAxis(
        seed=False, system_id=OURS, secret=SECRET, consumer_key=OURS, consumer_secret=CONSUMER
    ) as server:
        server.add_system(PEER, PEER_SECRET)
        server.add_client(PEER, PEER_CONSUMER, PEER)
        server.add_system("h57-office", OFFICE_SECRET)
        server.add_client("h57-office", OFFICE_CONSUMER, "h57-office")
        for code, name in ((PROVINCE, "UBND thành phố Huế"), (NGHE_AN, "UBND tỉnh Nghệ An")):
            server.add_agency(code, name, None, OURS)
        server.add_agency(OFFICE, "Văn phòng UBND", PROVINCE, "h57-office")
        for code, name in ((VPCP, "Văn phòng Chính phủ"), (PARTY, "VP Tỉnh ủy"), (COUNCIL, "HĐND")):
            server.add_agency(code, name, None, PEER)
        yield server


def config(axis: VdxpAxis, style: str, system: str = "ours", **overrides: Any) -> dict[str, Any]:
    if style == "vnpt":
        who = {"system_id": OURS, "secret_env": "VDXP_SECRET"}
        if system == "peer":
            who = {"system_id": PEER, "secret_env": "VDXP_PEER_SECRET"}
    else:
        who = {"style": "wso2", "consumer_key": OURS, "consumer_secret_env": "VDXP_CONSUMER"}
        if system == "peer":
            who.update(consumer_key=PEER, consumer_secret_env="VDXP_PEER_CONSUMER")
    return {"base_url": axis.url, "timeout_seconds": 5, **who, **overrides}


@pytest.fixture(params=STYLES)
def style(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make(axis: VdxpAxis, style: str) -> Iterator[Make]:
    made: list[VdxpConnector] = []

    def build(system: str = "ours", **overrides: Any) -> VdxpConnector:
        connector = VdxpConnector("vdxp", config(axis, style, system, **overrides))
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def edxml(sender: str = PROVINCE, *recipients: str, subject: str = "Báo cáo tháng") -> bytes:
    to = "".join(
        f"<edXML:To><edXML:OrganId>{code}</edXML:OrganId>"
        f"<edXML:OrganName>Cơ quan nhận</edXML:OrganName></edXML:To>"
        for code in recipients or (VPCP,)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
        '<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">'
        "<edXML:edXMLHeader><edXML:MessageHeader>"
        f"<edXML:From><edXML:OrganId>{sender}</edXML:OrganId></edXML:From>{to}"
        f"<edXML:DocumentId>{sender},2026/11/20,12/UBND-VP</edXML:DocumentId>"
        f"<edXML:Subject>{subject}</edXML:Subject>"
        "</edXML:MessageHeader></edXML:edXMLHeader>"
        "<edXML:edXMLBody/></edXML:edXMLEnvelope></edXML>"
    ).encode()


def message(
    data: bytes | None = None, recipient: str | None = VPCP, **fields: Any
) -> OutboundMessage:
    body = edxml() if data is None else data
    base = OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency=PROVINCE,
        sender_system="qlvb",
        service="edoc.send",
        recipient=recipient,
        content_type="application/xml",
        payload=Payload.of(body, "application/xml"),
    )
    return replace(base, **fields)


def sends(axis: VdxpAxis) -> list[Any]:
    return [r for r in axis.received if r.operation == "sendEdoc"]


# --- sending ------------------------------------------------------------------------------------
def test_a_document_lands_in_the_recipients_mailbox(axis, make, style) -> None:
    msg = message()
    result = make().deliver(msg)

    [record] = axis.mailbox(VPCP)
    assert result.remote_status == ("OK" if style == "vnpt" else "201")
    assert result.details["vdxp_id"] == record["id"] and result.details["kind"] == "edoc"
    assert (record["from"], record["messageType"], record["status"]) == (
        PROVINCE,
        "edoc",
        "initial",
    )
    assert record["contentSha256"] == msg.payload.sha256
    assert record["contentLength"] == msg.payload.size
    [sent] = sends(axis)
    assert sent.argument_digests["file"] == (msg.payload.size, msg.payload.sha256)
    assert sent.idempotency_key == f"{msg.id}/{VPCP}"
    kind = sent.arguments["messagetype" if style == "vnpt" else "kind"]
    assert (sent.arguments["from"], sent.arguments["to"], kind) == (PROVINCE, [VPCP], "edoc")


def test_three_recipients_one_delivery_each_as_the_hub_fans_out(axis, make) -> None:
    connector, msg = make(), message(edxml(PROVINCE, VPCP, PARTY, COUNCIL))
    ids = {}
    for code in (VPCP, PARTY, COUNCIL):
        ids[code] = connector.deliver(replace(msg, recipient=code)).details["vdxp_id"]

    for code in (VPCP, PARTY, COUNCIL):
        [record] = axis.mailbox(code)
        assert record["id"] == ids[code] and record["contentSha256"] == msg.payload.sha256
    assert len({r.idempotency_key for r in sends(axis)}) == 3  # the same message, 3 keys


def test_without_a_recipient_the_axis_reads_the_edxml_and_stores_it_once(axis, make) -> None:
    msg = message(edxml(PROVINCE, VPCP, PARTY, COUNCIL), recipient=None)
    result = make().deliver(msg)

    assert set(result.details["vdxp_ids"]) == {VPCP, PARTY, COUNCIL}
    records = [r for code in (VPCP, PARTY, COUNCIL) for r in axis.mailbox(code)]
    assert len(records) == 3 and len(sends(axis)) == 1
    assert len({axis.stored_path(r["id"]) for r in records}) == 1  # one body on disk
    assert "to" not in sends(axis)[0].arguments


def test_a_status_message_is_sniffed_and_goes_to_the_document_sender(axis, make) -> None:
    """The real sample status message (From H41, ResponseFor G22): no edxml-kind header."""
    data = (SAMPLES / "status.edxml").read_bytes()
    result = make().deliver(message(data, recipient=None, sender_agency=NGHE_AN))

    assert result.details["kind"] == "status"
    [record] = axis.mailbox(VPCP)
    assert (record["from"], record["messageType"]) == (NGHE_AN, "status")


def test_the_edxml_kind_header_is_used_and_checked(axis, make) -> None:
    connector = make()
    connector.deliver(message(headers={"edxml-kind": "status"}))
    assert axis.mailbox(VPCP)[0]["messageType"] == "status"
    with pytest.raises(LocalDeliveryError):
        connector.deliver(message(headers={"edxml-kind": "memo"}))
    assert len(sends(axis)) == 1


def test_a_resent_delivery_is_not_a_second_document(axis, make) -> None:
    connector, msg = make(), message()
    first = connector.deliver(msg)
    again = connector.deliver(replace(msg, attempt=2))

    assert again.details["vdxp_id"] == first.details["vdxp_id"]
    assert (first.details["duplicate"], again.details["duplicate"]) == (False, True)
    assert len(axis.mailbox(VPCP)) == 1
    assert len(sends(axis)) == 2 and len([r for r in sends(axis) if not r.duplicate]) == 1


# --- receiving ----------------------------------------------------------------------------------
def test_receive_fetch_and_confirm(axis, make, tmp_path) -> None:
    msg = message(edxml(PROVINCE, PARTY))
    make().deliver(replace(msg, recipient=PARTY))
    peer = make("peer")

    [waiting] = peer.received()
    assert isinstance(waiting, ReceivedEdoc) and waiting.status == "initial"
    assert (waiting.sender, waiting.recipient, waiting.message_type) == (PROVINCE, PARTY, "edoc")
    assert peer.received(PARTY) == [waiting] and peer.received(COUNCIL) == []
    with (tmp_path / "in.edxml").open("wb") as into:
        fetched = peer.fetch(waiting.id, into)
    assert (tmp_path / "in.edxml").read_bytes() == msg.payload.read()
    assert fetched.content_sha256 == msg.payload.sha256

    assert peer.update_status(waiting.id, "processing").status == "processing"
    assert peer.received() == []
    assert peer.update_status(waiting.id, "done").status == "done"
    [ours] = make().sent()
    assert (ours.id, ours.status) == (waiting.id, "done")


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_a_damaged_document_is_detected_and_nothing_kept(axis, make, damage) -> None:
    make().deliver(message())
    peer = make("peer")
    [waiting] = peer.received()
    path = axis.stored_path(waiting.id)
    data = path.read_bytes()
    path.write_bytes(
        {"flip": data[:-5] + b"X" + data[-4:], "truncate": data[:-10], "append": data + b"<x/>"}[
            damage
        ]
    )
    into = io.BytesIO(b"earlier")
    into.seek(0, io.SEEK_END)
    with pytest.raises(TransientDeliveryError) as caught:
        peer.fetch(waiting.id, into)
    assert caught.value.details["reason"] == "integrity" and "damaged" in caught.value.message
    assert into.getvalue() == b"earlier"  # cut back: nothing half-accepted
    assert [r.status for r in peer.received()] == ["initial"]  # fetched again later


def test_only_the_recipients_system_reads_or_moves_a_record(axis, make) -> None:
    make().deliver(message())
    [waiting] = make("peer").received()
    with pytest.raises(PermanentDeliveryError) as caught:
        make().update_status(waiting.id, "done")
    assert caught.value.details["reason"] == "forbidden"
    with pytest.raises(LocalDeliveryError):
        make("peer").update_status(waiting.id, "initial")


# --- refusals -----------------------------------------------------------------------------------
def test_an_unknown_recipient_is_permanent_and_named(axis, make) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make().deliver(message(recipient="000.00.99.H99"))
    assert caught.value.remote_status == "code:UNKNOWN_AGENCY"
    assert "000.00.99.H99" in caught.value.message
    assert caught.value.details["agencies"] == ["000.00.99.H99"]


def test_sending_for_another_systems_agency_is_permanent(axis, make) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make().deliver(message(sender_agency=OFFICE))
    assert caught.value.remote_status == "code:FORBIDDEN"
    assert axis.mailbox(VPCP) == []


def test_a_wrong_secret_is_permanent_and_never_shown(axis, style, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = (
        {"secret_env": "VDXP_WRONG"} if style == "vnpt" else {"consumer_secret_env": "VDXP_WRONG"}
    )
    connector = VdxpConnector("vdxp", config(axis, style, **wrong))
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "auth"
    checks = {r.name: r for r in connector.check()}
    assert checks["auth"].status == "fail" and not connector.health().ok
    connector.close()
    shown = [str(caught.value.as_dict()), caplog.text, *(r.detail for r in checks.values())]
    assert not any(WRONG in text or SECRET in text or CONSUMER in text for text in shown)
    assert axis.mailbox(VPCP) == []


def test_a_replayed_request_is_refused(axis) -> None:
    connector = VdxpConnector("vdxp", config(axis, "vnpt"))
    connector.deliver(message())
    connector.close()
    [sent] = sends(axis)
    replay = requests.post(axis.url + sent.path, data=sent.body, headers=sent.headers, timeout=5)
    assert replay.status_code == 401 and "nonce" in replay.json()["ErrorDesc"]
    assert len(axis.mailbox(VPCP)) == 1


def test_a_skewed_clock_is_refused_with_a_hint(axis) -> None:
    connector = VdxpConnector("vdxp", config(axis, "vnpt"))
    axis.clock = lambda: time.time() + 600
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    connector.close()
    assert "timestamp" in caught.value.message and "clock" in caught.value.message


@pytest.mark.parametrize("fault", [{"fail_status": 503}, {"error_code": "SYSTEM_BUSY"}])
def test_a_busy_axis_is_transient(axis, make, fault) -> None:
    connector = make()
    connector.agencies()  # the token first (wso2): the fault is the API's answer
    axis.set_faults(fail_next=1, **fault)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "code:SYSTEM_BUSY"
    assert connector.deliver(message()).details["vdxp_id"]


def test_an_unlisted_axis_error_is_permanent(axis, make, style) -> None:
    connector = make()
    connector.agencies()
    axis.set_faults(fail_next=1, error_code="E_DOC_REJECTED")
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "code:E_DOC_REJECTED"


def test_a_dropped_connection_is_transient(axis, make) -> None:
    connector = make()
    connector.agencies()
    axis.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "connection_error"
    axis.clear_faults()
    assert connector.deliver(message()).details["vdxp_id"]


def test_an_expired_token_is_renewed_once(axis) -> None:
    connector = VdxpConnector("vdxp", config(axis, "wso2"))
    connector.deliver(message())
    connector.deliver(message())
    assert axis.token_requests == 1
    axis.expire_tokens()
    assert connector.deliver(message()).remote_status == "201"
    assert axis.token_requests == 2 and len(axis.mailbox(VPCP)) == 3
    connector.close()


# --- per-agency credentials ---------------------------------------------------------------------
def test_an_agency_with_its_own_credentials_sends_and_receives_with_them(axis, style) -> None:
    own = (
        {"system_id": "h57-office", "secret_env": "VDXP_OFFICE_SECRET"}
        if style == "vnpt"
        else {"consumer_key": "h57-office", "consumer_secret_env": "VDXP_OFFICE_CONSUMER"}
    )
    connector = VdxpConnector("vdxp", config(axis, style, agency_credentials={OFFICE: own}))
    connector.deliver(message(edxml(OFFICE), sender_agency=OFFICE))  # the office's system sends
    connector.deliver(message(edxml(PROVINCE, OFFICE), recipient=OFFICE))  # ours sends to it
    assert [r.sender for r in connector.received(OFFICE)] == [PROVINCE]
    assert {r.name: r.status for r in connector.check()}["auth"] == "ok"
    connector.close()
    assert [r["from"] for r in axis.mailbox(VPCP)] == [OFFICE]


# --- a large document ---------------------------------------------------------------------------
def big_edxml(path: Path, size: int) -> str:
    """An edXML of ``size`` bytes, its attachment base64 written block by block; its SHA-256."""
    digest = hashlib.sha256()
    head = edxml(PROVINCE, PARTY)[: -len(b"<edXML:edXMLBody/></edXML:edXMLEnvelope></edXML>")]
    head += b"<edXML:edXMLBody/></edXML:edXMLEnvelope><AttachmentEncoded><Attachment>"
    head += b"<ContentId>cid:1</ContentId><ContentTransferEncoded>"
    tail = b"</ContentTransferEncoded></Attachment></AttachmentEncoded></edXML>"
    left = size - len(head) - len(tail)
    with path.open("wb") as fh:
        for part in (head, None, tail):
            if part is not None:
                fh.write(part)
                digest.update(part)
                continue
            while left:
                block = base64.b64encode(os.urandom(3 * MIB // 4))[:left]
                block = block[: len(block) - len(block) % 4] or b"A" * left
                fh.write(block)
                digest.update(block)
                left -= len(block)
    return digest.hexdigest()


@pytest.mark.timeout(120)
def test_a_100_mb_document_is_streamed_end_to_end(axis, make, tmp_path) -> None:
    size = 100 * MIB
    source = tmp_path / "big.edxml"
    sha = big_edxml(source, size)
    payload = Payload.stored(source, size, sha, "application/xml")
    make().deliver(message(recipient=PARTY, payload=payload))

    [sent] = sends(axis)
    assert sent.argument_digests["file"] == (size, sha) and not sent.body_kept
    [record] = axis.mailbox(PARTY)
    assert (record["contentLength"], record["contentSha256"]) == (size, sha)
    with (tmp_path / "fetched.edxml").open("wb") as into:
        make("peer").fetch(record["id"], into)
    with (tmp_path / "fetched.edxml").open("rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == sha


# --- the agency directory -----------------------------------------------------------------------
def test_agencies_are_listed_and_registered(axis, make) -> None:
    connector = make()
    assert [a["code"] for a in connector.agencies(limit=2)] == [VPCP, NGHE_AN]
    added = connector.register_agency("000.00.02.H57", "Sở Nội vụ", pcode=PROVINCE)
    assert added == {"code": "000.00.02.H57", "pcode": PROVINCE, "name": "Sở Nội vụ"}
    assert "000.00.02.H57" in {a["code"] for a in connector.agencies()}
    connector.deliver(message(sender_agency="000.00.02.H57"))  # now ours to send from
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.register_agency(VPCP, "Văn phòng Chính phủ")
    assert caught.value.remote_status == "code:AGENCY_TAKEN"


# --- configuration and check --------------------------------------------------------------------
def test_check_is_ok_then_warns_when_the_axis_is_down(axis, make) -> None:
    connector = make()
    assert {r.status for r in connector.check()} == {"ok"}
    assert connector.health().ok
    axis.stop()
    results = connector.check()
    assert "warn" in {r.status for r in results} and "fail" not in {r.status for r in results}
    assert not connector.health().ok


def test_check_fails_an_unresolvable_secret(axis, style) -> None:
    key = "secret_env" if style == "vnpt" else "consumer_secret_env"
    connector = VdxpConnector("vdxp", config(axis, style, **{key: "VDXP_UNSET_SECRET"}))
    statuses = {r.name: r.status for r in connector.check()}
    assert statuses["secret"] == "fail" and statuses["auth"] == "fail"
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "config" and sends(axis) == []
    connector.close()


@pytest.mark.parametrize(
    "overrides",
    [
        {"style": "wso2"},  # no consumer_key
        {"consumer_key": "k", "consumer_secret_env": "X"},  # wso2 fields in vnpt style
        {"secret": "inline"},
        {"secret_env": None},
        {"agency_credentials": {OFFICE: {"consumer_key": "k", "consumer_secret_env": "X"}}},
        {"agency_credentials": {"bad code": {"system_id": "s", "secret_env": "X"}}},
        {"base_url": "ftp://axis"},
    ],
)
def test_invalid_configuration_is_refused(axis, overrides) -> None:
    cfg = {k: v for k, v in {**config(axis, "vnpt"), **overrides}.items() if v is not None}
    with pytest.raises(SchemaViolation):
        VdxpConnector("vdxp", cfg)


def test_retarget_moves_the_axis_and_the_token_endpoint(axis) -> None:
    moved = VdxpConnector.retarget(
        config(axis, "wso2", token_url=f"{axis.url}/oauth2/token"), "http://127.0.0.1:9"
    )
    assert moved["base_url"] == "http://127.0.0.1:9/"
    assert moved["token_url"] == "http://127.0.0.1:9/oauth2/token"


# --- the acceptance suite, for both styles ------------------------------------------------------
class _Contract(ConnectorContract):
    style = "vnpt"

    @pytest.fixture
    def partner(self, axis):
        # hub.conformance sends its round trip as agency "lgsp": the axis must know it as ours
        axis.add_agency("lgsp", "LGSP (conformance)", None, OURS)
        return axis

    @pytest.fixture
    def connector(self, partner):
        connector = VdxpConnector("vdxp", config(partner, self.style, timeout_seconds=2))
        yield connector
        connector.close()

    @pytest.fixture
    def outbound(self):
        return message()


class TestVnptContract(_Contract):
    style = "vnpt"


class TestWso2Contract(_Contract):
    style = "wso2"
