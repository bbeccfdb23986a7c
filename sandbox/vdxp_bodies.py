"""What the VDXP axis simulator (:mod:`sandbox.vdxp`) reads from the body of a send
(:func:`read_send`), at flat memory: the small fields, the document itself (streamed to the
store, counted and hashed on the way) and whom it is addressed to.

A document may be hundreds of MB, in either style: the VNPT ``sendEdoc`` multipart (a JSON
``header`` part, then the edXML ``file`` part), or the WSO2 style's one JSON object
``{from, to, kind, content: <base64 edXML>}``. Neither is ever held whole: the multipart is
parsed as it arrives, the JSON by a scanner just sufficient for one flat object whose
``content`` string is decoded slice by slice. The recipients come from ``to`` when the sender
gave it, else from the edXML's ``MessageHeader`` (``To/OrganId`` of a document,
``ResponseFor/OrganId`` of a status message), parsed only as far as the end of that header.
Anything malformed is the axis's ``BAD_REQUEST`` or ``INVALID_EDXML``
(:class:`sandbox.vdxp_mailbox.AxisError`), and a half-written document is deleted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree
from python_multipart.multipart import MultipartParser, parse_options_header

from sandbox.server import SandboxRequest
from sandbox.vdxp_mailbox import AxisError, Upload

__all__ = [
    "EDXML_NS",
    "SendBody",
    "edxml_recipients",
    "read_document_json",
    "read_multipart",
    "read_send",
    "recipients_of",
]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
BLOCK = 1024 * 1024
SMALL_PART = 64 * 1024  # a multipart header part, a JSON field other than the content


@dataclass(frozen=True)
class SendBody:
    """What a send said: its small fields, the kind it claims (checked by the mailbox), whom
    it is for, and the document as stored."""

    fields: dict[str, Any]
    kind: Any
    recipients: list[str]
    upload: Upload


def read_send(request: SandboxRequest, target: Path, *, multipart: bool) -> SendBody:
    """A send in the VNPT style (``multipart``) or the WSO2 style, its document stored at
    ``target``; that file is deleted when the send is refused here."""
    with _body(request) as reader:
        if multipart:
            content_type = request.headers.get("content-type", "")
            fields, upload = read_multipart(reader, content_type, target)
            if not isinstance(fields, dict):
                target.unlink(missing_ok=True)
                raise AxisError("BAD_REQUEST", "the header part must be a JSON object")
            kind = fields.get("messagetype")
            if fields.get("servicetype", "eDoc") != "eDoc":
                target.unlink(missing_ok=True)
                raise AxisError("BAD_REQUEST", 'servicetype: "eDoc"')
        else:
            fields, upload = read_document_json(reader, target)
            kind = fields.get("kind")
    try:
        to = recipients_of(fields)
        if kind in ("edoc", "status") and not to:
            to = edxml_recipients(upload.path, kind)
        elif kind in ("edoc", "status"):
            edxml_recipients(upload.path, kind)  # still an edXML
    except AxisError:
        upload.path.unlink(missing_ok=True)
        raise
    return SendBody(fields, kind, to, upload)


def _body(request: SandboxRequest) -> BinaryIO:
    """The request body from the start: spooled to a file when large."""
    if request.body_file is not None:
        return open(request.body_file, "rb")  # noqa: SIM115 - closed by the caller's with
    return io.BytesIO(request.body)


class _Sink:
    """A document body being written to the store: counted, hashed, deleted on failure."""

    def __init__(self, path: Path) -> None:
        self.path, self.size, self.hash = path, 0, hashlib.sha256()
        self._fh: BinaryIO | None = path.open("wb")

    def write(self, data: bytes) -> None:
        assert self._fh is not None
        self._fh.write(data)
        self.hash.update(data)
        self.size += len(data)

    def close(self) -> Upload:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        return Upload(self.path, self.size, self.hash.hexdigest())

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def read_multipart(reader: BinaryIO, content_type: str, target: Path) -> tuple[Any, Upload]:
    """A ``sendEdoc`` body: the ``header`` part (JSON) and the ``file`` part, streamed to
    ``target``. ``BAD_REQUEST`` for anything else."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise AxisError("BAD_REQUEST", "sendEdoc takes multipart/form-data with a boundary")
    sink = _Sink(target)
    parts: dict[str, Any] = {}
    state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "name": None}
    header = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"] = state["value"] = b""

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(state["headers"].get(b"content-disposition"))
        name = disposition.get(b"name", b"").decode("latin-1")
        if name not in ("header", "file") or name in parts:
            raise AxisError("BAD_REQUEST", f"unexpected or repeated part {name[:40]!r}")
        state["name"], parts[name] = name, True
        state["headers"] = {}

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["name"] == "file":
            sink.write(data[start:end])
            return
        header.extend(data[start:end])
        if len(header) > SMALL_PART:
            raise AxisError("BAD_REQUEST", "the header part is over 64 KiB")

    callbacks = {
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        while block := reader.read(BLOCK):
            parser.write(block)
        parser.finalize()
        if set(parts) != {"header", "file"}:
            raise AxisError("BAD_REQUEST", "sendEdoc needs a header part and a file part")
        fields = json.loads(header)
    except AxisError:
        sink.discard()
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed body is the client's fault
        sink.discard()
        raise AxisError("BAD_REQUEST", f"malformed multipart body ({type(exc).__name__})") from None
    return fields, sink.close()


def read_document_json(reader: BinaryIO, target: Path) -> tuple[dict[str, Any], Upload]:
    """A WSO2-style document ``{from, to, kind, content: <base64>}``: the small fields parsed,
    ``content`` decoded chunk by chunk into ``target``."""
    sink = _Sink(target)
    try:
        fields = _JsonScanner(reader).document(_Base64Sink(sink.write))
    except AxisError:
        sink.discard()
        raise
    except Exception as exc:  # noqa: BLE001
        sink.discard()
        raise AxisError("BAD_REQUEST", f"malformed JSON body ({type(exc).__name__})") from None
    return fields, sink.close()


class _Base64Sink:
    """Decodes base64 as it arrives (whitespace ignored, as MIME line breaks may be sent)."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write, self._carry = write, b""

    def __call__(self, text: bytes) -> None:
        data = self._carry + text.translate(None, b" \t\r\n")
        cut = len(data) - len(data) % 4
        self._carry = data[cut:]
        if cut:
            self._write(base64.b64decode(data[:cut], validate=True))

    def close(self) -> None:
        if self._carry:
            raise binascii.Error("base64 content of a length that is not a multiple of 4")


class _JsonScanner:
    """Just enough of a streaming JSON reader for one flat object whose ``content`` string may
    be hundreds of MB: that string is passed on in slices, the other values are small."""

    FIELDS = frozenset({"from", "to", "kind", "content"})

    def __init__(self, reader: BinaryIO) -> None:
        self._reader, self._buf, self._pos, self._eof = reader, b"", 0, False

    def document(self, content: _Base64Sink) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        self._expect(b"{")
        while True:
            key = self._small()
            if not isinstance(key, str) or key not in self.FIELDS or key in fields:
                raise AxisError("BAD_REQUEST", f"unexpected or repeated field {str(key)[:40]!r}")
            self._expect(b":")
            if key == "content":
                if self._peek() != b'"':
                    raise AxisError("BAD_REQUEST", "content: a base64 string")
                self._string(content)
                content.close()
                fields[key] = True
            else:
                fields[key] = self._small()
            if self._expect(b",}") == b"}":
                break
        if self._peek() != b"":
            raise AxisError("BAD_REQUEST", "data after the JSON object")
        if "content" not in fields:
            raise AxisError("BAD_REQUEST", "content: the edXML in base64 is required")
        del fields["content"]
        return fields

    def _fill(self) -> bool:
        if self._eof:
            return False
        block = self._reader.read(BLOCK // 4)
        self._buf, self._pos = self._buf[self._pos :] + block, 0
        self._eof = not block
        return bool(block)

    def _peek(self) -> bytes:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in b" \t\r\n":
                self._pos += 1
            if self._pos < len(self._buf) or not self._fill():
                return self._buf[self._pos : self._pos + 1]

    def _expect(self, allowed: bytes) -> bytes:
        found = self._peek()
        if not found or found not in allowed:
            raise AxisError("BAD_REQUEST", f"malformed JSON: expected one of {allowed.decode()}")
        self._pos += 1
        return found

    def _small(self) -> Any:
        """One complete value (not the content), at most 64 KiB."""
        self._peek()
        decoder = json.JSONDecoder()
        while True:
            raw = self._buf[self._pos :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # a character cut at the end of the buffer
                text = raw[: exc.start].decode("utf-8")
            try:
                value, end = decoder.raw_decode(text)
                if end < len(text) or self._eof:  # a number may go on in the next block
                    self._pos += len(text[:end].encode("utf-8"))
                    return value
            except ValueError:
                if self._eof or len(raw) > SMALL_PART:
                    raise AxisError("BAD_REQUEST", "malformed JSON value") from None
            if not self._fill():
                raise AxisError("BAD_REQUEST", "the JSON body ends early")

    def _string(self, sink: _Base64Sink) -> None:
        """Stream the string at the cursor (its opening quote) to ``sink``, escapes decoded."""
        self._pos += 1
        while True:
            if self._pos >= len(self._buf) and not self._fill():
                raise AxisError("BAD_REQUEST", "unterminated content string")
            buf = self._buf
            stops = [i for i in (buf.find(b'"', self._pos), buf.find(b"\\", self._pos)) if i >= 0]
            stop = min(stops) if stops else len(buf)
            if stop > self._pos:
                sink(buf[self._pos : stop])
            self._pos = stop
            if stop == len(buf):
                continue
            if buf[stop : stop + 1] == b'"':
                self._pos += 1
                return
            while len(self._buf) - self._pos < 6 and self._fill():  # \uXXXX at most
                pass
            escape = self._buf[self._pos : self._pos + 6]
            width = 6 if escape[1:2] == b"u" else 2
            sink(json.loads(b'"' + escape[:width] + b'"').encode("utf-8"))
            self._pos += width


def edxml_recipients(path: Path, kind: str) -> list[str]:
    """Check that ``path`` holds an edXML and return whom it is addressed to: ``To/OrganId`` of a
    document, ``ResponseFor/OrganId`` of a status message. Parsed safely (no entities, no
    network) and only as far as the end of ``MessageHeader``, so a 100 MB attachment after it
    is never read."""
    want = "ResponseFor" if kind == "status" else "To"
    found: list[str] = []
    try:
        events = etree.iterparse(
            str(path),
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
        )
        for event, element in events:
            name = etree.QName(element).localname
            if event == "start":
                if element.getparent() is None and element.tag != f"{{{EDXML_NS}}}edXML":
                    raise AxisError("INVALID_EDXML", "the root element is not edXML (QCVN 102)")
                continue
            if name == "OrganId" and _parent_name(element) == want:
                found.append((element.text or "").strip())
            elif name == "MessageHeader":
                return [code for code in dict.fromkeys(found) if code]
    except etree.XMLSyntaxError as exc:
        raise AxisError(
            "INVALID_EDXML", f"the edXML is not well-formed (line {exc.lineno})"
        ) from None
    raise AxisError("INVALID_EDXML", "the edXML has no MessageHeader")


def _parent_name(element: Any) -> str:
    parent = element.getparent()
    return etree.QName(parent).localname if parent is not None else ""


def recipients_of(fields: dict[str, Any]) -> list[str]:
    """``to`` as the sender gave it: a list of codes, one code, or a comma-separated list."""
    to = fields.get("to")
    if to is None:
        return []
    if isinstance(to, str):
        items = to.split(",")
    elif isinstance(to, list) and all(isinstance(code, str) for code in to):
        items = to
    else:
        raise AxisError("BAD_REQUEST", "to: a list of agency codes")
    return [code.strip() for code in items if code.strip()]
