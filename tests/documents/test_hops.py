"""The hub's hop is written into the document's bytes where QCVN 102 puts it — after the last
TraceHeader, before Bussiness — and nothing else of the document changes."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from hub.documents.hops import with_hop
from hub.edxml import reader
from tests.edxml.samples import SAMPLES, edoc_xml

AT = datetime(2026, 11, 27, 3, 0, 0, tzinfo=UTC)  # 10:00 in Asia/Ho_Chi_Minh
HUB = "000.00.00.H57"


def _hop(data: bytes) -> bytes:
    chunks = with_hop(io.BytesIO(data), HUB, AT)
    assert chunks is not None
    return b"".join(chunks)


@pytest.mark.parametrize(
    "trace_list",
    [
        "",  # none: a list is made after MessageHeader
        "<TraceHeaderList/>",
        "<TraceHeaderList></TraceHeaderList>",
        "<TraceHeaderList><Bussiness><BussinessDocType>0</BussinessDocType></Bussiness>"
        "</TraceHeaderList>",
    ],
)
def test_the_hop_goes_where_qcvn_102_puts_it(trace_list):
    data = edoc_xml().replace(b"</MessageHeader>", b"</MessageHeader>" + trace_list.encode())
    message = reader.read(_hop(data))
    assert [(t.organ_id, t.timestamp) for t in message.traces] == [(HUB, "2026/11/27 10:00:00")]
    assert message.warnings == []


def test_a_real_document_keeps_every_byte_but_the_hop():
    data = (SAMPLES / "vxp-sdk-example/edoc_update.edxml").read_bytes()
    out = _hop(data)
    before = reader.read(data)
    after = reader.read(out)
    assert [t.organ_id for t in after.traces] == ["000.00.00.G22", HUB]
    assert after.business == before.business and after.header == before.header
    assert after.attachments[0].sha256 == before.attachments[0].sha256
    start = out.index(b"<edXML:TraceHeader xmlns")
    end = out.index(b"</edXML:TraceHeader>", start) + len(b"</edXML:TraceHeader>")
    assert out[:start] + out[end:] == data


def test_a_document_not_in_utf8_is_left_as_it_is():
    data = (
        edoc_xml()
        .replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
        .replace("Báo cáo".encode(), b"Bao cao")
        .replace("UBND xã A".encode(), b"UBND xa A")
        .replace("UBND tỉnh".encode(), b"UBND tinh")
    )
    assert with_hop(io.BytesIO(data), HUB, AT) is None
