"""The field rules of QCVN 102 as a production provincial hub applies them (REFERENCE.md):
lengths, code lists, date and code formats, and the cross-field rules (a DocumentId names its
sender and date; an update says what changes; a replacement says what it replaces).

One table serves both directions: on input each breach is a warning (``deviations``: the
document is still accepted, liberal in); on output each is an error (``violations``: what the
hub sends is conformant, strict out).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import is_dataclass
from datetime import datetime
from typing import Any

from hub.edxml.model import (
    Attachment,
    Business,
    BusinessType,
    Code,
    DocumentType,
    Edoc,
    Finding,
    Header,
    Organization,
    OtherInfo,
    Promulgation,
    Receiver,
    Reference,
    Replacement,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusHeader,
    StatusMessage,
    TraceHeader,
    children,
    xml_name,
)

__all__ = [
    "AGENCY_CODE",
    "DATE_FORMAT",
    "TIMESTAMP_FORMAT",
    "content_type_of",
    "deviations",
    "violations",
]

DATE_FORMAT = "%Y/%m/%d"
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"
# QĐ 20/2020 (V1V2V3.Z1Z2.Y1Y2.L1L2L3) and the shorter forms seen after the 2025 mergers.
AGENCY_CODE = re.compile(
    r"^(?:\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}|(?:\d{2}\.){0,3}[A-Z]\d{2}(?:\.\d{2}){0,3})$"
)
DOCUMENT_ID = re.compile(r"^(?P<organ>[^,]+),(?P<date>[^,]+),(?P<number>[^/,]+)/(?P<notation>.+)$")

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Check = Callable[[str], str | None]


def _max(n: int) -> Check:
    return lambda v: f"longer than {n} characters" if len(v) > n else None


def _one_of(*allowed: str) -> Check:
    shown = ", ".join(allowed)
    return lambda v: None if v.strip() in allowed else f"{v.strip()!r} is not one of {shown}"


def _date(v: str) -> str | None:
    return _when(v, DATE_FORMAT, "yyyy/MM/dd")


def _timestamp(v: str) -> str | None:
    return _when(v, TIMESTAMP_FORMAT, "yyyy/MM/dd HH:mm:ss")


def _when(v: str, fmt: str, shown: str) -> str | None:
    text = v.strip()
    if not text:
        return None
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        if re.fullmatch(r"\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})?", text):
            return f"{text!r} is not a real date"
        return f"{text!r} is not in the form {shown}"
    return None


def _document_id(v: str) -> str | None:
    match = DOCUMENT_ID.match(v.strip())
    if not match:
        return "not in the form {OrganId},{yyyy/MM/dd},{CodeNumber}/{CodeNotation}"
    problem = _date(match["date"])
    return f"its date {problem}" if problem else None


def _agency(v: str) -> str | None:
    text = v.strip()
    if not text or text.lower() == "null":
        return "empty"
    return None if AGENCY_CODE.match(text) else f"{text!r} is not a QĐ 20/2020 agency code"


def _integer(v: str) -> str | None:
    return None if not v.strip() or v.strip().isdigit() else f"{v.strip()!r} is not a number"


def _boolean(v: str) -> str | None:
    ok = v.strip().lower() in ("", "true", "false", "0", "1")
    return None if ok else f"{v.strip()!r} is not true or false"


STATUS_CODES = tuple(code.value for code in StatusCode)

# (block, field) → checks, in the order they are reported.
RULES: dict[tuple[type, str], tuple[Check, ...]] = {
    (Organization, "organ_id"): (_agency,),
    (Organization, "organization_in_charge"): (_max(500),),
    (Organization, "organ_name"): (_max(200),),
    (Organization, "organ_add"): (_max(500),),
    (Organization, "email"): (_max(100),),
    (Organization, "telephone"): (_max(20),),
    (Organization, "fax"): (_max(20),),
    (Code, "code_number"): (_max(11),),
    (Code, "code_notation"): (_max(30),),
    (Promulgation, "place"): (_max(50),),
    (Promulgation, "promulgation_date"): (_date,),
    (DocumentType, "type"): (_one_of("1", "2"),),
    (DocumentType, "type_name"): (_max(100),),
    (Header, "document_id"): (_document_id,),
    (Header, "subject"): (_max(500),),
    (Header, "content"): (_max(500),),
    (Header, "due_date"): (_date,),
    (Header, "to_places"): (_max(150),),
    (Header, "steering_type"): (_integer,),
    (OtherInfo, "priority"): (_one_of("0", "1", "2", "3", "4"),),
    (OtherInfo, "sphere_of_promulgation"): (_max(100),),
    (OtherInfo, "typer_notation"): (_max(10),),
    (OtherInfo, "promulgation_amount"): (_integer,),
    (OtherInfo, "page_amount"): (_integer,),
    (OtherInfo, "direction"): (_boolean,),
    (ResponseFor, "promulgation_date"): (_date,),
    (ResponseFor, "document_id"): (_document_id,),
    (Replacement, "document_id"): (_document_id,),
    (Business, "document_id"): (_document_id,),
    (StaffInfo, "email"): (_max(100),),
    (TraceHeader, "organ_id"): (_agency,),
    (TraceHeader, "timestamp"): (_timestamp,),
    (Receiver, "organ_id"): (_agency,),
    (Replacement, "organ_ids"): (_agency,),
    (Business, "bussiness_doc_type"): (_one_of("0", "1", "2", "3"),),
    (Business, "bussiness_doc_reason"): (_max(500),),
    (StatusHeader, "status_code"): (_one_of(*STATUS_CODES),),
    (StatusHeader, "description"): (_max(500),),
    (StatusHeader, "timestamp"): (_timestamp,),
    (Reference, "attachment_name"): (_max(500),),
    (Attachment, "attachment_name"): (_max(500),),
}

# Present (and not empty) in what the hub sends; input may lack them.
REQUIRED: dict[type, tuple[str, ...]] = {
    Header: ("document_id", "code", "promulgation_info", "document_type", "subject"),
    Organization: ("organ_id", "organ_name"),
    Code: ("code_number", "code_notation"),
    Promulgation: ("promulgation_date",),
    DocumentType: ("type",),
    TraceHeader: ("organ_id", "timestamp"),
    Business: ("bussiness_doc_type",),
    StatusHeader: ("response_for", "status_code", "timestamp"),
    ResponseFor: ("organ_id", "document_id"),
    Reference: ("content_id", "content_type", "attachment_name"),
    Attachment: ("content_id", "content_type", "attachment_name"),
}


def deviations(message: Edoc | StatusMessage) -> list[Finding]:
    """What in ``message`` breaks a field rule, as warnings (input)."""
    return list(_findings(message, strict=False))


def violations(message: Edoc | StatusMessage) -> list[Finding]:
    """What in ``message`` breaks a field rule or lacks a required field (output)."""
    return list(_findings(message, strict=True))


def _findings(message: Edoc | StatusMessage, strict: bool) -> Iterator[Finding]:
    yield from _walk(message.header, "MessageHeader", strict)
    for i, trace in enumerate(message.traces, 1):
        yield from _walk(trace, f"TraceHeaderList/TraceHeader[{i}]", strict)
    if message.business is not None:
        yield from _walk(message.business, "TraceHeaderList/Bussiness", strict)
        yield from _business(message.business)
    if isinstance(message, Edoc):
        yield from _edoc(message, strict)
    else:
        status = message.header
        if not strict and (status.response_for is None or not message.document_id):
            yield Finding("MessageHeader/ResponseFor/DocumentId", "missing: cannot be correlated")


def _walk(block: Any, path: str, strict: bool) -> Iterator[Finding]:
    cls = type(block)
    for f in children(cls):
        value = getattr(block, f.name)
        where = f"{path}/{xml_name(f)}"
        items = f.metadata["items"]
        if isinstance(value, list):
            for i, item in enumerate(value, 1):
                item_path = f"{where}/{items}[{i}]" if items else f"{where}[{i}]"
                yield from _value(cls, f.name, item, item_path, strict)
            if strict and not value and f.name in REQUIRED.get(cls, ()):
                yield Finding(where, "required")
        else:
            yield from _value(cls, f.name, value, where, strict)


def _value(cls: type, name: str, value: Any, path: str, strict: bool) -> Iterator[Finding]:
    if value is None or value == "":
        if strict and name in REQUIRED.get(cls, ()):
            yield Finding(path, "required")
        return
    if is_dataclass(value):
        yield from _walk(value, path, strict)
        return
    if strict and _NOT_XML.search(value):
        yield Finding(path, "a control character XML cannot carry")
        return
    for check in RULES.get((cls, name), ()):
        problem = check(value)
        if problem:
            yield Finding(path, problem)
            return


def _edoc(edoc: Edoc, strict: bool) -> Iterator[Finding]:
    header = edoc.header
    match = DOCUMENT_ID.match((header.document_id or "").strip())
    if match and edoc.sender and match["organ"].strip() != edoc.sender:
        yield Finding(
            "MessageHeader/DocumentId",
            f"names {match['organ'].strip()!r}, the sender is {edoc.sender!r}",
        )
    if strict and not edoc.traces:
        yield Finding("TraceHeaderList/TraceHeader", "required")
    declared = {ref.content_id: ref for ref in edoc.manifest if ref.content_id}
    attached = {a.content_id: a for a in edoc.attachments if a.content_id}
    for i, ref in enumerate(edoc.manifest, 1):
        yield from _walk(ref, f"edXMLManifest/Reference[{i}]", strict)
        if ref.content_id and ref.content_id not in attached:
            yield Finding(f"edXMLManifest/Reference[{i}]", f"no attachment {ref.content_id!r}")
    for i, att in enumerate(edoc.attachments, 1):
        path = f"AttachmentEncoded/Attachment[{i}]"
        yield from _walk(att, path, strict)
        ref = declared.get(att.content_id)
        if att.content_id and ref is None:
            yield Finding(path, f"{att.content_id!r} is not in the manifest")
        elif ref and ref.content_type and att.content_type and ref.content_type != att.content_type:
            yield Finding(
                f"{path}/ContentType",
                f"{att.content_type!r}, but the manifest says {ref.content_type!r}",
            )
        if att.detected_type and not _compatible(att.content_type, att.detected_type):
            yield Finding(
                f"{path}/ContentType",
                f"declared {att.content_type!r}, the content is {att.detected_type}",
            )


def _business(business: Business) -> Iterator[Finding]:
    path = "TraceHeaderList/Bussiness"
    kind = business.kind
    if kind is BusinessType.UPDATE and business.document_info is None:
        yield Finding(f"{path}/BussinessDocumentInfo", "an update must say what it changes")
    if kind is BusinessType.REPLACE and not business.replacements:
        yield Finding(f"{path}/ReplacementInfoList", "a replacement must say what it replaces")


# What an attachment's first bytes say it is, and the declared types that agree (a .docx is a
# ZIP; "application/octet-stream" claims nothing).
_MAGIC = ((b"PK\x03\x04", "application/zip"), (b"%PDF-", "application/pdf"))
_AGREEING = {
    "application/zip": ("application/zip", "application/x-zip", "application/vnd."),
    "application/pdf": ("application/pdf",),
}


def content_type_of(head: bytes) -> str | None:
    """The type the content's first bytes show, for the formats that are unmistakable."""
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def _compatible(declared: str | None, detected: str) -> bool:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared in ("", "application/octet-stream", "application/x-zip-compressed"):
        return True
    return declared.startswith(_AGREEING[detected])
