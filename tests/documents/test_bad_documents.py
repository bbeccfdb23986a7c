"""Bad input to the documents endpoints gets a structured 4xx and leaves nothing behind:
hostile XML (entities, an external entity, XInclude), a wrong root, deep nesting, not
well-formed, not edXML, an unknown media type, oversize, no key, no access rule."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from hub.store.tables import deliveries, edoc_recipients, edocs, messages, outbox
from tests.conftest import delete_queues, make_settings, open_hub
from tests.documents.province import COMMUNE, PROVINCE, XML, edoc, register
from tests.edxml.samples import NS
from tests.support.running import start_hub

pytestmark = pytest.mark.timeout(120)

GOOD = edoc(COMMUNE, [PROVINCE])
HOSTILE = {
    "entity": b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x "y">]><edXML>&x;</edXML>',
    "external entity": b'<!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<edXML>&x;</edXML>",
    "billion laughs": b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<edXML>&b;</edXML>",
    "xinclude": GOOD.replace(
        b"<edXML:Subject>",
        b'<edXML:Subject><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        b'href="/etc/passwd"/>',
    ),
}
BROKEN = {
    "wrong root": (b"<root/>", 422, "schema_violation"),
    "not edXML": (f'<edXML xmlns="{NS}"/>'.encode(), 422, "schema_violation"),
    "deep nesting": (
        GOOD.replace(b"<edXML:Subject>", b"<a>" * 40 + b"</a>" * 40 + b"<edXML:Subject>"),
        422,
        "schema_violation",
    ),
    "not well-formed": (GOOD[:-30], 400, "malformed_input"),
    "stray bytes": (b"1212" + GOOD, 400, "malformed_input"),
    "bad base64": (
        edoc(COMMUNE, [PROVINCE], number=9)
        .replace(b"<edXML:Subject>", b"<edXML:Subject>")
        .replace(
            b"</edXML:edXMLEnvelope>",
            b"</edXML:edXMLEnvelope><AttachmentEncoded><Attachment>"
            b"<ContentId>cid:1</ContentId><ContentTransferEncoded>@@@@</ContentTransferEncoded>"
            b"</Attachment></AttachmentEncoded>",
        ),
        422,
        "schema_violation",
    ),
}


@pytest.fixture
def province(running, sink):
    keys = register(running.admin(), sink.url)
    return running.client(keys["qlvb-xa"])


def _counts(hub) -> tuple[int, ...]:
    with hub.reader.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar()
            for t in (messages, edocs, edoc_recipients, deliveries, outbox)
        )


def _post(client, data: bytes, content_type: str = "application/xml", path="/v1/documents", **kw):
    headers = {"Content-Type": content_type, **kw.pop("headers", {})}
    return client.session.post(client.url + path, data=data, headers=headers, timeout=30, **kw)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_and_nothing_is_stored(running, province, name):
    for path in ("/v1/documents", "/v1/messages?service=edoc"):
        answer = _post(province, HOSTILE[name], path=path)
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "hostile_input"
    assert _counts(running.hub) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_what_cannot_be_processed_is_a_structured_4xx(running, province, name):
    data, status, code = BROKEN[name]
    answer = _post(province, data)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == code and body["message"]
    assert "Traceback" not in answer.text
    assert _counts(running.hub) == (0, 0, 0, 0, 0)


def test_unknown_media_type_no_key_and_no_access_rule(running, province):
    assert _post(province, GOOD, "text/csv").status_code == 415
    assert _post(province, GOOD).status_code == 202
    bare = requests.post(running.url + "/v1/documents", data=GOOD, headers=XML, timeout=10)
    assert bare.status_code == 401 and bare.json()["code"] == "unauthenticated"
    admin = running.admin()
    admin.request("DELETE", "/v1/access-rules/qlvb-xa/edoc", params={"reason": "test"})
    running.hub.registry_changed()
    refused = _post(province, edoc(COMMUNE, [PROVINCE], number=2))
    assert refused.status_code == 403
    assert _counts(running.hub)[0] == 1  # only the document accepted above (sent with the key)


def test_oversize_is_413_before_it_is_read(tmp_path, request):
    settings = make_settings("sqlite", tmp_path, request, edoc_max_body_bytes=64 * 1024)
    hub = open_hub(settings)
    running = start_hub(hub)
    try:
        keys = register(running.admin(), "http://127.0.0.1:9")
        client = running.client(keys["qlvb-xa"])
        big = GOOD.replace(b"<edXML:Subject>", b"<edXML:Subject>" + b"x" * 70_000)
        answer = _post(client, big)
        assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"
        assert _counts(hub) == (0, 0, 0, 0, 0)
    finally:
        running.stop()
        delete_queues(hub)
