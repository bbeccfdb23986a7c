"""Reading an edXML message as it streams: header objects out, attachments decoded on the fly.

expat reads the source in 1 MiB blocks; a stack of frames follows the elements by their local
names against the declarations in ``hub.edxml.model``, so children may come in any order. A
header value is a short string (capped: ``MAX_FIELD_CHARS``); an attachment's base64 text is
decoded piece by piece into an ``AttachmentSink`` (the blob store in the hub, a digest-only sink
for ``lgsp edxml check``), so a 1 GB document costs a few blocks of memory.

XInclude is never processed: an ``xi:include`` element is refused as hostile (``HostileInput``).

Liberal in: what deviates from QCVN 102 but can be processed (an unknown element, a repeated
field, text where none belongs, ``Bussiness`` before ``TraceHeader``, no namespace) becomes a
warning naming the field; only what cannot be processed raises — not well-formed or hostile
XML (``MalformedInput``/``HostileInput``), or a structure with no root ``edXML``, no envelope, no
``MessageHeader``, no sender or no recipient (``SchemaViolation`` naming the element).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO
from xml.parsers import expat

from hub import xmlsafe
from hub.edxml import rules
from hub.edxml.attachments import AttachmentSink, Base64, DigestSink
from hub.edxml.envelope import (
    HEADER_ONLY,
    ORDERED,
    AnyHeader,
    Envelope,
    EnvelopeHeader,
    Root,
    Slot,
    TraceList,
    invalid,
    join,
    last,
    shown,
    slots,
)
from hub.edxml.model import (
    DSIG_NS,
    EDXML_NS,
    Attachment,
    Edoc,
    Finding,
    Header,
    StatusHeader,
    StatusMessage,
    xml_name,
)
from hub.errors import HostileInput, MalformedInput

__all__ = ["AttachmentSink", "DigestSink", "MAX_FIELD_CHARS", "read"]

BLOCK = 1024 * 1024
MAX_FIELD_CHARS = 64 * 1024
MAX_DEPTH = 32
MAX_ELEMENTS = 500_000
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"


class _Frame:
    """An open element: a block (``obj`` set), a list wrapper, a text value, base64 or skipped."""

    __slots__ = ("kind", "obj", "slot", "path", "parts", "size", "seen", "order", "writer")

    def __init__(self, kind: str, path: str, obj: Any = None, slot: Slot | None = None) -> None:
        self.kind, self.path, self.obj, self.slot = kind, path, obj, slot
        self.parts: list[str] = []
        self.size = 0
        self.seen: dict[str, int] = {}
        self.order: list[str] = []
        self.writer: Any = None


class _Reader:
    def __init__(self, sink: AttachmentSink) -> None:
        self.sink = sink
        self.warnings: list[Finding] = []
        self.root = Root()
        self.stack: list[_Frame] = []
        self.elements = 0
        self.signature: str | None = None
        self.comment_seen = self.no_namespace_seen = False
        self.b64 = Base64()
        parser = self.parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text, parser.buffer_size = True, BLOCK
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = self._hostile
        parser.ExternalEntityRefHandler = self._hostile
        parser.StartElementHandler, parser.EndElementHandler = self._start, self._end
        parser.CharacterDataHandler = self._text
        parser.CommentHandler = self._comment

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(Finding(shown(path), message))

    def _hostile(self, *_: Any) -> None:
        raise xmlsafe.hostile()

    def _comment(self, _: str) -> None:
        if not self.comment_seen:
            self.comment_seen = True
            where = self.stack[-1].path if self.stack else "edXML"
            self.warn(where or "edXML", "an XML comment (ignored)")

    # -- elements --------------------------------------------------------------------------
    def _start(self, name: str, _attributes: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(" ")
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise invalid("edXML", f"more than {MAX_ELEMENTS} elements")
        if len(self.stack) >= MAX_DEPTH:
            raise invalid(self.stack[-1].path, f"elements nested deeper than {MAX_DEPTH}")
        if not self.stack:
            if local != "edXML" or namespace not in (EDXML_NS, ""):
                named = f"{{{namespace}}}{local}" if namespace else local
                raise invalid("/", f"the root element is {named}, not edXML")
            self._namespace(namespace, "edXML")
            self.stack.append(_Frame("block", "", self.root))
            return
        parent = self.stack[-1]
        path = join(parent.path, local)
        if parent.kind == "skip":
            self.stack.append(_Frame("skip", path))
            return
        if local == "Signature" and namespace in (DSIG_NS, EDXML_NS, ""):
            self._signature(parent, path, namespace)
            return
        if namespace == XINCLUDE_NS:
            raise HostileInput("XInclude is refused", reason="xinclude", path=shown(path))
        if namespace not in (EDXML_NS, ""):
            self.warn(path, f"an element of namespace {namespace} (ignored)")
            self.stack.append(_Frame("skip", path))
            return
        self._namespace(namespace, path)
        if parent.kind == "text" or parent.kind == "base64":
            self.warn(path, "an element inside a value (ignored)")
            self.stack.append(_Frame("skip", path))
            return
        if parent.kind == "list":
            slot = parent.slot
            assert slot is not None
            if local != slot.items:
                self.warn(path, f"an unknown element in {slot.xml} (ignored)")
                self.stack.append(_Frame("skip", path))
                return
            count = parent.seen[local] = parent.seen.get(local, 0) + 1
            self._open_item(slot, f"{parent.path}/{local}[{count}]", parent.obj)
            return
        self._child(parent, local, path)

    def _namespace(self, namespace: str, path: str) -> None:
        if not namespace and not self.no_namespace_seen:
            self.no_namespace_seen = True
            self.warn(path, f"not in the edXML namespace {EDXML_NS}")

    def _signature(self, parent: _Frame, path: str, namespace: str) -> None:
        if self.signature is not None:
            self.warn(path, "a second Signature (ignored)")
        else:
            self.signature = "xmldsig" if namespace == DSIG_NS else "edxml"
            if not isinstance(parent.obj, EnvelopeHeader):
                self.warn(path, "a Signature outside edXMLHeader")
        self.stack.append(_Frame("skip", path))

    def _child(self, parent: _Frame, local: str, path: str) -> None:
        obj = parent.obj
        if isinstance(obj, Attachment) and local == "ContentTransferEncoded":
            self._open_base64(parent, path)
            return
        slot = slots(type(obj)).get(local)
        if slot is None:
            self.warn(path, f"an unknown element in {last(parent.path) or 'edXML'} (ignored)")
            self.stack.append(_Frame("skip", path))
            return
        count = parent.seen[local] = parent.seen.get(local, 0) + 1
        self._check_order(parent, local, path)
        if slot.items is not None:  # a wrapper: ToPlaces/Place, ReceiverList/Receiver …
            if count > 1:
                self.warn(path, "repeated; its items are added to the first")
            self.stack.append(_Frame("list", path, getattr(obj, slot.attr), slot))
            return
        if slot.many:
            self._open_item(slot, f"{path}[{count}]", getattr(obj, slot.attr))
            return
        if count > 1:
            self.warn(path, "repeated; the first is kept")
            self.stack.append(_Frame("skip", path))
            return
        if slot.of is None:
            self.stack.append(_Frame("text", path, obj, slot))
        else:
            block = slot.of()
            setattr(obj, slot.attr, block)
            self.stack.append(_Frame("block", path, block))

    def _open_item(self, slot: Slot, path: str, items: list[Any]) -> None:
        if slot.of is None:
            self.stack.append(_Frame("text", path, items, slot))
        else:
            block = slot.of()
            items.append(block)
            self.stack.append(_Frame("block", path, block))

    def _check_order(self, parent: _Frame, local: str, path: str) -> None:
        order = ORDERED.get(type(parent.obj))
        if order is None or local not in order:
            return
        later = [name for name in parent.order if order.index(name) > order.index(local)]
        if later:
            self.warn(path, f"after {later[0]} (QCVN 102 puts it before)")
        parent.order.append(local)

    def _open_base64(self, parent: _Frame, path: str) -> None:
        attachment = parent.obj
        if attachment.sha256 is not None:
            self.warn(path, "repeated; the first is kept")
            self.stack.append(_Frame("skip", path))
            return
        frame = _Frame("base64", path, attachment)
        frame.writer = self.sink.writer()
        self.b64 = Base64()
        self.stack.append(frame)

    def _end(self, _name: str) -> None:
        frame = self.stack.pop()
        if frame.kind == "text":
            value = "".join(frame.parts)
            slot = frame.slot
            assert slot is not None
            if isinstance(frame.obj, list):
                frame.obj.append(value)
            else:
                setattr(frame.obj, slot.attr, value)
        elif frame.kind == "base64":
            self._close_base64(frame)

    def _close_base64(self, frame: _Frame) -> None:
        try:
            frame.writer.write(self.b64.finish(frame.path))
        except BaseException:
            frame.writer.abort()
            raise
        ref, size, sha256 = frame.writer.commit()
        frame.obj.ref, frame.obj.size, frame.obj.sha256 = ref, size, sha256
        frame.obj.detected_type = rules.content_type_of(self.b64.head)
        frame.writer = None

    def abort(self) -> None:
        for frame in self.stack:
            if frame.writer is not None:
                frame.writer.abort()

    def _text(self, text: str) -> None:
        if not self.stack:
            return
        frame = self.stack[-1]
        if frame.kind == "text":
            frame.size += len(text)
            if frame.size > MAX_FIELD_CHARS:
                raise invalid(frame.path, f"a value longer than {MAX_FIELD_CHARS} characters")
            frame.parts.append(text)
        elif frame.kind == "base64":
            try:
                frame.writer.write(self.b64.feed(text, frame.path))
            except BaseException:
                frame.writer.abort()
                frame.writer = None
                raise
        elif frame.kind in ("block", "list") and text.strip() and not frame.size:
            frame.size = 1  # warn once per element
            self.warn(frame.path or "edXML", "text outside any field (ignored)")


# -- the entry point ------------------------------------------------------------------------
def read(source: str | Path | bytes | BinaryIO, sink: AttachmentSink | None = None):
    """An ``Edoc`` or a ``StatusMessage`` from ``source`` (a path, bytes or a binary file read
    from where it stands), its warnings in ``.warnings``; attachments decoded into ``sink``
    (a ``DigestSink`` if None). Raises ``MalformedInput``, ``HostileInput`` or
    ``SchemaViolation`` (``details.errors[0].path`` names the element)."""
    if isinstance(source, bytes):
        return _read(io.BytesIO(source), sink or DigestSink())
    if isinstance(source, str | Path):
        with open(source, "rb") as fh:
            return _read(fh, sink or DigestSink())
    return _read(source, sink or DigestSink())


def _read(fh: BinaryIO, sink: AttachmentSink):
    start = fh.tell()
    _check_start(fh)
    if xmlsafe.prolog_declares_doctype(fh):
        raise xmlsafe.hostile()
    fh.seek(start)
    reader = _Reader(sink)
    try:
        while block := fh.read(BLOCK):
            reader.parser.Parse(block, False)
        reader.parser.Parse(b"", True)
    except expat.ExpatError as exc:
        reader.abort()
        raise MalformedInput(
            "XML is not well-formed", line=exc.lineno, reason=expat.ErrorString(exc.code)
        ) from None
    except BaseException:
        reader.abort()
        raise
    return _assemble(reader)


def _check_start(fh: BinaryIO) -> None:
    """Bytes before the XML declaration (a real sample starts with "1212<?xml"): a clear error
    that counts them, rather than expat's "XML declaration not at start of entity"."""
    start = fh.tell()
    head = fh.read(1024)
    fh.seek(start)
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    at = body.find(b"<?xml")
    if at > 0 and body[:at].strip(b" \t\r\n"):
        raise MalformedInput(
            "XML is not well-formed",
            line=1,
            reason=f"{at} stray bytes before the XML declaration ({body[: min(at, 16)]!r})",
        )


