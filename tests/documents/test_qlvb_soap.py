"""The SOAP face of the document service (``/soap/qlvb``), driven by a zeep client built from
the WSDL the hub serves, on both backends: a commune's system sends, the province's picks up,
fetches (the same bytes as REST), confirms; status feedback flows back; traces and the
directory answer. Refusals are SOAP faults with the hub's 4xx status and leave nothing stored.
A ~50 MB document goes through at flat memory (peak RSS measured)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from xml.parsers import expat

import pytest
import requests
import zeep
from sqlalchemy import func, select
from zeep.exceptions import Fault
from zeep.transports import Transport

from hub import xmlsafe
from hub.edxml import builder, jsonform
from hub.store.tables import (
    deliveries,
    denials,
    edoc_recipients,
    edocs,
    messages,
    outbox,
    queue_items,
)
from tests.conftest import make_settings, open_hub
from tests.documents.province import COMMUNE, PROVINCE, edoc, register, status
from tests.support.running import RunningHub, start_hub

pytestmark = pytest.mark.timeout(120)

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:lgsp:qlvb:1"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
EDOC_LIMIT = 4 * 1024 * 1024


@pytest.fixture
def settings(backend, tmp_path, request):
    """A small edXML limit, so that an oversize envelope is cheap to send."""
    return make_settings(backend, tmp_path, request, edoc_max_body_bytes=EDOC_LIMIT)


@pytest.fixture
def keys(running, sink) -> dict[str, str]:
    return register(running.admin(), sink.url)


def client(url: str, key: str | None, statuses: list[int] | None = None) -> zeep.Client:
    """A zeep client from the served WSDL; ``statuses`` collects each answer's HTTP status."""
    session = requests.Session()
    if key:
        session.headers["X-API-Key"] = key
    if statuses is not None:
        session.hooks["response"].append(lambda r, *_, **__: statuses.append(r.status_code))
    return zeep.Client(f"{url}/soap/qlvb?wsdl", transport=Transport(session=session))


def hub_fault(fault: Fault) -> dict[str, object]:
    node = fault.detail.find(f"{{{TNS}}}HubFault")
    return {
        "code": node.findtext(f"{{{TNS}}}code"),
        "errors": [
            (e.findtext(f"{{{TNS}}}path"), e.findtext(f"{{{TNS}}}message"))
            for e in node.findall(f"{{{TNS}}}errors")
        ],
        "details": {
            d.findtext(f"{{{TNS}}}name"): d.findtext(f"{{{TNS}}}value")
            for d in node.findall(f"{{{TNS}}}details")
        },
    }


def stored(running: RunningHub) -> tuple[int, ...]:
    with running.hub.reader.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar()
            for t in (messages, edocs, edoc_recipients, deliveries, outbox, queue_items)
        )


