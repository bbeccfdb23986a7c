"""Safe XML: hostile input refused before expansion, from bytes and from files; large documents
checked, header values read and XSD-validated from their file at flat memory."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from hub import xmlsafe
from hub.errors import HostileInput, MalformedInput

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = Path("/work/shared/domain/samples")
MIB = 1024 * 1024

XXE = b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>'
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10 if i > 1 else b"&lol;" * 10)
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)
EXTERNAL_DTD = b'<!DOCTYPE r SYSTEM "http://attacker.example/x.dtd"><r/>'
# A DOCTYPE behind 3 MiB of comment, with the comment's end straddling a 1 MiB read boundary.
LONG_PROLOG = (
    b'<?xml version="1.0"?>\n<!--'
    + b"-x" * (MIB // 2 - 12)
    + b"-->\n<?pi data?>\n"
    + b"<!--"
    + b"y" * (2 * MIB)
    + b"-->"
    + XXE[22:]
)
HOSTILE = {
    "xxe": XXE,
    "billion-laughs": BILLION_LAUGHS,
    "external-dtd": EXTERNAL_DTD,
    "doctype-behind-a-long-prolog": LONG_PROLOG,
    "utf16-doctype": XXE.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16"),
}

SCHEMA = etree.XMLSchema(
    etree.fromstring(b"""
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:e" xmlns="urn:e"
           elementFormDefault="qualified">
  <xs:element name="doc"><xs:complexType><xs:sequence>
    <xs:element name="Code" type="xs:int"/>
    <xs:element name="Note" type="xs:string" minOccurs="0"/>
    <xs:element name="File" type="xs:base64Binary" minOccurs="0"/>
  </xs:sequence><xs:attribute name="v" type="xs:string"/></xs:complexType></xs:element>
</xs:schema>""")
)


def doc(code: str = "7", note: str | None = None, file: str | None = None) -> bytes:
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<e:doc xmlns:e="urn:e" v="a&#10;b">\n'
        f"  <e:Code>{code}</e:Code>\n"
    ]
    if note is not None:
        parts.append(f"  <e:Note>{note}</e:Note>\n")
    if file is not None:
        parts.append(f"  <e:File>{file}</e:File>\n")
    return ("".join(parts) + "</e:doc>\n").encode()


def scan_bytes(data: bytes, schema: etree.XMLSchema | None = None) -> xmlsafe.Scanned:
    return xmlsafe.scan(io.BytesIO(data), schema)


# --- hostile input, every entry point -------------------------------------------------------
@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_documents_are_refused_by_every_entry_point(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "hostile.xml"
    path.write_bytes(data)
    for check in (
        lambda: xmlsafe.parse(data),
        lambda: xmlsafe.parse_file(path),
        lambda: xmlsafe.scan(path),
        lambda: scan_bytes(data, SCHEMA),
    ):
        with pytest.raises(HostileInput) as caught:
            check()
        assert caught.value.details == {"reason": "dtd_forbidden"}


def test_the_prolog_scan_reads_past_a_long_comment_block_by_block() -> None:
    assert xmlsafe.declares_doctype(LONG_PROLOG)
    assert not xmlsafe.declares_doctype(LONG_PROLOG.replace(b"<!DOCTYPE", b"<r/><!DOCTYPE"))
    assert not xmlsafe.declares_doctype(b"\xef\xbb\xbf  <!-- never closed")


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"<r>\n<a>\n</r>", 3),
        (b"<r>&undefined;</r>", 1),
        (b"<r/>\n<r/>", 2),
        (b"", 1),
        (b"<r>\x01</r>", 1),
    ],
)
def test_malformed_documents_name_the_line(data: bytes, line: int, tmp_path: Path) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(data)
    for check in (
        lambda: xmlsafe.parse(data),
        lambda: xmlsafe.parse_file(path),
        lambda: xmlsafe.scan(path),
    ):
        with pytest.raises(MalformedInput) as caught:
            check()
        assert caught.value.details["line"] == line and caught.value.details["reason"]


# --- trees ------------------------------------------------------------------------------------
def test_parse_and_parse_file_give_the_same_tree(tmp_path: Path) -> None:
    path = tmp_path / "doc.xml"
    path.write_bytes(doc(note="Công văn"))
    assert etree.tostring(xmlsafe.parse_file(path)) == etree.tostring(
        xmlsafe.parse(doc(note="Công văn"))
    )


def test_parse_file_refuses_a_text_node_over_10_mb_as_malformed(tmp_path: Path) -> None:
    path = tmp_path / "huge.xml"
    path.write_bytes(b"<r>" + b"A" * (11 * 1000 * 1000) + b"</r>")
    with pytest.raises(MalformedInput):
        xmlsafe.parse_file(path)
    assert xmlsafe.scan(path).root == "r"  # what scan is for


# --- scan: header values -----------------------------------------------------------------------
def edxml_samples() -> list[Path]:
    found = sorted(SAMPLES.glob("*/*.edxml"))
    if not found:
        pytest.skip(f"no edXML samples in {SAMPLES}")
    return found


def test_scan_reads_the_same_edxml_header_values_as_the_tree() -> None:
    checked = 0
    for sample in edxml_samples():
        try:
            tree = xmlsafe.parse_file(sample)
        except MalformedInput:  # one sample has junk before its declaration
            with pytest.raises(MalformedInput):
                xmlsafe.scan(sample)
            continue
        ids = tree.xpath("//*[local-name()='MessageHeader']/*[local-name()='DocumentId']")
        kind = tree.xpath(
            "string(//*[local-name()='TraceHeaderList']"
            "/*[local-name()='Bussiness']/*[local-name()='BussinessDocType'])"
        )
        scanned = xmlsafe.scan(sample)
        assert scanned.root == "edXML" and scanned.path == sample
        assert scanned.document_id == (ids[0].text.strip() if ids else None), sample
        assert scanned.business_doc_type == (kind.strip() or None), sample
        checked += 1
    assert checked >= 10


def test_scan_takes_a_seekable_file_object_from_where_it_stands() -> None:
    fh = io.BytesIO(b"junk" + doc())
    fh.seek(4)
    scanned = xmlsafe.scan(fh, SCHEMA)
    assert (scanned.path, scanned.root, scanned.errors) == (None, "doc", ())


# --- scan: validation ----------------------------------------------------------------------
def test_a_valid_document_has_no_errors() -> None:
    assert scan_bytes(doc(note="a <!-- comment --> &amp; b"), SCHEMA).errors == ()
    assert scan_bytes(doc(code="<!-- in simple content -->7"), SCHEMA).errors == ()


def test_an_invalid_value_is_reported_with_its_path_line_and_message() -> None:
    [error] = scan_bytes(doc(code="seven"), SCHEMA).errors
    assert error["path"] == "/doc/Code" and error["line"] == 3
    assert "'seven' is not a valid value" in error["message"]


def test_an_unexpected_element_is_reported_by_local_names() -> None:
    data = doc().replace(b"</e:doc>", b"<e:Extra/></e:doc>")
    [error] = scan_bytes(data, SCHEMA).errors
    assert error["path"] == "/doc/Extra" and "not expected" in error["message"]


def test_without_a_schema_only_well_formedness_is_checked() -> None:
    assert scan_bytes(doc(code="seven")).errors == ()


B64_LINES = (base64.b64encode(bytes(range(256)) * 3)[:76].decode() + "\r\n") * 50_000  # 3.9 MB


@pytest.mark.parametrize(
    "file",
    [
        B64_LINES,
        B64_LINES + "QUJD",
        B64_LINES + "QQ==",
        "!" + B64_LINES + "  ",
        B64_LINES + "QUJ",
        B64_LINES + "QQ==QUJD",
        B64_LINES + "QR==",
        B64_LINES + "Q===",
        "Công văn " * 500_000,
    ],
    ids=[
        "valid",
        "valid-4",
        "valid-padded",
        "stray-characters",
        "short-group",
        "data-after-padding",
        "padding-bits-set",
        "three-pads",
        "text",
    ],
)
def test_a_text_node_over_the_sample_size_gets_libxml2s_own_base64_verdict(file: str) -> None:
    """Judged piece by piece over its whole length; libxml2 judging the whole tree agrees."""
    data = doc(file=file)
    whole = SCHEMA.validate(etree.fromstring(data, etree.XMLParser(huge_tree=True)))
    errors = scan_bytes(data, SCHEMA).errors
    assert (errors == ()) is whole, errors
    for error in errors:
        assert error["path"] == "/doc/File" and "base64Binary" in error["message"]
        assert len(error["message"]) < 200


def test_a_large_text_node_in_a_string_element_is_valid_text() -> None:
    note = "Công văn &amp; &lt;phụ lục>! " * 200_000  # 6 MB, not base64
    assert scan_bytes(doc(note=note), SCHEMA).errors == ()


# --- scan: memory -------------------------------------------------------------------------------
_MEASURE = """
import sys
from lxml import etree
from hub import xmlsafe

