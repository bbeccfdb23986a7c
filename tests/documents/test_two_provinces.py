"""Two provinces, each its own hub and store, exchanging through the VDXP simulator over real
HTTP: a commune in A sends to a department in B; B pulls it from the axis and holds it for its
document system; that system's status 03 and then 06 travel back the same way, and A's timeline
shows both. Documents are signed with the sending agency's key and verified on arrival. Inside
A, a commune's document to the province goes straight to the province's system, not the axis."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from certs.make_dev_ca import make_dev_ca
from hub.documents.axis import pull
from hub.edxml import reader
from hub.store.tables import denials
from sandbox.vdxp import VdxpAxis
from tests.conftest import delete_queues, make_settings, open_hub
from tests.documents.province import XML, edoc, status
from tests.support.running import start_hub, wait_until

pytestmark = pytest.mark.timeout(180)

PROVINCE_A, COMMUNE_A = "000.00.00.H57", "000.00.20.H57"
DEPARTMENT_B = "000.01.00.H49"


@pytest.fixture(scope="module")
def dev_ca(tmp_path_factory):
    return make_dev_ca(
        tmp_path_factory.mktemp("ca"),
        [PROVINCE_A, COMMUNE_A, DEPARTMENT_B],
        key_size=2048,
    )


@pytest.fixture
def axis():
    with VdxpAxis(seed=False) as axis:
        axis.add_system("lgsp-h57", "secret-of-a-5c1e")
        axis.add_system("lgsp-h49", "secret-of-b-93d0")
        axis.add_agency(PROVINCE_A, "UBND thành phố Huế", None, "lgsp-h57")
        axis.add_agency(COMMUNE_A, "UBND phường Thuận Hóa", PROVINCE_A, "lgsp-h57")
        axis.add_agency(DEPARTMENT_B, "Sở Tài chính tỉnh Thừa Thiên", None, "lgsp-h49")
        yield axis


def _province(tmp_path, request, backend, name, dev_ca, locals_: list[str], others: dict):
    settings = make_settings(
        backend,
        tmp_path / name,
        request,
        edoc_keys_dir=dev_ca.keys_dir,
        edoc_trust_dir=dev_ca.trust_dir,
        edoc_signatures={"*": "required", **{code: "optional" for code in locals_}},
        edoc_pull_seconds=0,
    )
    hub = open_hub(settings)
    running = start_hub(hub)
    admin = running.admin()
    keys = {}
    for code, parent, _ in others["agencies"]:
        admin.json("POST", "/v1/agencies", json={"code": code, "name": code, "parent_code": parent})
    for code, _, system in others["agencies"]:
        keys[system] = admin.json(
            "POST", "/v1/systems", json={"code": system, "agency_code": code, "name": system}
        )["api_key"]
        admin.json("PATCH", f"/v1/agencies/{code}", json={"document_system": system})
    admin.json(
        "POST", "/v1/systems", json={"code": "vdxp", "agency_code": locals_[0], "name": "VDXP"}
    )
    admin.json(
        "POST",
        "/v1/services",
        json={"code": "edoc", "name": "edoc", "mode": "async", "content_type": "application/xml"},
    )
    for system in (*keys, "vdxp"):
        admin.json("POST", "/v1/access-rules", json={"system_code": system, "service_code": "edoc"})
    secret = tmp_path / f"{name}.secret"
    secret.write_text(others["secret"])
    admin.json(
        "POST",
        "/v1/connectors",
        json={
            "name": "vdxp",
            "type": "vdxp",
            "config": {
                "base_url": others["axis"],
                "system_id": others["system"],
                "secret_file": str(secret),
            },
        },
    )
    admin.json(
        "POST", "/v1/routes", json={"name": "to-vdxp", "connector": "vdxp", "service_code": "edoc"}
    )
    return running, {k: running.client(v) for k, v in keys.items()}


@pytest.fixture
def provinces(tmp_path, request, backend, dev_ca, axis):
    a, a_systems = _province(
        tmp_path,
        request,
        "sqlite",
        "a",
        dev_ca,
        [PROVINCE_A, COMMUNE_A],
        {
            "agencies": [(PROVINCE_A, None, "qlvb-tinh"), (COMMUNE_A, PROVINCE_A, "qlvb-xa")],
            "secret": "secret-of-a-5c1e",
            "system": "lgsp-h57",
            "axis": axis.url,
        },
    )
    b, b_systems = _province(
        tmp_path,
        request,
        backend,
        "b",
        dev_ca,
        [DEPARTMENT_B],
        {
            "agencies": [(DEPARTMENT_B, None, "qlvb-stc")],
            "secret": "secret-of-b-93d0",
            "system": "lgsp-h49",
            "axis": axis.url,
        },
    )
    yield a, a_systems, b, b_systems
    for running in (a, b):
        running.stop()
        delete_queues(running.hub)


def _send(client, data):
    answer = client.session.post(client.url + "/v1/documents", data=data, headers=XML, timeout=30)
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def _delivered(running, message_id):
    wait_until(
        lambda: running.admin().json("GET", f"/v1/messages/{message_id}")["status"] == "delivered",
        timeout=30,
        what=f"message {message_id} delivered",
    )


def _pulled(running, expected: int):
    got = []
    wait_until(
        lambda: got.append(pull(running.hub).as_dict()["accepted"]) or sum(got) >= expected,
        timeout=30,
        what="pulled from the axis",
    )


def _pick_up(client, kind):
    (item,) = client.json("GET", "/v1/documents/inbox")["items"]
    assert item["kind"] == kind
    data = client.request("GET", f"/v1/documents/inbox/{item['id']}").content
    client.json("POST", f"/v1/documents/inbox/{item['id']}/confirm")
    return item, data


def test_a_commune_in_a_and_a_department_in_b_exchange_through_vdxp(provinces, axis):
    a, a_systems, b, b_systems = provinces
    document_id = f"{COMMUNE_A},2026/11/27,1/UBND-VP"
    sent = _send(a_systems["qlvb-xa"], edoc(COMMUNE_A, [DEPARTMENT_B]))
    _delivered(a, sent)
    assert len(axis.mailbox(DEPARTMENT_B)) == 1

    _pulled(b, 1)
    item, data = _pick_up(b_systems["qlvb-stc"], "edoc")
    assert item["document_id"] == document_id and item["sender"] == COMMUNE_A
    received = reader.read(data)
    assert received.signature == "xmldsig"  # signed in A with the commune's key, verified in B
    assert [t.organ_id for t in received.traces][-1] == COMMUNE_A

    for code, at in (("03", "2026/11/27 14:00:00"), ("06", "2026/11/29 09:30:00")):
        answer = _send(
            b_systems["qlvb-stc"], status(DEPARTMENT_B, COMMUNE_A, document_id, code, at)
        )
        _delivered(b, answer)
        _pulled(a, 1)
        status_item, _ = _pick_up(a_systems["qlvb-xa"], "status")
        assert status_item["status_code"] == code

    view = a_systems["qlvb-xa"].json("GET", "/v1/documents", params={"id": document_id})
    (recipient,) = view["documents"][0]["recipients"]
    assert recipient["recipient"] == DEPARTMENT_B and recipient["channel"] == "axis"
    assert recipient["state"] == "finished"
    assert [s["status_code"] for s in recipient["timeline"]] == ["03", "06"]
    assert view["documents"][0]["signature"] == "unsigned"  # as the commune's system sent it

    trace_a = [e["event"] for e in a.admin().json("GET", f"/v1/messages/{sent}")["events"]]
    assert trace_a.count("feedback") == 2 and "delivered" in trace_a
    view_b = b.admin().json("GET", "/v1/documents", params={"id": document_id})
    (doc_b,) = view_b["documents"]
    assert doc_b["direction"] == "in" and doc_b["signature"] == "verified"
    assert doc_b["recipients"][0]["confirmed_at"] is not None
    assert [s["status_code"] for s in view_b["status_messages"]] == ["03", "06"]
    assert {r["status"] for r in axis.mailbox(DEPARTMENT_B)} == {"done"}


def test_inside_a_province_documents_go_straight_to_the_document_system(provinces, axis):
    a, a_systems, _, _ = provinces
    before = len(axis.sent_by("lgsp-h57"))
    sent = _send(a_systems["qlvb-xa"], edoc(COMMUNE_A, [PROVINCE_A], number=2))
    _, data = _pick_up(a_systems["qlvb-tinh"], "edoc")
    assert reader.read(data).signature == "xmldsig"
    _delivered(a, sent)
    assert len(axis.sent_by("lgsp-h57")) == before


def test_a_document_signed_by_an_unknown_signer_is_refused_at_the_pull(provinces, axis, tmp_path):
    """B trusts only the dev CA: a document signed under another CA is marked ``fail`` at the
    axis, recorded as a denial, and never reaches B's document system."""
    from connectors.vdxp import VdxpConnector
    from hub.connector import OutboundMessage
    from hub.edxml.signature import SigningKey, sign
    from hub.payload import Payload

    _, _, b, b_systems = provinces
    rogue = make_dev_ca(tmp_path / "rogue", [COMMUNE_A], key_size=2048).agencies[COMMUNE_A]
    signed = sign(
        edoc(COMMUNE_A, [DEPARTMENT_B], number=3),
        SigningKey.load(rogue.key_path, rogue.cert_path),
    )
    secret = tmp_path / "a.secret"
    secret.write_text("secret-of-a-5c1e")
    sender = VdxpConnector(
        "rogue", {"base_url": axis.url, "system_id": "lgsp-h57", "secret_file": str(secret)}
    )
    sender.deliver(
        OutboundMessage(
            id="rogue-1",
            correlation_id="rogue-1",
            sender_agency=COMMUNE_A,
            sender_system="qlvb-xa",
            service="edoc",
            recipient=DEPARTMENT_B,
            content_type="application/xml",
            payload=Payload.of(signed, "application/xml"),
            headers={"edxml-kind": "edoc"},
        )
    )
    assert pull(b.hub).as_dict()["refused"] == 1
    assert b_systems["qlvb-stc"].json("GET", "/v1/documents/inbox")["items"] == []
    assert {r["status"] for r in axis.mailbox(DEPARTMENT_B)} == {"fail"}
    b.hub.denials.flush()
    with b.hub.reader.connect() as conn:
        reasons = conn.execute(select(denials.c.reason)).scalars().all()
    assert "signature: unknown_signer" in reasons
