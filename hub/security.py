"""API keys and personal-data masking.

An API key is ``lgsp_<prefix>_<secret>``: the prefix finds the system row, the secret is 256
random bits kept only as a SHA-256 digest (a slow password hash buys nothing for a key that
cannot be guessed, and would cost every request tens of milliseconds). The key is shown once.

Masking keeps citizen ID numbers (CCCD 12 digits, CMND 9), phone numbers and the values of
known name fields out of logs, events and screens (Decree 13/2023).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "PERSONAL_FIELDS",
    "write_private",
    "escape_controls",
    "key_digest",
    "key_matches",
    "mask_text",
    "mask_value",
    "new_api_key",
    "split_key",
]

KEY_PREFIX = "lgsp"


def new_api_key() -> tuple[str, str, str]:
    """Returns (key to hand out once, prefix to store, digest to store)."""
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, key_digest(key)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8:
        return None
    return parts[1]


def key_matches(key: str, digest: str) -> bool:
    return hmac.compare_digest(key_digest(key), digest)


# Runs of 9–12 digits (CMND, CCCD, phone numbers with or without +84), not inside longer numbers.
_DIGITS = re.compile(r"(?<![\d.])(?:\+84\d{9}|\d{9,12})(?!\d)")
PERSONAL_FIELDS = frozenset(
    {
        "SoDinhDanh",
        "SoCMND",
        "HoVaTen",
        "Ho",
        "ChuDem",
        "Ten",
        "ChuHoSo",
        "SoGiayToChuHoSo",
        "SoDienThoai",
        "Telephone",
        "Mobile",
        "FullName",
        "Email",
        "citizen_id",
        "full_name",
        "phone",
        # the payment receipt, VNPost orders, the JSON population form, a one-stop dialect
        "HoTenNguoiNop",
        "SoCMNDNguoiNop",
        "EmailNguoiUyQuyen",
        "ThuDienTu",
        "SenderName",
        "SenderPhone",
        "ReceiverName",
        "ReceiverPhone",
        "hoTen",
        "soGiayTo",
        "dienThoai",
        "email",
    }
)


def mask_text(text: str) -> str:
    """Replace every ID/phone-like digit run by stars, keeping its last 3 digits."""
    return _DIGITS.sub(lambda m: "*" * (len(m.group(0)) - 3) + m.group(0)[-3:], text)


def mask_value(value: Any) -> Any:
    """Mask a JSON-like value: personal fields wholesale, digit runs in every string."""
    if isinstance(value, Mapping):
        return {
            k: (
                "***"
                if k in PERSONAL_FIELDS
                and v not in (None, "")
                and not isinstance(v, Mapping | list)
                else mask_value(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is left as it is


def escape_controls(text: str) -> str:
    """Control characters shown as ``\\xNN`` (``\\x0a`` for a line feed): shown, not acted on,
    so a value from a URL or a partner cannot forge a log line or garble a terminal."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def write_private(path: Path, text: str) -> None:
    """``text`` as the whole file at ``path``, readable by its owner only (0600 from the start,
    never briefly world-readable): API keys and secrets the hub writes for an operator."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
