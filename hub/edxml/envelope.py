"""The shape of an edXML message above its header blocks — edXML, edXMLEnvelope, edXMLHeader,
TraceHeaderList, edXMLBody — declared like the blocks in ``hub.edxml.model``, and the slot table
the streaming reader follows (which child goes where, once or repeated, text or block); with the
field paths people read (``MessageHeader/To[2]/OrganId``) and the refusal that names one.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from hub.edxml.model import (
    Attachment,
    Business,
    Header,
    Organization,
    Reference,
    ResponseFor,
    StaffInfo,
    TraceHeader,
    children,
    xml_name,
)
from hub.errors import SchemaViolation

__all__ = [
    "HEADER_ONLY",
    "ORDERED",
    "AnyHeader",
    "Body",
    "Envelope",
    "EnvelopeHeader",
    "Root",
    "Slot",
    "TraceList",
    "invalid",
    "join",
    "last",
    "shown",
    "slots",
]


@dataclass
class AnyHeader:
    """``MessageHeader`` before we know whether it is a document's or a status message's."""

    from_: Organization | None = field(default=None, metadata={"xml": "From", "items": None})
    to: list[Organization] = field(default_factory=list, metadata={"xml": "To", "items": None})
    response_for: list[ResponseFor] = field(
        default_factory=list, metadata={"xml": "ResponseFor", "items": None}
    )
    staff_info: StaffInfo | None = field(default=None, metadata={"xml": "StaffInfo", "items": None})
    status_code: str | None = field(default=None, metadata={"xml": "StatusCode", "items": None})
    description: str | None = field(default=None, metadata={"xml": "Description", "items": None})
    timestamp: str | None = field(default=None, metadata={"xml": "Timestamp", "items": None})

    def __post_init__(self) -> None:
        for f in HEADER_ONLY:  # a document's own fields, not declared twice
            setattr(self, f.name, [] if f.metadata["items"] else None)


# Header's own fields join AnyHeader's (From, To and ResponseFor are declared above).
HEADER_ONLY = [f for f in children(Header) if xml_name(f) not in ("From", "To", "ResponseFor")]


@dataclass
class TraceList:
    traces: list[TraceHeader] = field(
        default_factory=list, metadata={"xml": "TraceHeader", "items": None}
    )
    business: Business | None = field(default=None, metadata={"xml": "Bussiness", "items": None})


@dataclass
class EnvelopeHeader:
    message_header: AnyHeader | None = field(
        default=None, metadata={"xml": "MessageHeader", "items": None}
    )
    trace_list: TraceList | None = field(
        default=None, metadata={"xml": "TraceHeaderList", "items": None}
    )


@dataclass
class Body:
    manifest: list[Reference] = field(
        default_factory=list, metadata={"xml": "edXMLManifest", "items": "Reference"}
    )


@dataclass
class Envelope:
    header: EnvelopeHeader | None = field(
        default=None, metadata={"xml": "edXMLHeader", "items": None}
    )
    body: Body | None = field(default=None, metadata={"xml": "edXMLBody", "items": None})


@dataclass
class Root:
    envelope: Envelope | None = field(
        default=None, metadata={"xml": "edXMLEnvelope", "items": None}
    )
    attachments: list[Attachment] = field(
        default_factory=list, metadata={"xml": "AttachmentEncoded", "items": "Attachment"}
    )


@dataclass(frozen=True)
class Slot:
    attr: str
    xml: str
    items: str | None
    many: bool
    of: type | None  # a block's dataclass, None for a string


_SLOTS: dict[type, dict[str, Slot]] = {}


def slots(cls: type) -> dict[str, Slot]:
    found = _SLOTS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = {}
        declared = children(cls) + (HEADER_ONLY if cls is AnyHeader else [])
        for f in declared:
            hint = hints.get(f.name) or typing.get_type_hints(Header)[f.name]
            many = typing.get_origin(hint) is list
            inner = typing.get_args(hint)[0] if many else _optional(hint)
            of = inner if isinstance(inner, type) and inner is not str else None
            found[xml_name(f)] = Slot(f.name, xml_name(f), f.metadata["items"], many, of)
        _SLOTS[cls] = found
    return found


def _optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


ORDERED = {TraceList: ("TraceHeader", "Bussiness")}  # QCVN 102's order, seen broken in traffic
_STRIPPED_PREFIXES = ("edXMLEnvelope/edXMLHeader/", "edXMLEnvelope/edXMLBody/", "edXMLEnvelope/")


def join(parent: str, local: str) -> str:
    return f"{parent}/{local}" if parent else local


def shown(path: str) -> str:
    """A path as people read it: from the header block (``MessageHeader/To[2]/OrganId``)."""
    for prefix in _STRIPPED_PREFIXES:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def last(path: str) -> str:
    return path.rsplit("/", 1)[-1].split("[")[0]


def invalid(path: str, message: str) -> SchemaViolation:
    return SchemaViolation(
        "the edXML message cannot be processed",
        errors=[{"path": shown(path), "message": message}],
    )
