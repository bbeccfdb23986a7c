"""A route's mapping is applied in the worker and traced; XML payloads are validated against an
XSD and routed by XPath conditions."""

from __future__ import annotations

import json

import pytest

from hub.client import ClientError
from tests.support.partners import (
    allow,
    dossier,
    register_rest_route,
    register_sender,
    register_service,
    standard,
)
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(120)

XML = """<?xml version="1.0" encoding="UTF-8"?>
<TienDoHoSo xmlns="urn:lgsp-hub:schema:dossier-status:1">
  <MaHoSo>000.00.00.H49-261125-0100</MaHoSo>
  <TrangThaiHoSo>{status}</TrangThaiHoSo>
  <ThoiDiemXuLy>20261125090000</ThoiDiemXuLy>
</TienDoHoSo>"""


def _status(client, message_id):
    return client.json("GET", f"/v1/messages/{message_id}")["status"]


def test_route_mapping_transforms_the_payload_before_delivery(running, sink):
    admin = running.admin()
    sender = standard(admin, sink.url)
    admin.json(
        "POST",
        "/v1/connectors",
        json={"name": "dvcqg", "type": "rest", "config": {"url": sink.url + "/dvcqg"}},
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={
            "name": "progress-to-dvcqg",
            "connector": "dvcqg",
            "service_code": "dossier.status",
            "mapping": "dossier-status-to-dvcqg-progress",
            "priority": 1,
        },
    )
    accepted = sender.send("dossier.status", json.dumps(dossier(11)).encode(), "application/json")
    wait_until(lambda: _status(sender, accepted["id"]) == "delivered", what="delivery")
    delivered = sink.wait_for(1)[0].json()
    assert delivered == {
        "service": "CapNhatTienDoHoSoMC",
        "data": {
            "MaHoSo": "000.00.00.H49-261125-0011",
            "TrangThai": 4,
            "ThoiDiemXuLy": "20261125090000",
            "NoiDungXuLy": "Đang xử lý",
        },
    }
    events = sender.json("GET", f"/v1/messages/{accepted['id']}")["events"]
    assert [e["event"] for e in events][3:] == ["queued", "transformed", "delivering", "delivered"]
    assert events[4]["details"] == {"mapping": "dossier-status-to-dvcqg-progress"}


def test_xml_payload_is_validated_against_the_xsd_and_routed_by_xpath(running, sink):
    admin = running.admin()
    key = register_sender(admin)
    register_service(
        admin, "dossier.status.xml", schema="dossier-status.v1.xsd", content_type="application/xml"
    )
    register_rest_route(
        admin,
        sink.url,
        name="finished-xml",
        service="dossier.status.xml",
        path="/finished",
        priority=1,
        condition=[{"xpath": "//*[local-name()='TrangThaiHoSo']", "op": "eq", "value": "10"}],
    )
    register_rest_route(
        admin, sink.url, name="other-xml", service="dossier.status.xml", path="/other"
    )
    allow(admin, "motcua", "dossier.status.xml")
    sender = running.client(key)
    done = sender.send("dossier.status.xml", XML.format(status=10).encode(), "application/xml")
    busy = sender.send("dossier.status.xml", XML.format(status=4).encode(), "application/xml")
    for accepted in (done, busy):
        wait_until(lambda a=accepted: _status(sender, a["id"]) == "delivered", what="delivery")
    assert sorted(r.path for r in sink.wait_for(2)) == ["/finished", "/other"]
    with pytest.raises(ClientError) as invalid:
        sender.send("dossier.status.xml", XML.format(status=11).encode(), "application/xml")
    assert invalid.value.status == 422
    assert "TrangThaiHoSo" in invalid.value.details["errors"][0]["path"]
