"""The flat JSON form: a system that cannot build XML sends JSON; the hub builds the edXML.
JSON → edXML → JSON keeps every value; errors name the JSON field."""

from __future__ import annotations

import base64

import pytest

from hub.edxml import builder, jsonform, reader
from hub.errors import SchemaViolation
from tests.edxml.test_builder import CONTENT, full_edoc, full_status, opener

DOCUMENT = {
    "kind": "edoc",
    "from": {"organ_id": "000.00.20.H57", "organ_name": "UBND phường Thuận Hóa"},
    "to": [{"organ_id": "000.00.00.H57", "organ_name": "UBND thành phố Huế"}],
    "document_id": "000.00.20.H57,2026/11/27,125/UBND-VP",
    "code_number": "125",
    "code_notation": "UBND-VP",
    "promulgation_date": "2026/11/27",
    "document_type": "1",
    "subject": "Báo cáo",
    "traces": [{"organ_id": "000.00.20.H57", "timestamp": "2026/11/27 09:30:00"}],
    "business": {"type": "revoke", "reason": "Thu hồi"},
    "attachments": [
        {
            "name": "a.pdf",
            "content_type": "application/pdf",
            "content_base64": base64.b64encode(b"%PDF-1.7 x").decode(),
        }
    ],
}


def test_json_to_edxml_to_json_keeps_every_value():
    message, contents = jsonform.from_json(DOCUMENT)
    back = jsonform.to_json(reader.read(builder.build_bytes(message, jsonform.opener(contents))))
    sent = {k: v for k, v in DOCUMENT.items() if k not in ("attachments", "business")}
    assert {k: back[k] for k in sent} == sent
    assert back["business"]["type"] == "revoke" and back["business"]["type_code"] == "1"
    (attachment,) = back["attachments"]
    assert attachment["name"] == "a.pdf" and attachment["size"] == 10
    assert "warnings" not in back


def test_every_field_survives_edxml_to_json_to_edxml():
    for message in (full_edoc(), full_status()):
        flat = jsonform.to_json(reader.read(builder.build_bytes(message, opener)))
        if message.kind == "edoc":
            flat["attachments"] = [
                {
                    **{k: a[k] for k in ("content_id", "name", "description", "content_type")},
                    "content_base64": base64.b64encode(CONTENT[a["content_id"]]).decode(),
                }
                for a in flat["attachments"]
            ]
        rebuilt, contents = jsonform.from_json(flat)
        assert rebuilt.header == message.header
        assert rebuilt.traces == message.traces and rebuilt.business == message.business
        if message.kind == "edoc":
            assert rebuilt.manifest == message.manifest
            assert contents == CONTENT


@pytest.mark.parametrize(
    "change, path",
    [
        ({"to": []}, "/to"),
        ({"subject": None}, "/subject"),
        ({"priority": "7"}, "/priority"),
        ({"from": {"organ_id": "x", "organ_name": "A"}}, "/from/organ_id"),
        ({"extra": 1}, "/extra"),
        ({"status_code": "03"}, "/status_code"),
        (
            {"attachments": [{"name": "a", "content_base64": "***"}]},
            "/attachments/0/content_base64",
        ),
    ],
)
def test_errors_name_the_json_field(change, path):
    value = {**DOCUMENT, **change}
    value = {k: v for k, v in value.items() if v is not None}
    with pytest.raises(SchemaViolation) as caught:
        jsonform.from_json(value)
    assert path in [e["path"] for e in caught.value.details["errors"]]


def test_a_status_message_from_json():
    message, _ = jsonform.from_json(
        {
            "kind": "status",
            "from": {"organ_id": "000.01.00.H57", "organ_name": "Sở Tài chính"},
            "response_for": {
                "organ_id": "000.00.20.H57",
                "document_id": "000.00.20.H57,2026/11/27,125/UBND-VP",
            },
            "status_code": "06",
            "timestamp": "2026/11/28 08:00:00",
        }
    )
    back = reader.read(builder.build_bytes(message))
    assert back.kind == "status" and back.status_code == "06"
    assert back.recipients == ["000.00.20.H57"]
