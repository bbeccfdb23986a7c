"""Hash chains: each record's hash covers its fields and the previous record's hash, so an
edited, inserted or deleted record shows up when the chain is walked again. The trace chains
each message's events; the audit log can chain its entries the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from hub.store.db import as_utc

__all__ = ["digest", "verify"]


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds")
    return value


def digest(record: Mapping[str, Any], fields: Sequence[str], prev_hash: str | None) -> str:
    """SHA-256 over ``prev_hash`` and the canonical JSON of ``fields`` of ``record``."""
    canonical = {k: _canonical(record.get(k)) for k in fields}
    blob = json.dumps(canonical, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(f"{prev_hash or ''}|{blob}".encode()).hexdigest()


def verify(
    records: Iterable[Mapping[str, Any]],
    digest_of: Callable[[Any, str | None], str],
    describe: Callable[[Any], str],
) -> list[str]:
    """Problems in a chain ordered by ``seq`` (each record has seq, prev_hash, hash); empty
    when intact. ``digest_of(record, prev_hash)`` recomputes a hash; ``describe(record)`` names
    a record in a problem."""
    problems, prev, expected_seq = [], None, 1
    for rec in records:
        if rec["seq"] != expected_seq:
            problems.append(f"seq {expected_seq} missing before {rec['seq']}")
        if rec["prev_hash"] != prev or digest_of(rec, prev) != rec["hash"]:
            problems.append(f"{describe(rec)} does not match its hash")
        prev, expected_seq = rec["hash"], rec["seq"] + 1
    return problems
