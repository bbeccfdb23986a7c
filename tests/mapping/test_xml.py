"""XML ↔ JSON by the documented convention, and XML → XML by XSLT in a sandbox: no file or
network read, no file written, no include, no endless recursion; hostile XML input refused."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree

from hub.errors import LocalDeliveryError
from hub.mapping import InvalidMapping, MappingFailed
from hub.mapping.xmljson import to_json, to_xml
from tests.mapping.conftest import as_json, as_xml, write

pytestmark = pytest.mark.timeout(30)

NS = "urn:lgsp-hub:schema:dossier-status:1"
LOCAL_XML = (
    "<HoSo><Ma>000.00.00.H49-261125-0100</Ma><TrangThai>4</TrangThai>"
    "<ThoiDiem>20261125090000</ThoiDiem></HoSo>"
)
TO_STATUS = f"""\
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                xmlns="{NS}">
  <xsl:template match="/HoSo">
    <TienDoHoSo>
      <MaHoSo><xsl:value-of select="Ma"/></MaHoSo>
      <TrangThaiHoSo><xsl:value-of select="TrangThai"/></TrangThaiHoSo>
      <ThoiDiemXuLy><xsl:value-of select="ThoiDiem"/></ThoiDiemXuLy>
    </TienDoHoSo>
  </xsl:template>
