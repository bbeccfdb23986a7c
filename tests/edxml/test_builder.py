"""Building edXML: a build → read round trip keeps every field, what the hub sends is strict
(field rules and the hub's XSD), and a large attachment is built and read at flat memory."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import os
import subprocess
import sys

import pytest

from hub.edxml import builder, reader, rules
from hub.edxml.model import (
    Attachment,
    Business,
    Code,
    DocumentInfo,
    DocumentType,
    Edoc,
    Header,
    Organization,
    OtherInfo,
    Promulgation,
    Receiver,
    Reference,
    Replacement,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusHeader,
    StatusMessage,
    TraceHeader,
    children,
)
from hub.errors import SchemaViolation

CONTENT = {"cid:1": b"%PDF-1.7 " + bytes(range(256)) * 40, "cid:2": b"PK\x03\x04 & <zip>"}


def organization(code: str, name: str) -> Organization:
    return Organization(
        code,
        "UBND tỉnh Thừa Thiên Huế",
        name,
        "Số 16 Lê Lợi",
        "vp@hue.gov.vn",
        "0234 382",
        "0234 383",
        "https://hue.gov.vn",
    )


def full_edoc() -> Edoc:
    """An edoc with every field of every block set."""
    return Edoc(
        header=Header(
            from_=organization("000.00.20.H57", "UBND phường Thuận Hóa"),
            to=[
                organization("000.00.00.H57", "UBND thành phố Huế"),
                organization("000.01.00.H57", "Sở Tài chính"),
            ],
            document_id="000.00.20.H57,2026/11/27,125/UBND-VP",
            code=Code("125", "UBND-VP"),
            promulgation_info=Promulgation("Huế", "2026/11/27"),
            document_type=DocumentType("1", "0", "Công văn"),
            subject="Báo cáo tình hình <tháng 11> & kế hoạch",
            content="Nội dung\r\ncó xuống dòng",
            signer_info=SignerInfo("Chủ tịch", "Chủ tịch UBND", "Nguyễn Văn B"),
            due_date="2026/12/05",
            to_places=["Như trên", "Lưu: VT"],
            other_info=OtherInfo(
                "2", "Liên thông văn bản", "TVC", "2", "5", "false", ["Phụ lục 1", ""]
            ),
            response_for=[
                ResponseFor(
                    "000.00.00.H57", "12/UBND", "2026/11/01", "000.00.00.H57,2026/11/01,12/UBND"
                )
            ],
            steering_type="1",
        ),
        traces=[TraceHeader("000.00.20.H57", "2026/11/27 09:30:00")],
        business=Business(
            "000.00.20.H57,2026/11/20,120/UBND-VP",
            "2",
            "Cập nhật",
            "0",
            DocumentInfo(
                "1", "1", [Receiver("000.00.00.H57", "0"), Receiver("000.01.00.H57", "1")]
            ),
            [Replacement("000.00.20.H57,2026/11/20,120/UBND-VP", ["000.00.00.H57"])],
            StaffInfo("Văn thư", "Trần Thị C", "vt@hue.gov.vn", "0912345678"),
        ),
        manifest=[
            Reference("cid:1", "application/pdf", "Văn bản", "van-ban.pdf"),
            Reference("cid:2", "application/zip", "Phụ lục", "phu-luc.zip"),
        ],
        attachments=[
            Attachment("cid:1", "van-ban.pdf", "Văn bản", "application/pdf"),
            Attachment("cid:2", "phu-luc.zip", "Phụ lục", "application/zip"),
        ],
    )


def full_status() -> StatusMessage:
    return StatusMessage(
        header=StatusHeader(
            from_=organization("000.01.00.H57", "Sở Tài chính"),
            response_for=ResponseFor(
                "000.00.20.H57", "125/UBND-VP", "2026/11/27", "000.00.20.H57,2026/11/27,125/UBND-VP"
            ),
            staff_info=StaffInfo("Văn thư", "Lê Văn D", "vt@stc.hue.gov.vn", "0987654321"),
            status_code="03",
            description="Đã tiếp nhận",
            timestamp="2026/11/27 10:00:00",
        ),
        traces=[TraceHeader("000.01.00.H57", "2026/11/27 10:00:01")],
    )


def opener(attachment):
    return io.BytesIO(CONTENT[attachment.content_id])


def _every_field_set(block, path="") -> list[str]:
    """The paths of fields left unset, to prove the fixture covers the whole model."""
    unset = []
    for f in children(type(block)):
        value = getattr(block, f.name)
        if value is None or value == []:
            unset.append(f"{path}/{f.name}")
        for item in value if isinstance(value, list) else [value]:
            if dataclasses.is_dataclass(item):
                unset += _every_field_set(item, f"{path}/{f.name}")
    return unset


def test_the_fixtures_set_every_field():
    edoc, status = full_edoc(), full_status()
    assert _every_field_set(edoc.header) == []
    assert _every_field_set(edoc.business) == []
    assert _every_field_set(status.header) == []


def test_round_trip_keeps_every_field_of_a_document():
    edoc = full_edoc()
    data = builder.build_bytes(edoc, opener)
    back = reader.read(data)
    assert back.warnings == []
    assert back.header == edoc.header
    assert back.traces == edoc.traces and back.business == edoc.business
    assert back.manifest == edoc.manifest
    for sent, got in zip(edoc.attachments, back.attachments, strict=True):
        assert (got.content_id, got.attachment_name, got.description, got.content_type) == (
            sent.content_id,
            sent.attachment_name,
            sent.description,
            sent.content_type,
        )
        assert got.sha256 == hashlib.sha256(CONTENT[sent.content_id]).hexdigest()


def test_round_trip_keeps_every_field_of_a_status_message():
    status = full_status()
    back = reader.read(builder.build_bytes(status))
    assert isinstance(back, StatusMessage)
    assert back.header == status.header and back.traces == status.traces
    assert back.warnings == []


def test_output_is_strict_and_names_each_field():
    edoc = full_edoc()
    edoc.header.to[1].organ_id = "vxp.saas.03"
    edoc.header.promulgation_info.promulgation_date = "2026/02/30"
    edoc.header.code.code_number = "123456789012"
    edoc.header.subject = None
    edoc.header.other_info.priority = "9"
    edoc.traces = []
    with pytest.raises(SchemaViolation) as caught:
        builder.build_bytes(edoc, opener)
    paths = {e["path"]: e["message"] for e in caught.value.details["errors"]}
    assert paths == {
        "MessageHeader/To[2]/OrganId": "'vxp.saas.03' is not a QĐ 20/2020 agency code",
        "MessageHeader/PromulgationInfo/PromulgationDate": "'2026/02/30' is not a real date",
        "MessageHeader/Code/CodeNumber": "longer than 11 characters",
        "MessageHeader/Subject": "required",
        "MessageHeader/OtherInfo/Priority": "'9' is not one of 0, 1, 2, 3, 4",
        "TraceHeaderList/TraceHeader": "required",
    }


def test_a_control_character_is_refused_on_output():
    edoc = full_edoc()
    edoc.header.content = "bell \x07"
    with pytest.raises(SchemaViolation) as caught:
        builder.build_bytes(edoc, opener)
    assert caught.value.details["errors"][0]["path"] == "MessageHeader/Content"


def test_the_xsd_is_applied_to_what_is_built():
    """Rules and XSD agree; the XSD still catches what slipped past the rules."""
    data = builder.build_bytes(full_edoc(), opener)
    broken = data.replace(
        b"<edXML:Type>1</edXML:Type>", b"<edXML:Type>1</edXML:Type><edXML:Type>1</edXML:Type>"
    )
    with pytest.raises(SchemaViolation) as caught:
        builder.validate(broken)
    assert "DocumentType" in caught.value.details["errors"][0]["path"]
    builder.validate(data)


def test_every_message_the_rules_accept_matches_the_xsd():
    for message in (full_edoc(), full_status()):
        assert rules.violations(message) == []
        builder.validate(builder.build_bytes(message, opener))


def test_a_sample_parsed_then_rebuilt_is_conformant_once_its_deviations_are_fixed(tmp_path):
    from tests.edxml.samples import SAMPLES

    edoc = reader.read(SAMPLES / "vxp-sdk-example/edoc_update.edxml")
    assert [w.path for w in edoc.warnings] == ["TraceHeaderList/Bussiness/DocumentId"]
    fixed = copy.deepcopy(edoc)
    fixed.business.document_id = "000.00.00.G22,2014/02/28,7806/VPCP-TTĐT"
    built = builder.build_bytes(fixed, lambda a: io.BytesIO(b"PK\x03\x04"))
    assert reader.read(built).header == edoc.header


MEASURE = """
import resource, sys
from hub.edxml import reader
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
message = reader.read(sys.argv[1])
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start
print(message.attachments[0].size, message.attachments[0].sha256, grown // 1024)
"""


def test_large_attachment_built_and_read_at_flat_memory(tmp_path):
    """Built from a file and read back in a fresh process, whose peak RSS is its own."""
    content = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(content, "wb") as fh:
        for _ in range(64):
            block = os.urandom(1 << 20)
            digest.update(block)
            fh.write(block)
    edoc = full_edoc()
    edoc.attachments, edoc.manifest = edoc.attachments[:1], edoc.manifest[:1]
    path = builder.build(edoc, tmp_path / "big.edxml", lambda a: open(content, "rb"))
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True
    )
    size, sha256, grown_mib = done.stdout.split()
    assert (int(size), sha256) == (64 << 20, digest.hexdigest())
    assert int(grown_mib) < 24, f"reading grew the peak RSS by {grown_mib} MiB for 64 MiB"