def peak_mib():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024

schema = etree.XMLSchema(etree.fromstring(sys.argv[2].encode()))
before = peak_mib()
scanned = xmlsafe.scan(sys.argv[1], schema)
print(scanned.errors, scanned.document_id, peak_mib() - before)
"""

_EDXML_SCHEMA = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:e"
  xmlns="urn:e" elementFormDefault="qualified"><xs:element name="edXML"><xs:complexType>
  <xs:sequence><xs:element name="MessageHeader"><xs:complexType><xs:sequence>
  <xs:element name="DocumentId" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="Attachment" type="xs:base64Binary"/></xs:sequence></xs:complexType>
  </xs:element></xs:schema>"""


def test_a_200_mb_document_with_one_200_mb_base64_node_is_validated_at_flat_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "big.edxml"
    line = base64.b64encode(bytes(range(256)) * 3)[:76] + b"\r\n"
    block = line * (MIB // len(line))
    with path.open("wb") as fh:
        fh.write(
            b'<?xml version="1.0"?>\n<edXML xmlns="urn:e"><MessageHeader>'
            b"<DocumentId>000.00.00.G22,2024/01/02,1/UBND</DocumentId></MessageHeader>"
            b"<Attachment>"
        )
        for _ in range(200):
            fh.write(block)
        fh.write(b"</Attachment></edXML>")
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path), _EDXML_SCHEMA],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    errors, document_id, growth_mib = done.stdout.rsplit(maxsplit=2)
    assert errors == "()" and document_id == "000.00.00.G22,2024/01/02,1/UBND"
    assert float(growth_mib) < 60, f"peak RSS grew by {growth_mib} MiB for a 200 MiB document"


def test_scanned_errors_are_plain_data() -> None:
    [error] = scan_bytes(doc(code="x"), SCHEMA).errors
    assert json.loads(json.dumps(error)) == error
