"""What a personal-data lookup keeps: the request masked (JSON, XML, text), the grounds read
from headers whatever their encoding, the subject masked."""

from __future__ import annotations

import json

import pytest

from hub.errors import HostileInput
from hub.model import Submission
from hub.payload import Payload
from hub.personal import GroundsRequired, grounds, masked, subject


def test_json_keeps_its_shape_with_personal_fields_and_numbers_masked():
    body = {"SoDinhDanh": "001090000001", "HoVaTen": "Nguyễn Văn A", "MaDVC": "1.000656"}
    kept = json.loads(masked(Payload.of(json.dumps(body).encode(), "application/json")).read())
    assert kept == {"SoDinhDanh": "***", "HoVaTen": "***", "MaDVC": "1.000656"}


def test_xml_keeps_its_shape_with_personal_elements_and_numbers_masked():
    xml = (
        b'<r xmlns="urn:x"><SoDinhDanh>001090000001</SoDinhDanh><Ghi ma="0912345678">'
        b"CCCD 001090000002</Ghi><Ten/></r>"
    )
    kept = masked(Payload.of(xml, "application/xml")).read().decode()
    assert "001090000001" not in kept and "0912345678" not in kept
    assert "<SoDinhDanh>***</SoDinhDanh>" in kept and "*********002" in kept
    assert 'ma="*******678"' in kept and "<Ten/>" in kept


def test_hostile_xml_is_refused_not_expanded():
    bomb = b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><r>&a;</r>'
    with pytest.raises(HostileInput):
        masked(Payload.of(bomb, "application/xml"))


def test_other_text_is_masked_as_text():
    kept = masked(Payload.of(b"id=001090000001", "text/plain")).read()
    assert kept == b"id=*********001"


def _sub(**headers: str) -> Submission:
    return Submission("s", Payload.of(b"{}", "application/json"), headers=headers)


@pytest.mark.parametrize(
    "sent",
    [
        "Giải quyết hồ sơ",  # as text (a server that decoded UTF-8)
        "Giải quyết hồ sơ".encode().decode("latin-1"),  # raw UTF-8 read as Latin-1
        "Gi%E1%BA%A3i%20quy%E1%BA%BFt%20h%E1%BB%93%20s%C6%A1",  # percent-encoded
    ],
)
def test_the_purpose_is_read_whatever_its_encoding(sent):
    why = grounds(_sub(**{"x-lgsp-purpose": sent, "x-lgsp-officer": "cb-42"}))
    assert (why.purpose, why.officer) == ("Giải quyết hồ sơ", "cb-42")


def test_a_percent_that_is_not_an_encoding_is_kept():
    why = grounds(_sub(**{"x-lgsp-purpose": "giảm 50%", "x-lgsp-officer": "cb"}))
    assert why.purpose == "giảm 50%"


def test_missing_or_overlong_grounds_are_refused():
    with pytest.raises(GroundsRequired) as missing:
        grounds(_sub(**{"x-lgsp-officer": "cb"}))
    assert missing.value.details["missing"] == ["X-LGSP-Purpose"]
    with pytest.raises(GroundsRequired):
        grounds(_sub(**{"x-lgsp-purpose": "x" * 301, "x-lgsp-officer": "cb"}))


def test_the_subject_is_masked():
    assert subject({"SoDinhDanh": "001090000001"}) == "*********001"
    assert subject({"SoCMND": 123456789}) == "******789"
    assert subject({"HoVaTen": "A"}) is None and subject(["x"]) is None