def test_a_document_sent_picked_up_confirmed_and_answered_over_soap(running, keys):
    xa, tinh = client(running.url, keys["qlvb-xa"]), client(running.url, keys["qlvb-tinh"])
    document_id = f"{COMMUNE},2026/11/27,1/UBND-VP"
    data = edoc(COMMUNE, [PROVINCE])
    sent = xa.service.SendDocument(edxml=data)
    assert (sent.duplicate, sent.documentId) == (False, document_id)
    again = xa.service.SendDocument(edxml=data)
    assert (again.id, again.duplicate) == (sent.id, True)

    (item,) = tinh.service.GetPendingDocumentIds()
    assert (item.id, item.kind, item.documentId) == (sent.id, "edoc", document_id)
    assert (item.sender, item.recipients, item.statusCode) == (COMMUNE, [PROVINCE], None)
    assert xa.service.GetPendingDocumentIds() == []  # not for the commune

    got = tinh.service.GetDocument(id=sent.id)
    rest = running.client(keys["qlvb-tinh"]).request("GET", f"/v1/documents/inbox/{sent.id}")
    assert got.edxml == rest.content and got.edxml != data  # the hub's hop appended
    assert (got.size, got.sha256) == (len(rest.content), hashlib.sha256(rest.content).hexdigest())
    assert len(tinh.service.GetPendingDocumentIds(limit=10)) == 1  # fetched is not received

    confirmed = tinh.service.ConfirmReceived(id=sent.id)
    assert tinh.service.ConfirmReceived(id=sent.id).confirmedAt == confirmed.confirmedAt
    assert tinh.service.GetPendingDocumentIds() == []

    accepted = status(PROVINCE, COMMUNE, document_id, "03", "2026/11/27 10:00:00")
    feedback = tinh.service.UpdateTraces(edxml=accepted)
    assert (feedback.duplicate, feedback.documentId) == (False, document_id)
    (news,) = xa.service.GetPendingDocumentIds()
    assert (news.id, news.kind, news.statusCode, news.recipients) == (
        feedback.id,
        "status",
        "03",
        [COMMUNE],
    )

    traces = xa.service.GetTraces(documentId=document_id)
    (doc,) = traces.documents
    (recipient,) = doc.recipients
    assert (recipient.recipient, recipient.channel, recipient.state) == (
        PROVINCE,
        "inbox",
        "accepted",
    )
    assert recipient.confirmedAt == confirmed.confirmedAt
    assert [(s.statusCode, s.state) for s in recipient.timeline] == [("03", "accepted")]
    assert [s.statusCode for s in traces.statusMessages] == ["03"]

    found = xa.service.GetOrganizations(query="thuan hoa")
    assert [(o.code, o.parentCode, o.level, o.state) for o in found.organizations] == [
        (COMMUNE, PROVINCE, 4, "active")
    ]
    first = xa.service.GetOrganizations(query="000.00", limit=2)
    assert len(first.organizations) == 2 and first.nextCursor == first.organizations[-1].code
    rest_page = running.client(keys["qlvb-xa"]).json(
        "GET", "/v1/directory/agencies", params={"q": "000.00", "cursor": first.nextCursor}
    )
    second = xa.service.GetOrganizations(query="000.00", cursor=first.nextCursor)
    assert [o.code for o in second.organizations] == [a["code"] for a in rest_page["items"]]


def test_refusals_are_faults_with_the_hubs_status(running, keys):
    statuses: list[int] = []
    anonymous = client(running.url, None, statuses)
    with pytest.raises(Fault) as caught:
        anonymous.service.GetPendingDocumentIds()
    assert (caught.value.code, hub_fault(caught.value)["code"]) == (
        "soap:Client",
        "unauthenticated",
    )
    assert statuses[-1] == 401
    pending = envelope("<q:GetPendingDocumentIds/>")
    assert _post(running, "lgsp_00000000_unknown", pending).status_code == 401
    bearer = requests.post(
        running.url + "/soap/qlvb",
        data=pending,
        headers={"Authorization": f"Bearer {keys['qlvb-tinh']}"},
        timeout=10,
    )
    assert bearer.status_code == 200 and b"GetPendingDocumentIdsResponse" in bearer.content

    xa = client(running.url, keys["qlvb-xa"], statuses)
    before = stored(running)
    with pytest.raises(Fault) as caught:  # the commune's system speaking for the province
        xa.service.SendDocument(edxml=edoc(PROVINCE, [COMMUNE]))
    refused = hub_fault(caught.value)
    assert (refused["code"], refused["details"], statuses[-1]) == (
        "forbidden",
        {"agency": PROVINCE},
        403,
    )
    running.hub.denials.flush()
    with running.hub.reader.connect() as conn:
        assert (
            f"may not send documents as {PROVINCE}"
            in conn.execute(select(denials.c.reason)).scalars().all()
        )

    with pytest.raises(Fault) as caught:  # a document is not a status message
        xa.service.UpdateTraces(edxml=edoc(COMMUNE, [PROVINCE]))
    assert hub_fault(caught.value)["errors"] == [
        ("Envelope/Body/UpdateTraces/edxml", "an edXML edoc, not a status message")
    ]
    assert statuses[-1] == 422

    with pytest.raises(Fault) as caught:  # narrowed to an agency the document does not name
        xa.service.SendDocument(edxml=edoc(COMMUNE, [PROVINCE]), recipients=["000.00.00.H50"])
    assert statuses[-1] == 422 and hub_fault(caught.value)["code"] == "schema_violation"

    for missing in ("GetDocument", "ConfirmReceived"):
        with pytest.raises(Fault) as caught:
            getattr(xa.service, missing)(id="0190f0f0-0000-7000-8000-000000000000")
        assert hub_fault(caught.value)["code"] == "not_found" and statuses[-1] == 404
    with pytest.raises(Fault):
        xa.service.GetTraces(documentId="nobody's")
    assert statuses[-1] == 404
    assert stored(running) == before


