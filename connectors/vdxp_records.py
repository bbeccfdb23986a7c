"""The axis's records as the VDXP connector (:mod:`connectors.vdxp`) hands them to the hub, and
the check that a fetched document is the one its record lists.

The axis keeps one record per recipient of a send: ``{id, from, to, serviceType, messageType,
status, createdTime, contentLength, contentSha256}``. It lists them (``getReceivedEdocList``,
``getSentEdocList``), answers one after a status move (``updateStatus``), and sends one with a
fetched document in the ``X-VDXP-Record`` header (a name this project chose, matching
:mod:`sandbox.vdxp`). A record that lacks a field the hub relies on is a refusal of its own
(``remote_status: "malformed_record"``), never a half-filled object: the inbound job would
otherwise accept a document it cannot check.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any

from hub.errors import PermanentDeliveryError

__all__ = ["EDOC_STATUSES", "RECORD_HEADER", "ReceivedEdoc", "integrity_problem"]

EDOC_STATUSES = ("processing", "done", "fail")  # what update_status() may set
RECORD_HEADER = "X-VDXP-Record"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ReceivedEdoc:
    """One record of the axis — a document or status message for one recipient (``received()``),
    or one of ours (``sent()``): ``{id, from, to, serviceType, messageType, status,
    createdTime, contentLength, contentSha256}`` with Python names."""

    id: str
    sender: str
    recipient: str
    service_type: str
    message_type: str  # edoc | status
    status: str  # initial | processing | done | fail
    created_time: str
    content_length: int
    content_sha256: str

    @classmethod
    def from_record(cls, record: Any, name: str) -> ReceivedEdoc:
        """Read a record as the axis lists it; ``PermanentDeliveryError`` when it is not one."""
        try:
            edoc = cls(
                id=str(record["id"]),
                sender=str(record["from"]),
                recipient=str(record["to"]),
                service_type=str(record.get("serviceType") or "eDoc"),
                message_type=str(record["messageType"]).lower(),
                status=str(record["status"]).lower(),
                created_time=str(record.get("createdTime") or ""),
                content_length=int(record["contentLength"]),
                content_sha256=str(record["contentSha256"]).lower(),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            edoc = None
        if edoc is None or edoc.content_length < 0 or not SHA256_HEX.match(edoc.content_sha256):
            raise PermanentDeliveryError(
                f"{name}: the axis answered a record without id, from, to, messageType, status, "
                "contentLength or contentSha256",
                remote_status="malformed_record",
            )
        return edoc


def integrity_problem(record: ReceivedEdoc, edoc_id: str, size: int, sha256: str) -> str | None:
    """What is wrong with a fetched document (``size`` bytes hashing to ``sha256``) given the
    record it came with, or ``None`` when it is the document that was asked for and listed."""
    if record.id != edoc_id:
        return f"the axis answered record {record.id[:64]}"
    if size != record.content_length:
        return f"{size} bytes arrived, {record.content_length} were listed"
    if not hmac.compare_digest(sha256, record.content_sha256):
        return "its SHA-256 is not the one listed"
    return None
