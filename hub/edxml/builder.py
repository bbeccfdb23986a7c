"""Building an edXML message the hub sends: conformant (``rules.violations`` empty), written in
QCVN 102's element order with the prefixes real producers use, and always validated against the
hub's own XSD (``hub/catalog/schemas/edxml-qcvn102.lgsp.xsd``) before it leaves.

Attachments are never held whole: their bytes come from ``open_content(attachment)`` and are
base64-encoded block by block into the output, and a built file is validated by
``xmlsafe.scan`` at flat memory. Signing is a separate step (``hub.edxml.signature``).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import is_dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO
from xml.sax.saxutils import escape

from lxml import etree

from hub import xmlsafe
from hub.edxml import rules
from hub.edxml.model import EDXML_NS, Attachment, Edoc, StatusMessage, children, xml_name
from hub.errors import SchemaViolation
from hub.schemas import element_path

__all__ = ["SCHEMA_NAME", "OpenContent", "build", "build_bytes", "schema", "validate"]

SCHEMA_NAME = "edxml-qcvn102.lgsp.xsd"
ENCODE_BLOCK = 3 * 256 * 1024  # a multiple of 3: base64 blocks join without padding
OpenContent = Callable[[Attachment], BinaryIO]
_TEXT = {"\r": "&#13;"}


def build_bytes(message: Edoc | StatusMessage, open_content: OpenContent | None = None) -> bytes:
    """The message as bytes (for small messages: attachments are encoded in memory)."""
    out = io.BytesIO()
    _write(message, out, open_content)
    data = out.getvalue()
    validate(data)
    return data


def build(
    message: Edoc | StatusMessage, path: str | Path, open_content: OpenContent | None = None
) -> Path:
    """The message written to ``path`` and validated from the file, at flat memory."""
    path = Path(path)
    with open(path, "wb") as out:
        _write(message, out, open_content)
    validate(path)
    return path


def _write(message: Edoc | StatusMessage, out: BinaryIO, open_content: OpenContent | None) -> None:
    problems = rules.violations(message)
    if problems:
        raise SchemaViolation(
            "the edXML message is not conformant", errors=[p.as_dict() for p in problems]
        )
    w = out.write
    w(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    w(f'<edXML xmlns="{EDXML_NS}">\n'.encode())
    w(f'  <edXML:edXMLEnvelope xmlns:edXML="{EDXML_NS}">\n'.encode())
    w(b"    <edXML:edXMLHeader>\n")
    _block(w, "MessageHeader", message.header, 6)
    if message.traces or message.business is not None:
        w(b"      <edXML:TraceHeaderList>\n")
        for trace in message.traces:
            _block(w, "TraceHeader", trace, 8)
        if message.business is not None:
            _block(w, "Bussiness", message.business, 8)
        w(b"      </edXML:TraceHeaderList>\n")
    w(b"    </edXML:edXMLHeader>\n")
    if isinstance(message, Edoc):
        w(b"    <edXML:edXMLBody>\n")
        w(b'      <edXML:edXMLManifest version="1.0">\n')
        for ref in message.manifest:
            _block(w, "Reference", ref, 8)
        w(b"      </edXML:edXMLManifest>\n")
        w(b"    </edXML:edXMLBody>\n")
    w(b"  </edXML:edXMLEnvelope>\n")
    if isinstance(message, Edoc) and message.attachments:
        w(b"  <AttachmentEncoded>\n")
        for attachment in message.attachments:
            _attachment(w, attachment, open_content)
        w(b"  </AttachmentEncoded>\n")
    w(b"</edXML>\n")


def _block(w: Callable[[bytes], Any], name: str, block: Any, indent: int) -> None:
    pad = " " * indent
    w(f"{pad}<edXML:{name}>\n".encode())
    for f in children(type(block)):
        value = getattr(block, f.name)
        items = f.metadata["items"]
        if isinstance(value, list):
            if not value:
                continue
            if items:
                w(f"{pad}  <edXML:{xml_name(f)}>\n".encode())
                for item in value:
                    _value(w, items, item, indent + 4)
                w(f"{pad}  </edXML:{xml_name(f)}>\n".encode())
            else:
                for item in value:
                    _value(w, xml_name(f), item, indent + 2)
        elif value is not None:
            _value(w, xml_name(f), value, indent + 2)
    w(f"{pad}</edXML:{name}>\n".encode())


def _value(w: Callable[[bytes], Any], name: str, value: Any, indent: int) -> None:
    if is_dataclass(value):
        _block(w, name, value, indent)
    elif value == "":
        w(f"{' ' * indent}<edXML:{name}/>\n".encode())
    else:
        w(f"{' ' * indent}<edXML:{name}>{escape(value, _TEXT)}</edXML:{name}>\n".encode())


def _attachment(
    w: Callable[[bytes], Any], attachment: Attachment, open_content: OpenContent | None
) -> None:
    w(b"    <Attachment>\n")
    for f in children(Attachment):
        value = getattr(attachment, f.name)
        if value is not None:
            text = escape(value, _TEXT)
            w(f"      <{xml_name(f)}>{text}</{xml_name(f)}>\n".encode())
    w(f'      <edXML:ContentTransferEncoded xmlns:edXML="{EDXML_NS}">'.encode())
    if open_content is None:
        raise SchemaViolation(
            "the edXML message is not conformant",
            errors=[{"path": "AttachmentEncoded", "message": "no content for the attachments"}],
        )
    with open_content(attachment) as content:
        while block := content.read(ENCODE_BLOCK):
            w(base64.b64encode(block))
    w(b"</edXML:ContentTransferEncoded>\n")
    w(b"    </Attachment>\n")


@cache
def schema() -> etree.XMLSchema:
    """The hub's own XSD for what it emits (QCVN 102's structure and the field rules)."""
    source = (
        Path(__file__).resolve().parents[1] / "catalog" / "schemas" / SCHEMA_NAME
    ).read_bytes()
    return etree.XMLSchema(etree.fromstring(source, xmlsafe.parser()))


def validate(source: bytes | str | Path) -> None:
    """Refuse (``SchemaViolation``, naming the line) what does not match the hub's XSD."""
    if isinstance(source, bytes):
        doc = xmlsafe.parse(source)
        if schema().validate(doc):
            return
        error = schema().error_log.last_error
        path = element_path(doc, error.path)
        found = [{"path": path, "line": error.line, "message": error.message}]
    else:
        found = list(xmlsafe.scan(source, schema()).errors)
        if not found:
            return
    raise SchemaViolation("the edXML message does not match the hub's edXML schema", errors=found)
