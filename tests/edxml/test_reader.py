"""Reading edXML: every real sample, children in any order, deviations as warnings naming the
field, and refusals naming the element; hostile XML refused before anything is expanded."""

from __future__ import annotations

import base64
import hashlib
import io

import pytest

from hub.edxml import reader
from hub.edxml.model import BusinessType, Edoc, StatusMessage
from hub.errors import HostileInput, MalformedInput, SchemaViolation
from tests.edxml.samples import NS, SAMPLES, STRAY_BYTES, edoc_xml, sample_files

# What each real sample is: (kind, business type or status code, recipients, warnings that must
# be among those reported). Anything not listed is not edXML and must be refused.
EXPECTED = {
    "bkav-edoc-integrator/edoc_new_tayninh.edxml": (
        "edoc",
        "NEW",
        ["000.00.01.A53"],
        [
            "MessageHeader/PromulgationInfo/PromulgationDate: '30/10/2020' is not in the form "
            "yyyy/MM/dd",
            "TraceHeaderList/Bussiness/DocumentId: its date '2014/02/30' is not a real date",
        ],
    ),
    "vxp-sdk-example/edoc_update.edxml": (
        "edoc",
        "UPDATE",
        ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"],
        ["TraceHeaderList/Bussiness/DocumentId: its date '2014/02/30' is not a real date"],
    ),
    "vxp-sdk-example/edoc_replacement.edxml": (
        "edoc",
        "REPLACE",
        ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"],
        [],
    ),
    "vxp-sdk-example/edoc_revocation.edxml": (
        "edoc",
        "REVOKE",
        ["000.00.00.H41", "000.00.00.H14", "000.00.00.G17"],
        [],
    ),
    "vxp-sdk-example/test_user_edxml_minimal.xml": (
        "edoc",
        "NEW",
        ["vxp.saas.03"],
        [
            "MessageHeader/From/OrganId: 'vxp.saas.03' is not a QĐ 20/2020 agency code",
            "MessageHeader/DocumentId: not in the form "
            "{OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}",
            "AttachmentEncoded/Attachment[1]/ContentType: 'application/zip', but the manifest "
            "says 'text/plain'",
        ],
    ),
    **{
        f"vxp-sdk-example/status{name}.edxml": ("status", code, [to], [])
        for name, code, to in [
            ("", "01", "000.00.00.G22"),
            ("_inbox_01", "01", "000.00.00.G22"),
            ("_rejection_02", "02", "000.00.00.G22"),
            ("_acceptance_03", "03", "000.00.00.G22"),
            ("_assignment_04", "04", "000.00.00.G22"),
            ("_processing_05", "05", "000.00.00.G22"),
            ("_finish_06", "06", "000.00.00.G22"),
            ("_cancellation_13", "13", "000.00.00.H41"),
            ("_change-acceptance_15", "15", "000.00.00.G22"),
            ("_change-rejection_16", "16", "000.00.00.G22"),
        ]
    },
    "bkav-edoc-integrator/status_processing_05.edxml": ("status", "05", ["000.00.00.G22"], []),
}
REFUSED = {
    STRAY_BYTES: (MalformedInput, "4 stray bytes before the XML declaration"),
    "population-db-mock/input-output.xml": (MalformedInput, "syntax error"),
}


@pytest.mark.parametrize("name", sample_files())
def test_every_sample_is_read_or_refused_as_expected(name):
    path = SAMPLES / name
    if name in EXPECTED:
        kind, what, recipients, warnings = EXPECTED[name]
        message = reader.read(path)
        assert message.kind == kind
        assert message.recipients == recipients
        if kind == "edoc":
            assert message.business_type is BusinessType[what]
            assert message.attachments and all(a.sha256 for a in message.attachments)
            assert message.signature in (None, "edxml")
        else:
            assert message.status_code == what
            assert message.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
        shown = [str(w) for w in message.warnings]
        for warning in warnings:
            assert warning in shown
        return
    error, text = REFUSED.get(name, (SchemaViolation, "not edXML"))
    with pytest.raises(error) as caught:
        reader.read(path)
    if error is SchemaViolation:  # the XSDs of the population mock: not edXML
        assert caught.value.details["errors"][0]["path"] == "/"
        assert "not edXML" in caught.value.details["errors"][0]["message"]
    else:
        assert text in caught.value.details["reason"]


