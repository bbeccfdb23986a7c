"""Time-ordered identifiers (UUIDv7, RFC 9562) so message ids sort by arrival."""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["floor", "new_id", "uuid7"]

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, last 12-bit counter


def uuid7() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix ms, then a counter so ids made in the same ms still sort."""
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms = _last[0]
            _last[1] += 1
            if _last[1] > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _last[1] = 0
        else:
            _last[1] = int.from_bytes(os.urandom(2), "big") & 0x3FF
        _last[0] = ms
        counter = _last[1]
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return uuid.UUID(int=value)


def new_id() -> str:
    return str(uuid7())


def floor(ms: int) -> str:
    """The smallest UUIDv7 of Unix millisecond ``ms`` (clamped to what 48 bits hold): every id
    made at or after that millisecond sorts at or above it."""
    ms = min(max(ms, 0), (1 << 48) - 1)
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62)))