def _assemble(reader: _Reader) -> Edoc | StatusMessage:
    root = reader.root
    envelope = root.envelope
    if envelope is None:
        raise invalid("edXMLEnvelope", "missing")
    if envelope.header is None:
        raise invalid("edXMLHeader", "missing")
    header = envelope.header.message_header
    if header is None:
        raise invalid("MessageHeader", "missing")
    traces = envelope.header.trace_list or TraceList()
    warn = reader.warn
    if header.status_code is not None or (not header.to and header.response_for):
        message: Edoc | StatusMessage = _status(header, envelope, root, warn)
    else:
        message = _edoc(header, envelope, root)
        for name in ("StaffInfo", "StatusCode", "Description", "Timestamp"):
            if getattr(header, slots(AnyHeader)[name].attr) is not None:
                warn(f"MessageHeader/{name}", "not part of a document (ignored)")
    message.traces = traces.traces
    message.business = traces.business
    message.signature = reader.signature
    if message.sender is None:
        raise invalid("MessageHeader/From/OrganId", "no sender")
    if not message.recipients:
        where = "MessageHeader/To" if message.kind == "edoc" else "MessageHeader/ResponseFor"
        raise invalid(f"{where}/OrganId", "no recipient")
    message.warnings = reader.warnings + rules.deviations(message)
    return message