def test_the_stray_bytes_sample_reads_once_they_are_removed():
    data = (SAMPLES / STRAY_BYTES).read_bytes()
    assert data.startswith(b"1212<?xml")
    message = reader.read(data[4:])
    assert message.recipients == ["28.22.H17"]  # a 2025 short form code: no warning
    assert [str(w) for w in message.warnings if "To" in w.path] == []


def test_attachment_is_decoded_and_its_digest_is_of_the_decoded_bytes():
    content = b"PK\x03\x04" + bytes(range(256)) * 10
    encoded = base64.b64encode(content).decode()
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    data = edoc_xml(
        body="<Reference><ContentId>cid:1</ContentId><ContentType>application/zip</ContentType>"
        "<AttachmentName>a.zip</AttachmentName></Reference>",
        attachments="<AttachmentEncoded><Attachment><ContentId>cid:1</ContentId>"
        "<AttachmentName>a.zip</AttachmentName><ContentType>text/plain</ContentType>"
        f"<ContentTransferEncoded>\n{wrapped}\n</ContentTransferEncoded></Attachment>"
        "</AttachmentEncoded>",
    )
    message = reader.read(data)
    (attachment,) = message.attachments
    assert attachment.size == len(content)
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert attachment.detected_type == "application/zip"
    shown = [str(w) for w in message.warnings]
    assert (
        "AttachmentEncoded/Attachment[1]/ContentType: declared 'text/plain', the content is "
        "application/zip" in shown
    )


class Collecting:
    """A sink that keeps what it is given, to see what the reader wrote and aborted."""

    def __init__(self):
        self.committed, self.aborted = [], 0

    def writer(self):
        sink = self

        class W:
            def __init__(self):
                self.buf = io.BytesIO()

            def write(self, chunk):
                self.buf.write(chunk)

            def commit(self):
                sink.committed.append(self.buf.getvalue())
                return "ref", len(self.buf.getvalue()), "x"

            def abort(self):
                sink.aborted += 1

        return W()


def test_bad_base64_is_refused_naming_the_attachment_and_the_writer_is_aborted():
    data = edoc_xml(
        attachments="<AttachmentEncoded><Attachment><ContentId>cid:1</ContentId>"
        "<ContentTransferEncoded>AAAA*AAA</ContentTransferEncoded></Attachment>"
        "</AttachmentEncoded>"
    )
    sink = Collecting()
    with pytest.raises(SchemaViolation) as caught:
        reader.read(data, sink)
    assert caught.value.details["errors"][0]["path"] == (
        "AttachmentEncoded/Attachment[1]/ContentTransferEncoded"
    )
    assert sink.aborted == 1 and sink.committed == []


def test_children_in_any_order_and_deviations_named():
    header = (
        "<Subject>Báo cáo</Subject><DocumentId>000.00.20.H49,2026/11/27,12/UBND-VP</DocumentId>"
        "<To><OrganName>UBND tỉnh</OrganName><OrganId>000.00.00.H49</OrganId></To>"
        "<From><OrganName>UBND xã A</OrganName><OrganId>000.00.20.H49</OrganId></From>"
        "<To><OrganId>000.00.00.H50</OrganId></To>"
        "<Subject>again</Subject><Mystery>x</Mystery>"
        "<OtherInfo><Priority>7</Priority></OtherInfo>"
        "<DocumentType><Type>3</Type></DocumentType>"
    )
    traces = (
        "<Bussiness><BussinessDocType>2</BussinessDocType></Bussiness>"
        "<TraceHeader><OrganId>null</OrganId><Timestamp>2026/11/27 25:00:00</Timestamp>"
        "</TraceHeader><!-- a comment -->"
    )
    message = reader.read(edoc_xml(header, traces=traces))
    assert isinstance(message, Edoc)
    assert message.sender == "000.00.20.H49"
    assert message.recipients == ["000.00.00.H49", "000.00.00.H50"]
    assert message.header.subject == "Báo cáo"
    shown = {str(w) for w in message.warnings}
    assert {
        "MessageHeader/Subject: repeated; the first is kept",
        "MessageHeader/Mystery: an unknown element in MessageHeader (ignored)",
        "MessageHeader/OtherInfo/Priority: '7' is not one of 0, 1, 2, 3, 4",
        "MessageHeader/DocumentType/Type: '3' is not one of 1, 2",
        "TraceHeaderList/TraceHeader: after Bussiness (QCVN 102 puts it before)",
        "TraceHeaderList/TraceHeader[1]/OrganId: empty",
        "TraceHeaderList/TraceHeader[1]/Timestamp: '2026/11/27 25:00:00' is not a real date",
        "TraceHeaderList/Bussiness/BussinessDocumentInfo: an update must say what it changes",
    } <= shown, shown
    assert any("comment" in w for w in shown)