</xsl:stylesheet>
"""
XML_TO_XML = "source: {type: xml}\ntarget: {type: xml, schema: dossier-status.v1.xsd}\n"


def stylesheet(body: str, *attributes: str) -> str:
    return (
        '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        + " ".join(attributes)
        + f">{body}</xsl:stylesheet>"
    )


def with_xslt(folder, name: str, xslt: str) -> None:
    write(folder, f"{name}.yaml", "source: {type: xml}\ntarget: {type: xml}\n")
    write(folder, f"{name}.xsl", xslt)


def failure(mappings, name: str, data: str = "<a/>") -> dict:
    with pytest.raises(MappingFailed) as caught:
        mappings.load(name).map(data.encode())
    return caught.value.details


# --- the convention ------------------------------------------------------------------------
def test_xml_to_json_convention():
    root = etree.fromstring(
        '<r xmlns="urn:a" xmlns:b="urn:b" id="1" b:kind="k"><b:x>1</b:x><x> 2 </x><y/>'
        '<z k="v">t</z><m>a <i>b</i> c</m><!-- dropped --><?pi dropped?><one>o</one></r>'
    )
    assert to_json(root) == {
        "r": {
            "@id": "1",
            "@kind": "k",
            "x": ["1", " 2 "],  # repeated: a list, namespaces dropped, leaf text as written
            "y": None,
            "z": {"@k": "v", "#text": "t"},
            "m": {"i": "b", "#text": "a  c"},
            "one": "o",
        }
    }
    assert to_json(root, frozenset({"one", "y"}))["r"]["one"] == ["o"]
    assert to_json(root, frozenset({"one", "y"}))["r"]["y"] == [None]


def test_json_to_xml_convention():
    value = {"r": {"@id": 1, "x": ["a", 2.5], "ok": True, "n": None, "#text": "t", "c": {"d": 0}}}
    element = to_xml(value, "urn:a")
    assert etree.tostring(element).decode() == (
        '<r xmlns="urn:a" id="1">t<x>a</x><x>2.5</x><ok>true</ok><n/><c><d>0</d></c></r>'
    )
    assert etree.tostring(to_xml({"r": "x"})) == b"<r>x</r>"
    assert to_json(to_xml(value)) == {
        "r": {"@id": "1", "x": ["a", "2.5"], "ok": "true", "n": None, "#text": "t", "c": {"d": "0"}}
    }


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"a": 1, "b": 2}, "/", "one root"),
        ([1], "/", "one root"),
        ({"r": {"a b": 1}}, "/r/a b", "Invalid tag name"),
        ({"r": {"ns:a": 1}}, "/r/ns:a", "is not an element name here"),
        ({"r": {"x": [[1]]}}, "/r/x/0", "a list inside a list"),
        ({"r": {"@a": {"x": 1}}}, "/r/@a", "must be a string, number or boolean"),
        ({"r": {"t": "bell \x07"}}, "/r/t", "XML compatible"),
        ({"r": [1, 2]}, "/r", "a list needs a name"),
    ],
)
def test_a_json_value_xml_cannot_hold_is_refused_naming_the_path(value, path, message):
    with pytest.raises(MappingFailed) as caught:
        to_xml(value)
    (error,) = caught.value.details["errors"]
    assert error["path"] == path and message in error["message"], error


def test_xml_to_json_fields_and_json_to_xml_in_the_pipeline(folder, mappings):
    write(
        folder,
        "in.yaml",
        """\
        source: {type: xml, lists: [Tep]}
        target: {type: json}
        fields:
          ma: HoSo.Ma
          trangThai: to_number(HoSo.TrangThai)
          tep: HoSo.Tep[]."@ten"
        """,
    )
    payload = as_xml(f'<HoSo xmlns="urn:x">{LOCAL_XML[6:-7]}<Tep ten="a.pdf"/></HoSo>')
    assert json.loads(mappings.apply("in", payload).read()) == {
        "ma": "000.00.00.H49-261125-0100",
        "trangThai": 4,
        "tep": ["a.pdf"],
    }
    write(
        folder,
        "out.yaml",
        f"""\
        source: {{type: json}}
        target: {{type: xml, schema: dossier-status.v1.xsd, namespace: "{NS}"}}
        fields:
          TienDoHoSo.MaHoSo: ma
          TienDoHoSo.TrangThaiHoSo: trangThai
          TienDoHoSo.ThoiDiemXuLy: {{from: luc, date: {{from: iso, to: yyyyMMddHHmmss}}}}
        """,
    )
    result = mappings.apply("out", as_json({"ma": "X", "trangThai": 4, "luc": "2026-11-25"}))
    assert result.content_type == "application/xml"
    assert etree.fromstring(result.read()).findtext(f"{{{NS}}}ThoiDiemXuLy") == "20261125000000"


# --- XSLT ---------------------------------------------------------------------------------------
def test_an_xslt_mapping_inline_or_beside_it_output_checked_against_the_target_xsd(
    folder, mappings
):
    write(folder, "inline.yaml", XML_TO_XML + "xslt: |\n" + _indented(TO_STATUS))
    write(folder, "beside.yaml", XML_TO_XML)
    write(folder, "beside.xsl", TO_STATUS)
    for name in ("inline", "beside"):
        out = etree.fromstring(mappings.apply(name, as_xml(LOCAL_XML)).read())
        assert out.tag == f"{{{NS}}}TienDoHoSo"
        assert out.findtext(f"{{{NS}}}TrangThaiHoSo") == "4"
    with pytest.raises(LocalDeliveryError) as caught:
        mappings.apply("beside", as_xml(LOCAL_XML.replace(">4<", ">40<")))
    details = caught.value.details
    assert details["side"] == "target" and details["schema"] == "dossier-status.v1.xsd"
    assert details["errors"][0]["path"] == "/TienDoHoSo/TrangThaiHoSo"


def _indented(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def test_a_stylesheet_inline_and_beside_is_refused(folder, mappings):
    write(folder, "m.yaml", XML_TO_XML + "xslt: '<x/>'\n")
    write(folder, "m.xsl", TO_STATUS)
    with pytest.raises(InvalidMapping, match="given inline and as m.xsl"):
        mappings.load("m")


@pytest.mark.parametrize(
    ("xslt", "message"),
    [
        (stylesheet('<xsl:include href="other.xsl"/>'), "xsl:include at line 1 is refused"),
        (stylesheet('<xsl:import href="/etc/x.xsl"/>'), "xsl:import at line 1 is refused"),
        (
            '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + stylesheet("&e;"),
            "DOCTYPE",
        ),
        ("<x/>", "not a valid stylesheet"),
        (
            stylesheet("<xsl:template match='/'><xsl:value-of select='(('/></xsl:template>"),
            "not a valid stylesheet",
        ),
        ("<xsl:stylesheet", "not well-formed"),
    ],
)
def test_a_bad_stylesheet_is_refused_when_loaded(folder, mappings, xslt, message):
    with_xslt(folder, "m", xslt)
    with pytest.raises(InvalidMapping) as caught:
        mappings.load("m")
    (error,) = caught.value.details["errors"]
    assert error["path"] == "/xslt" and message in error["message"], error


def test_an_include_of_a_network_stylesheet_is_refused_without_a_connection(folder, mappings):
    with listener() as connections:
        port = connections.port
        with_xslt(folder, "m", stylesheet(f'<xsl:include href="http://127.0.0.1:{port}/x.xsl"/>'))
        with pytest.raises(InvalidMapping, match="xsl:include"):
            mappings.load("m")
    assert connections.count == 0


def test_a_stylesheet_cannot_read_a_file(folder, mappings):
    with_xslt(
        folder,
        "m",
        stylesheet(
            "<xsl:template match='/'><out><xsl:copy-of select=\"document('/etc/passwd')\"/>"
            "</out></xsl:template>"
        ),
    )
    details = failure(mappings, "m")
    assert details["side"] == "mapping"
    (error,) = details["errors"]
    assert error["path"] == "/xslt"
    assert "read rights for /etc/passwd denied" in error["message"]
    assert "line 1" in error["message"] and "copy-of" in error["message"]


def test_a_stylesheet_cannot_reach_the_network(folder, mappings):
    with listener() as connections:
        url = f"http://127.0.0.1:{connections.port}/secret.xml"
        with_xslt(
            folder,
            "m",
            stylesheet(
                f"<xsl:template match='/'><out><xsl:copy-of select=\"document('{url}')\"/>"
                "</out></xsl:template>"
            ),
        )
        (error,) = failure(mappings, "m")["errors"]
    assert f"read rights for {url} denied" in error["message"]
    assert connections.count == 0


def test_a_stylesheet_cannot_write_a_file(folder, mappings, tmp_path):
    target = tmp_path / "written.txt"
    with_xslt(
        folder,
        "m",
        stylesheet(
            f"<xsl:template match='/'><out><exsl:document href='{target}'>x</exsl:document>"
            "</out></xsl:template>",
            'xmlns:exsl="http://exslt.org/common"',
            'extension-element-prefixes="exsl"',
        ),
    )
    (error,) = failure(mappings, "m")["errors"]
    assert "denied" in error["message"] or "refused" in error["message"], error
    assert not target.exists()


@pytest.mark.timeout(10)
def test_a_stylesheet_that_recurses_forever_fails_at_once(folder, mappings):
    with_xslt(
        folder,
        "m",
        stylesheet(
            "<xsl:template match='/'><out><xsl:call-template name='again'/></out></xsl:template>"
            "<xsl:template name='again'><xsl:call-template name='again'/></xsl:template>"
        ),
    )
    (error,) = failure(mappings, "m")["errors"]
    assert "infinite template recursion" in error["message"]


def test_a_stylesheet_that_terminates_or_makes_no_element_fails_saying_so(folder, mappings):
    with_xslt(
        folder,
        "stop",
        stylesheet(
            "<xsl:template match='/'><xsl:message terminate='yes'>no Ma in HoSo</xsl:message>"
            "</xsl:template>"
        ),
    )
    assert failure(mappings, "stop")["errors"][0]["message"] == "no Ma in HoSo"
    with_xslt(folder, "text", stylesheet("<xsl:template match='/'>just text</xsl:template>"))
    assert "produced no element" in failure(mappings, "text")["errors"][0]["message"]


def test_a_stylesheet_is_used_from_many_threads_at_once(folder, mappings):
    write(folder, "m.yaml", XML_TO_XML)
    write(folder, "m.xsl", TO_STATUS)
    mapping = mappings.load("m")
    inputs = [LOCAL_XML.replace("0100", f"{n:04d}").encode() for n in range(200)]
    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(mapping.map, inputs))
    for n, out in enumerate(outputs):
        assert etree.fromstring(out).findtext(f"{{{NS}}}MaHoSo").endswith(f"{n:04d}")


# --- hostile and oversized input --------------------------------------------------------------
def test_xml_input_with_a_doctype_is_refused_before_anything_is_expanded(folder, mappings):
    write(folder, "m.yaml", XML_TO_XML)
    write(folder, "m.xsl", TO_STATUS)
    hostile = '<!DOCTYPE HoSo [<!ENTITY x SYSTEM "file:///etc/passwd">]><HoSo><Ma>&x;</Ma></HoSo>'
    with pytest.raises(LocalDeliveryError) as caught:
        mappings.apply("m", as_xml(hostile))
    assert caught.value.details["side"] == "source"
    assert "DOCTYPE" in caught.value.details["errors"][0]["message"]


def test_an_input_over_the_mapped_limit_is_refused_whole(folder, mappings):
    write(folder, "m.yaml", "source: {type: json}\ntarget: {type: json}\nconstants: {a: 1}\n")
    big = as_json({"x": "a" * (16 * 1024 * 1024)})
    with pytest.raises(LocalDeliveryError, match="over the 16 MiB a mapping takes"):
        mappings.apply("m", big)
    with pytest.raises(MappingFailed, match="over the 16 MiB"):
        mappings.load("m").parse(big.read())


def test_a_payload_of_the_other_type_is_refused(folder, mappings):
    write(folder, "m.yaml", XML_TO_XML)
    with pytest.raises(LocalDeliveryError, match="mapping m maps xml, got application/json"):
        mappings.apply("m", as_json({}))


class listener:  # noqa: N801 - used as a context manager, like open()
    """A TCP port on 127.0.0.1 that counts the connections made to it."""

    def __enter__(self) -> listener:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port, self.count, self.done = self.sock.getsockname()[1], 0, threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.count += 1
            conn.close()

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        self.sock.close()