def _status(header: AnyHeader, envelope: Envelope, root: Root, warn) -> StatusMessage:
    for name, value in (("To", header.to), ("edXMLBody", envelope.body)):
        if value:
            warn(f"MessageHeader/{name}" if name == "To" else name, "not part of a status message")
    for f in HEADER_ONLY:
        if getattr(header, f.name, None):
            warn(f"MessageHeader/{xml_name(f)}", "not part of a status message (ignored)")
    if root.attachments:
        warn("AttachmentEncoded", "not part of a status message (ignored)")
    if len(header.response_for) > 1:
        warn("MessageHeader/ResponseFor[2]", "a status message answers one document; extra ignored")
    return StatusMessage(
        header=StatusHeader(
            from_=header.from_,
            response_for=header.response_for[0] if header.response_for else None,
            staff_info=header.staff_info,
            status_code=header.status_code,
            description=header.description,
            timestamp=header.timestamp,
        )
    )


def _edoc(header: AnyHeader, envelope: Envelope, root: Root) -> Edoc:
    values = {f.name: getattr(header, f.name) for f in HEADER_ONLY}
    edoc = Edoc(
        header=Header(from_=header.from_, to=header.to, response_for=header.response_for, **values),
        manifest=envelope.body.manifest if envelope.body else [],
        attachments=root.attachments,
    )
    return edoc