def test_no_namespace_is_a_warning_not_a_refusal():
    data = edoc_xml().replace(f' xmlns="{NS}"'.encode(), b"")
    message = reader.read(data)
    assert message.recipients == ["000.00.00.H49"]
    assert any("not in the edXML namespace" in w.message for w in message.warnings)


def test_crlf_and_signature_placements():
    signed = edoc_xml().replace(
        b"</edXMLHeader>",
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature>'
        b"</edXMLHeader>",
    )
    message = reader.read(signed.replace(b"><", b">\r\n<"))
    assert message.signature == "xmldsig"
    assert (
        reader.read(edoc_xml().replace(b"</edXMLHeader>", b"<Signature/></edXMLHeader>")).signature
        == "edxml"
    )


def _refusal(data: bytes) -> dict:
    with pytest.raises(SchemaViolation) as caught:
        reader.read(data)
    return caught.value.details["errors"][0]


@pytest.mark.parametrize(
    "data, path, message",
    [
        (b"<root/>", "/", "the root element is root, not edXML"),
        (f'<edXML xmlns="{NS}"/>'.encode(), "edXMLEnvelope", "missing"),
        (
            f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader/></edXMLEnvelope></edXML>'.encode(),
            "MessageHeader",
            "missing",
        ),
        (
            edoc_xml("<To><OrganId>000.00.00.H49</OrganId></To>"),
            "MessageHeader/From/OrganId",
            "no sender",
        ),
        (
            edoc_xml("<From><OrganId>000.00.00.H49</OrganId></From><To><OrganId> </OrganId></To>"),
            "MessageHeader/To/OrganId",
            "no recipient",
        ),
        (
            edoc_xml("<From><OrganId>000.00.00.H49</OrganId></From><StatusCode>03</StatusCode>"),
            "MessageHeader/ResponseFor/OrganId",
            "no recipient",
        ),
        (
            edoc_xml(
                "<From><OrganId>000.00.20.H49</OrganId></From><To><OrganId>000.00.00.H49</OrganId>"
                f"</To><Subject>{'x' * (reader.MAX_FIELD_CHARS + 1)}</Subject>"
            ),
            "MessageHeader/Subject",
            f"a value longer than {reader.MAX_FIELD_CHARS} characters",
        ),
        (
            edoc_xml("<From>" + "<a>" * 40 + "</a>" * 40 + "</From>"),
            None,
            "nested deeper than",
        ),
    ],
)
def test_what_cannot_be_processed_is_refused_naming_the_element(data, path, message):
    error = _refusal(data)
    if path is not None:
        assert error["path"] == path
    assert message in error["message"]


def test_status_message_fields():
    data = (SAMPLES / "vxp-sdk-example/status_cancellation_13.edxml").read_bytes()
    message = reader.read(data)
    assert isinstance(message, StatusMessage)
    assert message.sender == "000.00.00.G22" and message.status_code == "13"
    assert message.header.staff_info.department == "Phong hanh chinh"
    assert message.header.timestamp == "2015/09/20 11:08:36"


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x "y">]><edXML/>',
        b'<?xml version="1.0"?><!-- '
        + b"c" * 3_000_000
        + b' --><!DOCTYPE edXML SYSTEM "file:///etc/passwd"><edXML/>',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><edXML>&lol2;</edXML>',
    ],
)
def test_hostile_xml_is_refused(data):
    with pytest.raises(HostileInput):
        reader.read(data)


def test_xinclude_is_refused_never_processed():
    data = edoc_xml().replace(
        "<Subject>Báo cáo</Subject>".encode(),
        b'<Subject><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>'
        b"</Subject>",
    )
    with pytest.raises(HostileInput) as caught:
        reader.read(data)
    assert caught.value.details["path"] == "MessageHeader/Subject/include"


def test_not_well_formed_names_the_line():
    with pytest.raises(MalformedInput) as caught:
        reader.read(edoc_xml()[:-20])
    assert caught.value.details["line"] == 1
