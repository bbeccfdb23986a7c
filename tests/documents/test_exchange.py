"""Documents inside one province, end to end through the real API: from a commune's document
system to the province's (held in its inbox until it confirms, never through the axis), status
feedback back to the commune, the From check, old codes resolved, narrowing, fan-out."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from hub.client import ClientError
from hub.edxml import reader
from hub.store.tables import deliveries, denials, edocs, messages
from tests.documents.province import (
    CLOSED,
    COMMUNE,
    OLD_DISTRICT,
    OUTSIDE,
    PROVINCE,
    XML,
    edoc,
    register,
    status,
)
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def province(running, sink):
    admin = running.admin()
    keys = register(admin, sink.url)
    return admin, running.client(keys["qlvb-tinh"]), running.client(keys["qlvb-xa"])


def send(client, data: bytes, **params):
    """The answer as the caller sees it, refusals included."""
    return client.session.post(
        client.url + "/v1/documents", data=data, headers=XML, params=params, timeout=30
    )


def test_commune_to_province_is_held_for_its_system_and_feedback_flows_back(
    running, province, sink
):
    admin, tinh, xa = province
    data = edoc(COMMUNE, [PROVINCE])
    answer = send(xa, data)
    assert answer.status_code == 202, answer.text
    message_id = answer.json()["id"]

    (item,) = tinh.json("GET", "/v1/documents/inbox")["items"]
    assert item["id"] == message_id and item["recipients"] == [PROVINCE]
    assert item["document_id"] == f"{COMMUNE},2026/11/27,1/UBND-VP"
    got = tinh.request("GET", f"/v1/documents/inbox/{message_id}")
    delivered = reader.read(got.content)
    assert [t.organ_id for t in delivered.traces] == [COMMUNE, COMMUNE]  # the hub's hop appended
    assert xa.json("GET", "/v1/documents/inbox")["items"] == []  # not for the commune

    # not received until confirmed: still pending, fetch again is fine
    assert len(tinh.json("GET", "/v1/documents/inbox")["items"]) == 1
    first = tinh.json("POST", f"/v1/documents/inbox/{message_id}/confirm")
    again = tinh.json("POST", f"/v1/documents/inbox/{message_id}/confirm")
    assert first == again
    assert tinh.json("GET", "/v1/documents/inbox")["items"] == []
    trace = admin.json("GET", f"/v1/messages/{message_id}")
    assert trace["status"] == "delivered"

    document_id = item["document_id"]
    for code, at in (("03", "2026/11/27 10:00:00"), ("06", "2026/11/28 16:00:00")):
        assert send(tinh, status(PROVINCE, COMMUNE, document_id, code, at)).status_code == 202
    pending = xa.json("GET", "/v1/documents/inbox")["items"]
    assert [(i["kind"], i["status_code"]) for i in pending] == [("status", "03"), ("status", "06")]
    for i in pending:
        xa.json("POST", f"/v1/documents/inbox/{i['id']}/confirm")

    view = xa.json("GET", "/v1/documents", params={"id": document_id})
    (doc,) = view["documents"]
    (recipient,) = doc["recipients"]
    assert recipient["recipient"] == PROVINCE and recipient["channel"] == "inbox"
    assert recipient["state"] == "finished"
    assert [s["state"] for s in recipient["timeline"]] == ["accepted", "finished"]
    assert [s["status_code"] for s in view["status_messages"]] == ["03", "06"]
    events = [e["event"] for e in admin.json("GET", f"/v1/messages/{message_id}")["events"]]
    assert events.count("feedback") == 2
    assert sink.received == []  # nothing went through the axis


def test_a_system_may_send_only_as_an_agency_it_speaks_for(running, province):
    _, _, xa = province
    with pytest.raises(ClientError) as caught:
        xa.json("POST", "/v1/documents", data=edoc(PROVINCE, [COMMUNE]), headers=XML)
    assert caught.value.status == 403
    running.hub.denials.flush()
    with running.hub.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(messages)).scalar() == 0
        reasons = conn.execute(select(denials.c.reason)).scalars().all()
    assert f"may not send documents as {PROVINCE}" in reasons


def test_an_old_code_resolves_to_its_successor_and_a_closed_one_is_refused(running, province):
    admin, tinh, xa = province
    answer = send(xa, edoc(COMMUNE, [OLD_DISTRICT], number=2))
    assert answer.status_code == 202, answer.text
    (item,) = tinh.json("GET", "/v1/documents/inbox")["items"]
    assert item["recipients"] == [PROVINCE]
    message = admin.json("GET", f"/v1/messages/{item['id']}")
    assert message["headers"]["x-lgsp-edoc-recipients-resolved"] == f"{OLD_DISTRICT}={PROVINCE}"

    refused = send(xa, edoc(COMMUNE, [CLOSED], number=3))
    assert refused.status_code == 422
    assert refused.json()["details"]["errors"] == [
        {"path": "MessageHeader/To/OrganId", "message": f"{CLOSED}: the agency is closed"}
    ]


def test_recipients_narrowed_never_widened(running, province, sink):
    _, tinh, xa = province
    data = edoc(COMMUNE, [PROVINCE, OUTSIDE], number=4)
    widened = send(xa, data, recipient=[PROVINCE, "000.00.00.H50"])
    assert widened.status_code == 422
    assert "000.00.00.H50 is not in MessageHeader/To" in widened.text
    narrowed = send(xa, data, recipient=[PROVINCE])
    assert narrowed.status_code == 202
    assert len(tinh.json("GET", "/v1/documents/inbox")["items"]) == 1
    with running.hub.reader.connect() as conn:
        targets = (
            conn.execute(
                select(deliveries.c.recipient).where(
                    deliveries.c.message_id == narrowed.json()["id"]
                )
            )
            .scalars()
            .all()
        )
    assert targets == [PROVINCE]


def test_a_document_to_fifty_agencies_is_fifty_tracked_deliveries(running, province, sink):
    admin, _, xa = province
    outside = [f"000.00.{n:02d}.H49" for n in range(50)]
    answer = send(xa, edoc(COMMUNE, outside, number=5))
    assert answer.status_code == 202, answer.text
    wait_until(lambda: len(sink.received) >= 50, timeout=60, what="50 deliveries through the axis")
    message = admin.json("GET", f"/v1/messages/{answer.json()['id']}")
    assert sorted(d["recipient"] for d in message["deliveries"]) == outside
    wait_until(
        lambda: admin.json("GET", f"/v1/messages/{answer.json()['id']}")["status"] == "delivered"
    )
    view = admin.json("GET", "/v1/documents", params={"id": f"{COMMUNE},2026/11/27,5/UBND-VP"})
    assert {r["state"] for r in view["documents"][0]["recipients"]} == {"sent"}
    assert {r["channel"] for r in view["documents"][0]["recipients"]} == {"axis"}


def test_a_resent_document_is_recognised(running, province):
    _, tinh, xa = province
    data = edoc(COMMUNE, [PROVINCE], number=6)
    first, second = send(xa, data), send(xa, data)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.json()["id"] == first.json()["id"]
    assert len(tinh.json("GET", "/v1/documents/inbox")["items"]) == 1


def test_status_messages_carry_their_document_id(running, province):
    _, tinh, xa = province
    send(xa, edoc(COMMUNE, [PROVINCE], number=7))
    document_id = f"{COMMUNE},2026/11/27,7/UBND-VP"
    send(tinh, status(PROVINCE, COMMUNE, document_id, "01", "2026/11/27 11:00:00"))
    with running.hub.reader.connect() as conn:
        rows = conn.execute(
            select(edocs.c.kind, messages.c.document_id)
            .join(messages, messages.c.id == edocs.c.message_id)
            .order_by(edocs.c.created_at)
        ).all()
    assert [tuple(r) for r in rows] == [("edoc", document_id), ("status", document_id)]


def test_a_revocation_and_its_take_back_request_are_answered_15(running, province):
    """A revoked document (business type 1) reaches the recipient like the document did; the
    sender's take-back request (13) goes to the recipient, whose agreement (15) comes back and
    moves the recipient to ``change_agreed``; a refusal (16) would say ``change_refused``."""
    _, tinh, xa = province
    document_id = f"{COMMUNE},2026/11/27,8/UBND-VP"
    send(xa, edoc(COMMUNE, [PROVINCE], number=8))
    revoked = send(
        xa,
        edoc(COMMUNE, [PROVINCE], number=8, business={"type": "revoke", "reason": "Ban hành nhầm"}),
    )
    assert revoked.status_code == 202, (
        revoked.text
    )  # same id, another business type: not a duplicate
    items = tinh.json("GET", "/v1/documents/inbox")["items"]
    assert [i["business_type"] for i in items] == ["0", "1"]
    asked = send(xa, status(COMMUNE, PROVINCE, document_id, "13", "2026/11/27 15:00:00"))
    assert asked.status_code == 202, asked.text
    (request,) = [
        i for i in tinh.json("GET", "/v1/documents/inbox")["items"] if i["kind"] == "status"
    ]
    assert request["status_code"] == "13" and request["recipients"] == [PROVINCE]
    agreed = send(tinh, status(PROVINCE, COMMUNE, document_id, "15", "2026/11/27 15:30:00"))
    assert agreed.status_code == 202, agreed.text
    (answer,) = xa.json("GET", "/v1/documents/inbox")["items"]
    assert answer["status_code"] == "15"
    view = xa.json("GET", "/v1/documents", params={"id": document_id})
    latest = view["documents"][-1]
    assert latest["business_type"] == "1"
    (recipient,) = latest["recipients"]
    assert recipient["state"] == "change_agreed"
    assert [s["status_code"] for s in recipient["timeline"]] == ["13", "15"]