# -- hostile and broken envelopes -----------------------------------------------------------------
def envelope(body: str, head: str = "", header: str = "") -> bytes:
    return (
        f'{head}<soap:Envelope xmlns:soap="{SOAP}" xmlns:q="{TNS}">'
        f"{header}<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def send_document(data: bytes) -> str:
    return f"<q:SendDocument><q:edxml>{base64.b64encode(data).decode()}</q:edxml></q:SendDocument>"


XXE = '<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
REFUSED = {
    "an entity declaration": (
        envelope(
            "<q:GetDocument><q:id>&x;</q:id></q:GetDocument>", '<!DOCTYPE e [<!ENTITY x "a">]>'
        ),
        400,
        "hostile_input",
        None,
    ),
    "an external entity": (
        envelope("<q:GetDocument><q:id>&x;</q:id></q:GetDocument>", XXE),
        400,
        "hostile_input",
        None,
    ),
    "an external entity in the edXML": (
        envelope(send_document(XXE.encode() + edoc(COMMUNE, [PROVINCE]).split(b"?>", 1)[1])),
        400,
        "hostile_input",
        None,
    ),
    "XInclude": (
        envelope(
            '<q:SendDocument><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            'href="file:///etc/passwd" parse="text"/></q:SendDocument>'
        ),
        400,
        "hostile_input",
        None,
    ),
    "a wrong root element": (
        b'<Envelope xmlns="urn:other"><Body/></Envelope>',
        422,
        "schema_violation",
        "/",
    ),
    "a SOAP 1.2 envelope": (
        b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>',
        422,
        "schema_violation",
        "Envelope",
    ),
    "an unknown operation": (
        envelope("<q:CheckPermission/>"),
        422,
        "schema_violation",
        "Envelope/Body/CheckPermission",
    ),
    "a missing element": (
        envelope("<q:SendDocument><q:recipients>x</q:recipients></q:SendDocument>"),
        422,
        "schema_violation",
        "Envelope/Body/SendDocument/edxml",
    ),
    "an element inside a value": (
        envelope("<q:GetDocument><q:id><q:id>1</q:id></q:id></q:GetDocument>"),
        422,
        "schema_violation",
        "Envelope/Body/GetDocument/id/id",
    ),
    "40-deep nesting": (
        envelope(
            "<q:GetPendingDocumentIds/>",
            header="<soap:Header>" + "<a>" * 40 + "</a>" * 40 + "</soap:Header>",
        ),
        422,
        "schema_violation",
        "Envelope/Header/" + "/".join(["a"] * 15),
    ),
    "a header that must be understood": (
        envelope(
            "<q:GetPendingDocumentIds/>",
            header='<soap:Header><w:Security xmlns:w="urn:x" soap:mustUnderstand="1"/>'
            "</soap:Header>",
        ),
        422,
        "schema_violation",
        "Envelope/Header/Security",
    ),
    "invalid base64": (
        envelope("<q:SendDocument><q:edxml>AAA=AAAA</q:edxml></q:SendDocument>"),
        422,
        "schema_violation",
        "Envelope/Body/SendDocument/edxml",
    ),
    "XML not well-formed": (
        envelope("<q:GetDocument><q:id>1</q:id></q:GetDocumen>"),
        400,
        "malformed_input",
        None,
    ),
    "an edXML not well-formed": (
        envelope(send_document(edoc(COMMUNE, [PROVINCE])[:-40])),
        400,
        "malformed_input",
        None,
    ),
}
FAULTCODES = {
    "a SOAP 1.2 envelope": "soap:VersionMismatch",
    "a header that must be understood": "soap:MustUnderstand",
}


def _post(running: RunningHub, key: str, body, **headers: str) -> requests.Response:
    return requests.post(
        running.url + "/soap/qlvb",
        data=body,
        headers={"X-API-Key": key, "Content-Type": "text/xml; charset=utf-8", **headers},
        timeout=60,
    )


def _fault_of(response: requests.Response) -> tuple[str, str, str | None]:
    root = xmlsafe.parse(response.content)
    node = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    hub = node.find(f"detail/{{{TNS}}}HubFault")
    return (
        node.findtext("faultcode"),
        hub.findtext(f"{{{TNS}}}code"),
        hub.findtext(f"{{{TNS}}}errors/{{{TNS}}}path"),
    )


def test_hostile_and_broken_envelopes_are_refused_and_nothing_is_stored(running, keys):
    key = keys["qlvb-xa"]
    assert _post(running, key, envelope(send_document(edoc(COMMUNE, [PROVINCE])))).ok
    before = stored(running)
    for what, (body, status_code, code, path) in REFUSED.items():
        answer = _post(running, key, body)
        assert answer.status_code == status_code, (what, answer.text)
        assert answer.headers["content-type"].startswith("text/xml"), what
        faultcode, got, where = _fault_of(answer)
        assert faultcode == FAULTCODES.get(what, "soap:Client"), (what, answer.text)
        assert got == code, (what, answer.text)
        if path is not None:
            assert where == path, (what, answer.text)
    assert "passwd" not in answer.text
    assert stored(running) == before


def test_oversize_envelopes_are_refused_as_they_arrive(running, keys):
    key = keys["qlvb-xa"]
    before = stored(running)

    def pieces() -> Iterator[bytes]:  # streamed, no Content-Length: refused while it arrives
        yield envelope("<q:SendDocument><q:edxml>#</q:edxml></q:SendDocument>").split(b"#")[0]
        for _ in range(EDOC_LIMIT // (1024 * 1024) * 2):  # twice the limit, once decoded
            yield b"QUFB" * 256 * 1024

    answer = _post(running, key, pieces())
    assert answer.status_code == 413 and "the edXML exceeds" in answer.text, answer.text
    assert _fault_of(answer)[:2] == ("soap:Client", "payload_too_large")
    connection = http.client.HTTPConnection(urlsplit(running.url).netloc, timeout=10)
    connection.putrequest("POST", "/soap/qlvb")  # declared beyond any limit: refused unread
    for name, value in (("X-API-Key", key), ("Content-Length", str(10**12))):
        connection.putheader(name, value)
    connection.endheaders()
    declared = connection.getresponse()
    assert declared.status == 413 and b"payload_too_large" in declared.read()
    connection.close()
    big_call = envelope("<q:GetPendingDocumentIds/>", header="<!--" + "x" * 2_000_000 + "-->")
    answer = _post(running, key, big_call)
    assert answer.status_code == 413 and _fault_of(answer)[1] == "payload_too_large"
    assert stored(running) == before
    root = running.hub.blobs.root  # the half-decoded document was dropped
    assert (list(root.rglob(".tmp-*")) if root.exists() else []) == []


def test_the_wsdl_names_the_address_the_client_used(running):
    wsdl = requests.get(running.url + "/soap/qlvb?wsdl", timeout=10)
    assert wsdl.status_code == 200 and wsdl.headers["content-type"].startswith("text/xml")
    address = xmlsafe.parse(wsdl.content).find(f".//{{{WSDL_SOAP}}}address")
    assert address.get("location") == running.url + "/soap/qlvb"
    for host, location in (
        ("hub.example.vn:8443", "http://hub.example.vn:8443/soap/qlvb"),  # behind a proxy
        ('hub.example.vn"><x', running.url + "/soap/qlvb"),  # not a host: the server's own
    ):
        answer = requests.get(running.url + "/soap/qlvb?WSDL", headers={"Host": host}, timeout=10)
        address = xmlsafe.parse(answer.content).find(f".//{{{WSDL_SOAP}}}address")
        assert address.get("location") == location


# -- a large document ------------------------------------------------------------------------------
ATTACHMENT = 37 * 1024 * 1024  # ~50 MB of edXML once base64-encoded, ~67 MB of SOAP envelope


@pytest.fixture
def roomy(tmp_path, request) -> Iterator[RunningHub]:
    """The default limits, on SQLite (memory is what is measured here, not the backend)."""
    hub = open_hub(make_settings("sqlite", tmp_path, request))
    running = start_hub(hub)
    yield running
    running.stop()
    hub.close()


def _large_edoc(tmp_path: Path) -> Path:
    content = tmp_path / "scan.pdf"
    with content.open("wb") as fh:
        for _ in range(ATTACHMENT // (1024 * 1024)):
            fh.write(os.urandom(1024 * 1024))
    flat = {
        "kind": "edoc",
        "from": {"organ_id": COMMUNE, "organ_name": "UBND phường Thuận Hóa"},
        "to": [{"organ_id": PROVINCE, "organ_name": "UBND thành phố Huế"}],
        "document_id": f"{COMMUNE},2026/11/27,99/UBND-VP",
        "code_number": "99",
        "code_notation": "UBND-VP",
        "promulgation_date": "2026/11/27",
        "document_type": "1",
        "subject": "Hồ sơ quét",
        "traces": [{"organ_id": COMMUNE, "timestamp": "2026/11/27 09:00:00"}],
        "attachments": [
            {"name": "scan.pdf", "content_type": "application/pdf", "content_base64": "AAAA"}
        ],
    }
    message, _ = jsonform.from_json(flat)
    return builder.build(message, tmp_path / "large.edxml", lambda _: content.open("rb"))


def _streamed_envelope(document: Path) -> Iterator[bytes]:
    head, tail = envelope("<q:SendDocument><q:edxml>#</q:edxml></q:SendDocument>").split(b"#")
    yield head
    with document.open("rb") as fh:
        while block := fh.read(3 * 256 * 1024):
            yield base64.b64encode(block)
    yield tail


def _decoded_digest(response: requests.Response) -> tuple[int, str]:
    """The size and SHA-256 of ``edxml`` in a streamed GetDocument answer, decoded as read."""
    digest, state = hashlib.sha256(), {"in": False, "carry": "", "size": 0}

    def text(data: str) -> None:
        if state["in"]:
            data = state["carry"] + data
            whole = len(data) - len(data) % 4
            state["carry"] = data[whole:]
            decoded = base64.b64decode(data[:whole])
            state["size"] += len(decoded)
            digest.update(decoded)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.StartElementHandler = lambda name, _: state.update({"in": name == f"{TNS} edxml"})
    parser.EndElementHandler = lambda name: state.update({"in": False})
    parser.CharacterDataHandler = text
    for chunk in response.iter_content(1024 * 1024):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return state["size"], digest.hexdigest()


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_50_mb_document_goes_through_at_flat_memory(roomy, sink, tmp_path):
    keys = register(roomy.admin(), sink.url)
    document = _large_edoc(tmp_path)
    Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) counts from here
    before = _peak_kib()
    sent = _post(roomy, keys["qlvb-xa"], _streamed_envelope(document))
    assert sent.status_code == 200, sent.text[:2000]
    message_id = xmlsafe.parse(sent.content).findtext(f".//{{{TNS}}}id")
    got = requests.post(
        roomy.url + "/soap/qlvb",
        data=envelope(f"<q:GetDocument><q:id>{message_id}</q:id></q:GetDocument>"),
        headers={"X-API-Key": keys["qlvb-tinh"]},
        stream=True,
        timeout=120,
    )
    assert got.status_code == 200
    length = int(got.headers["content-length"])
    size, sha256 = _decoded_digest(got)
    grown_mib = (_peak_kib() - before) / 1024
    with requests.get(
        f"{roomy.url}/v1/documents/inbox/{message_id}",
        headers={"X-API-Key": keys["qlvb-tinh"]},
        stream=True,
        timeout=120,
    ) as rest:  # its headers only: the size and SHA-256 REST answers with
        assert (size, sha256) == (
            int(rest.headers["content-length"]),
            rest.headers["x-content-sha256"],
        )
    assert size > document.stat().st_size > 49 * 1024 * 1024 and length > 4 * size // 3
    assert grown_mib < 40, f"peak memory grew by {grown_mib:.0f} MiB for a 50 MB document"
