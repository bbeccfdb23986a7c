"""The flat JSON form of edXML, for systems that cannot build XML: one object per message,
the header's single-occurrence blocks flattened into plain keys (``code_number``,
``promulgation_date``, ``signer_full_name`` …), the repeated ones (``to``, ``traces`` …) as lists
of small objects with the same snake_case names. ``to_json`` reads a message as JSON;
``from_json`` builds one, checked against ``edoc-flat.v1.json`` (a refusal names the JSON
field) and then by the builder (strict out).

Attachments travel as base64 in ``content_base64``: this form is for ordinary documents; a large
one is sent as edXML, which the hub streams.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import fields, is_dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from hub.edxml.model import (
    Attachment,
    Business,
    BusinessType,
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
)
from hub.errors import SchemaViolation

__all__ = ["SCHEMA_NAME", "from_json", "opener", "to_json"]

SCHEMA_NAME = "edoc-flat.v1.json"

# flat key → (block attribute on Header, its class, field in the block); None: on Header itself
_FLAT: dict[str, tuple[str | None, type | None, str]] = {
    "document_id": (None, None, "document_id"),
    "code_number": ("code", Code, "code_number"),
    "code_notation": ("code", Code, "code_notation"),
    "promulgation_place": ("promulgation_info", Promulgation, "place"),
    "promulgation_date": ("promulgation_info", Promulgation, "promulgation_date"),
    "document_type": ("document_type", DocumentType, "type"),
    "document_type_detail": ("document_type", DocumentType, "type_detail"),
    "document_type_name": ("document_type", DocumentType, "type_name"),
    "subject": (None, None, "subject"),
    "content": (None, None, "content"),
    "signer_competence": ("signer_info", SignerInfo, "competence"),
    "signer_position": ("signer_info", SignerInfo, "position"),
    "signer_full_name": ("signer_info", SignerInfo, "full_name"),
    "due_date": (None, None, "due_date"),
    "priority": ("other_info", OtherInfo, "priority"),
    "sphere_of_promulgation": ("other_info", OtherInfo, "sphere_of_promulgation"),
    "typer_notation": ("other_info", OtherInfo, "typer_notation"),
    "promulgation_amount": ("other_info", OtherInfo, "promulgation_amount"),
    "page_amount": ("other_info", OtherInfo, "page_amount"),
    "direction": ("other_info", OtherInfo, "direction"),
    "appendixes": ("other_info", OtherInfo, "appendixes"),
    "to_places": (None, None, "to_places"),
    "steering_type": (None, None, "steering_type"),
}
_BUSINESS_NAMES = {kind.value: kind.name.lower() for kind in BusinessType}


# -- reading ----------------------------------------------------------------------------------
def to_json(message: Edoc | StatusMessage) -> dict[str, Any]:
    """``message`` as flat JSON; attachments described (name, type, size, sha256), not inlined."""
    out: dict[str, Any] = {"kind": message.kind}
    header = message.header
    out["from"] = _plain(header.from_)
    if isinstance(message, StatusMessage):
        assert isinstance(header, StatusHeader)
        out["response_for"] = _plain(header.response_for)
        out["staff"] = _plain(header.staff_info)
        out["status_code"] = header.status_code
        out["description"] = header.description
        out["timestamp"] = header.timestamp
    else:
        assert isinstance(header, Header)
        out["to"] = [_plain(to) for to in header.to]
        for key, (block, _cls, name) in _FLAT.items():
            holder = getattr(header, block) if block else header
            out[key] = getattr(holder, name) if holder is not None else None
        out["response_for"] = [_plain(r) for r in header.response_for]
        out["attachments"] = [_attachment(a, message.manifest) for a in message.attachments]
    out["traces"] = [_plain(t) for t in message.traces]
    if message.business is not None:
        out["business"] = _business(message.business)
    out["warnings"] = [w.as_dict() for w in message.warnings]
    return _pruned(out)


def _plain(block: Any) -> Any:
    if block is None:
        return None
    if isinstance(block, list):
        return [_plain(item) for item in block]
    if is_dataclass(block):
        return {f.name: _plain(getattr(block, f.name)) for f in fields(block)}
    return block


def _business(business: Business) -> dict[str, Any]:
    info = business.document_info
    return {
        "type": _BUSINESS_NAMES.get((business.bussiness_doc_type or "").strip(), None),
        "type_code": business.bussiness_doc_type,
        "document_id": business.document_id,
        "reason": business.bussiness_doc_reason,
        "paper": business.paper,
        "document_info": info.document_info if info else None,
        "document_receiver": info.document_receiver if info else None,
        "receivers": _plain(info.receivers) if info else None,
        "replacements": _plain(business.replacements),
        "staff": _plain(business.staff_info),
    }


def _attachment(attachment: Attachment, manifest: list[Reference]) -> dict[str, Any]:
    ref = next((r for r in manifest if r.content_id == attachment.content_id), None)
    return {
        "content_id": attachment.content_id,
        "name": attachment.attachment_name,
        "description": attachment.description,
        "content_type": attachment.content_type or (ref.content_type if ref else None),
        "size": attachment.size,
        "sha256": attachment.sha256,
    }


def _pruned(value: Any) -> Any:
    """Absent fields left out: a reader sees what the document says, not a page of nulls."""
    if isinstance(value, dict):
        kept = {k: _pruned(v) for k, v in value.items() if v is not None and v != []}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


# -- building ---------------------------------------------------------------------------------
@cache
def _validator() -> jsonschema.Draft202012Validator:
    path = Path(__file__).resolve().parents[1] / "catalog" / "schemas" / SCHEMA_NAME
    return jsonschema.Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def from_json(value: Any) -> tuple[Edoc | StatusMessage, dict[str, bytes]]:
    """A message and its attachments' bytes (by content id) from the flat JSON form. Raises
    ``SchemaViolation`` naming each JSON field that is wrong (``/to/0/organ_id``)."""
    errors = [
        error
        for e in sorted(_validator().iter_errors(value), key=lambda e: list(map(str, e.path)))
        for error in _field_errors(e, value)
    ]
    if errors:
        raise SchemaViolation(f"the JSON does not match {SCHEMA_NAME}", errors=errors)
    if value["kind"] == "status":
        return _status(value), {}
    return _edoc(value)


def _field_errors(error: jsonschema.ValidationError, value: Any) -> list[dict[str, str]]:
    from hub.schemas import field_errors  # the JSON errors as the rest of the hub words them

    if error.validator == "not" and error.schema == {"not": {}}:  # a field of the other kind
        kind = "status message" if value.get("kind") == "status" else "document"
        path = "/" + "/".join(map(str, error.absolute_path))
        return [{"path": path, "message": f"not part of a {kind}"}]
    return field_errors(error)


def _block(cls: type, value: dict[str, Any] | None) -> Any:
    if value is None:
        return None
    nested = {Replacement: {}, DocumentInfo: {"receivers": Receiver}}
    kwargs = {}
    for name, item in value.items():
        kind = nested.get(cls, {}).get(name)
        kwargs[name] = [_block(kind, i) for i in item] if kind else item
    return cls(**kwargs)


def _status(value: dict[str, Any]) -> StatusMessage:
    return StatusMessage(
        header=StatusHeader(
            from_=_block(Organization, value["from"]),
            response_for=_block(ResponseFor, value["response_for"]),
            staff_info=_block(StaffInfo, value.get("staff")),
            status_code=value["status_code"],
            description=value.get("description"),
            timestamp=value["timestamp"],
        ),
        traces=[_block(TraceHeader, t) for t in value.get("traces", [])],
    )


def _edoc(value: dict[str, Any]) -> tuple[Edoc, dict[str, bytes]]:
    header = Header(
        from_=_block(Organization, value["from"]),
        to=[_block(Organization, to) for to in value["to"]],
        response_for=[_block(ResponseFor, r) for r in value.get("response_for", [])],
    )
    for key, (block, cls, name) in _FLAT.items():
        if key not in value:
            continue
        holder = header
        if block is not None:
            holder = getattr(header, block) or cls()  # type: ignore[misc]
            setattr(header, block, holder)
        setattr(holder, name, value[key])
    edoc = Edoc(header=header, traces=[_block(TraceHeader, t) for t in value.get("traces", [])])
    if "business" in value:
        edoc.business = _business_of(value["business"])
    contents: dict[str, bytes] = {}
    for i, item in enumerate(value.get("attachments", [])):
        content_id = item.get("content_id") or f"cid:{i + 1}"
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise SchemaViolation(
                "an attachment is not valid base64",
                errors=[{"path": f"/attachments/{i}/content_base64", "message": "not base64"}],
            ) from None
        content_type = item.get("content_type") or "application/octet-stream"
        edoc.manifest.append(
            Reference(content_id, content_type, item.get("description"), item["name"])
        )
        edoc.attachments.append(
            Attachment(content_id, item["name"], item.get("description"), content_type)
        )
        contents[content_id] = data
    return edoc, contents


def _business_of(value: dict[str, Any]) -> Business:
    code = next((c for c, n in _BUSINESS_NAMES.items() if n == value.get("type")), None)
    receivers = value.get("receivers")
    info = None
    if receivers is not None or "document_info" in value or "document_receiver" in value:
        info = DocumentInfo(
            value.get("document_info"),
            value.get("document_receiver"),
            [_block(Receiver, r) for r in receivers or []],
        )
    return Business(
        document_id=value.get("document_id"),
        bussiness_doc_type=value.get("type_code") or code or "0",
        bussiness_doc_reason=value.get("reason"),
        paper=value.get("paper"),
        document_info=info,
        replacements=[_block(Replacement, r) for r in value.get("replacements", [])],
        staff_info=_block(StaffInfo, value.get("staff")),
    )


def opener(contents: dict[str, bytes]):
    """``open_content`` for the builder over attachments given in JSON."""
    return lambda attachment: io.BytesIO(contents[attachment.content_id])
