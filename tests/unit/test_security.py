"""API keys and personal-data masking."""

from __future__ import annotations

import logging

from hub.ids import uuid7
from hub.logs import MaskingFilter
from hub.security import key_matches, mask_text, mask_value, new_api_key, split_key


def test_api_key_is_checked_against_its_digest_only():
    key, prefix, digest = new_api_key()
    assert split_key(key) == prefix and key not in digest
    assert key_matches(key, digest) and not key_matches(key + "x", digest)
    assert split_key("lgsp_short_x") is None and split_key("Bearer nonsense") is None


def test_citizen_ids_and_phone_numbers_are_masked_keeping_three_digits():
    text = "CCCD 001090000001, CMND 123456789, phone 0912345678 / +84912345678"
    masked = mask_text(text)
    for secret in ("001090000001", "123456789", "0912345678", "912345678"):
        assert secret not in masked
    assert "*********001" in masked and "*******678" in masked


def test_dates_codes_and_agency_codes_are_not_masked():
    text = "000.00.00.H49 on 20261125 code 1.000656.000.00.00.H29"
    assert mask_text(text) == text


def test_personal_fields_are_masked_in_structures():
    masked = mask_value(
        {
            "HoVaTen": "Nguyễn Văn An",
            "SoDinhDanh": "001090000001",
            "Province": "Tây Ninh",
            "nested": [{"SoDienThoai": "0912345678"}],
        }
    )
    assert masked == {
        "HoVaTen": "***",
        "SoDinhDanh": "***",
        "Province": "Tây Ninh",
        "nested": [{"SoDienThoai": "***"}],
    }


def test_log_records_are_masked(caplog):
    logger = logging.getLogger("test.masking")
    logger.addFilter(MaskingFilter())
    with caplog.at_level(logging.INFO, logger="test.masking"):
        logger.info("lookup of %s failed", "001090000001")
    assert "001090000001" not in caplog.text and "*********001" in caplog.text


def test_message_ids_sort_by_creation():
    ids = [uuid7() for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == 2000
    assert all(u.version == 7 for u in ids[:10])
