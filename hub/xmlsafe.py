"""The one way the hub parses XML: no DTD, no entity expansion, no network access, and
XInclude is never processed (the hub never calls ``xinclude()``).

A document that declares a DOCTYPE is refused outright (``HostileInput``): edXML and SOAP never
need one, and refusing it closes XXE and "billion laughs" before anything is expanded. The
prolog (declaration, comments, processing instructions) is scanned whole, from the bytes or
from the file's head block by block, so a DOCTYPE hidden behind a long comment is caught just
the same; the parsers refuse one too, in case the prolog scan is ever fooled.

Entry points:

* ``parse(data)`` / ``parse_file(path)``: a tree, for documents small enough to hold
  (libxml2 without ``huge_tree``: a text node over 10 MB is refused as malformed);
* ``scan(path_or_file, schema)``: a large document checked from its file at flat memory —
  well-formedness, the edXML header values the hub needs, and, given a schema, XSD validity —
  without a tree and without ever holding a text node whole (an edXML attachment is one
  base64 text node of hundreds of MB).

How ``scan`` stays flat: expat reads the file in 1 MiB blocks and hands text over in pieces,
following the element path for the header values. With a schema, each block then goes to
libxml2's streaming validator (``XMLPullParser(schema=…)``, elements cleared as they end), so
validation is libxml2's own, exactly as for a tree. Except for a text run over ``LARGE_TEXT``
(1 Mi characters): libxml2's validator accumulates a simple value whole, and quadratically
(lxml ``iterparse(huge_tree=True, schema=…)`` takes 45 s and twice the node's size for a
20 MB base64 node). When expat meets such a run, the scan starts again re-serialising the
document for the validator, the run judged as base64 piece by piece with libxml2's rules and
replaced by a short sample with the same base64 verdict. So a 200 MB attachment is validated
as ``xsd:base64Binary`` over its whole length (and accepted by an ``xsd:string``) in about
3 s at +22 MiB peak RSS; length, pattern and enumeration facets of such a huge node see the
sample only. Validation reports the first error only, when the document ends.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from xml.parsers import expat

from lxml import etree

from hub.errors import HostileInput, MalformedInput

__all__ = [
    "EDXML_DOCUMENT_ID",
    "EDXML_BUSINESS_DOC_TYPE",
    "Scanned",
    "declares_doctype",
    "hostile",
    "parse",
    "parse_file",
    "parser",
    "prolog_declares_doctype",
    "scan",
]

_PARSER_ARGS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)
BLOCK = 1024 * 1024
LARGE_TEXT = 1024 * 1024  # characters of a text run the validator sees whole
SAMPLE = 4096  # base64 characters the validator sees of a larger run
CAPTURE_LIMIT = 4096  # characters kept of a captured header value
# Where the edXML header values are, by local names, as the pipeline's XPath has them:
# //*[local-name()='MessageHeader']/*[local-name()='DocumentId'] and so on.
EDXML_DOCUMENT_ID = ("MessageHeader", "DocumentId")
EDXML_BUSINESS_DOC_TYPE = ("TraceHeaderList", "Bussiness", "BussinessDocType")
_CAPTURED = {path[-1]: path for path in (EDXML_DOCUMENT_ID, EDXML_BUSINESS_DOC_TYPE)}
_BOM = b"\xef\xbb\xbf"
_B64_VALUE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_DATA = re.compile(r"[A-Za-z0-9+/]")
_NOT_BASE64_DATA = re.compile(r"[^A-Za-z0-9+/]+")
_LONG_VALUE = re.compile(r"'([^']{80,})'")  # a value quoted in a validator message
_SCHEMA_VALIDITY_ERRORS = range(1800, 1900)  # libxml2's XML_SCHEMAV_* codes


def parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_ARGS)


def hostile() -> HostileInput:
    return HostileInput(
        "XML with a DOCTYPE or entity declaration is refused", reason="dtd_forbidden"
    )


# --- the prolog --------------------------------------------------------------------------------
class _Head:
    """The start of a document read block by block; ``buf`` holds the unconsumed part."""

    def __init__(self, source: BinaryIO) -> None:
        self.source, self.buf, self.eof = source, b"", False

    def more(self) -> bool:
        block = b"" if self.eof else self.source.read(BLOCK)
        self.eof = not block
        self.buf += block
        return bool(block)

    def fill(self, n: int) -> None:
        while len(self.buf) < n and self.more():
            pass


def prolog_declares_doctype(source: BinaryIO) -> bool:
    """Skip whitespace, the declaration, comments and PIs (of any length, a block at a time);
    is the first other thing a DOCTYPE or entity declaration?"""
    head = _Head(source)
    head.fill(3)
    if head.buf.startswith(_BOM):
        head.buf = head.buf[3:]
    while True:
        head.buf = head.buf.lstrip(b" \t\r\n")
        while not head.buf and head.more():
            head.buf = head.buf.lstrip(b" \t\r\n")
        head.fill(9)
        if head.buf.startswith(b"<?"):
            closer, start = b"?>", 2
        elif head.buf.startswith(b"<!--"):
            closer, start = b"-->", 4
        else:
            return head.buf.startswith((b"<!DOCTYPE", b"<!ENTITY"))
        while (end := head.buf.find(closer, start)) < 0:
            head.buf = head.buf[-(len(closer) - 1) :]
            start = 0
            if not head.more():
                return False
        head.buf = head.buf[end + len(closer) :]


def declares_doctype(data: bytes) -> bool:
    """Does the prolog (everything before the root element) contain a DOCTYPE?"""
    return prolog_declares_doctype(io.BytesIO(data))


# --- trees -------------------------------------------------------------------------------------
def parse(data: bytes) -> etree._Element:
    """Parse ``data`` or raise ``MalformedInput`` / ``HostileInput`` naming the problem."""
    if declares_doctype(data):
        raise hostile()
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as exc:
        raise _malformed(exc.lineno, str(exc.msg)) from None
    return _checked(root)


def parse_file(path: str | Path) -> etree._Element:
    """``parse`` for a stored file, read by libxml2 itself (no copy in Python). For documents
    small enough for a tree; use :func:`scan` for the others."""
    with open(path, "rb") as fh:
        if prolog_declares_doctype(fh):
            raise hostile()
    try:
        root = etree.parse(str(path), parser()).getroot()
    except etree.XMLSyntaxError as exc:
        raise _malformed(exc.lineno, str(exc.msg)) from None
    return _checked(root)


def _checked(root: etree._Element) -> etree._Element:
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise hostile()
    return root


def _malformed(line: int | None, reason: str) -> MalformedInput:
    return MalformedInput("XML is not well-formed", line=line, reason=reason)


# --- streaming ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scanned:
    """A document checked from its file without a tree: well-formed and safe (else ``scan``
    raised), its root's local name, the edXML header values (``document_id`` as
    ``MessageHeader/DocumentId``, ``business_doc_type`` as
    ``TraceHeaderList/Bussiness/BussinessDocType``: the first of each, stripped; None if
    absent or empty) and, when scanned with a schema, the first validation error as
    ``{"path", "line", "message"}`` (empty if valid)."""

    path: Path | None
    root: str = ""
    document_id: str | None = None
    business_doc_type: str | None = None
    errors: tuple[dict[str, Any], ...] = ()


def scan(source: str | Path | BinaryIO, schema: etree.XMLSchema | None = None) -> Scanned:
    """Check a document at flat memory (see the module docstring); ``source`` is a path or a
    seekable binary file (read from where it stands). Raises ``MalformedInput`` (with the line)
    or ``HostileInput``; schema errors are returned in ``Scanned.errors``."""
    if isinstance(source, str | Path):
        with open(source, "rb") as fh:
            return _scan(fh, Path(source), schema)
    return _scan(source, None, schema)


def _scan(fh: BinaryIO, path: Path | None, schema: etree.XMLSchema | None) -> Scanned:
    start = fh.tell()
    if prolog_declares_doctype(fh):
        raise hostile()
    fh.seek(start)
    if schema is None:
        reader = _run(fh, _Reader())
    else:
        try:
            reader = _run(fh, _Reader(_Validator(schema)))
        except _LargeText.Found:
            fh.seek(start)
            reader = _run(fh, _Rewriter(_Validator(schema)))
    return Scanned(
        path=path,
        root=reader.root,
        document_id=reader.found.get(EDXML_DOCUMENT_ID) or None,
        business_doc_type=reader.found.get(EDXML_BUSINESS_DOC_TYPE) or None,
        errors=reader.errors,
    )


def _run(fh: BinaryIO, reader: _Reader) -> _Reader:
    try:
        while block := fh.read(BLOCK):
            reader.parser.Parse(block, False)
            reader.validate(block)
        reader.parser.Parse(b"", True)
        reader.validate(b"", final=True)
    except expat.ExpatError as exc:
        raise _malformed(exc.lineno, expat.ErrorString(exc.code)) from None
    return reader


class _Reader:
    """expat handlers that follow the element path (local names) to read the header values
    and, given a validator, pass it each block as read: libxml2 then validates the document
    itself, exactly, unless a text run grows over ``LARGE_TEXT`` (``_LargeText.Found``: the
    scan starts again with a ``_Rewriter``)."""

    def __init__(self, validator: _Validator | None = None) -> None:
        self.parser = parser = expat.ParserCreate()
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text, parser.buffer_size = True, BLOCK
        parser.ordered_attributes = True
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = self._hostile
        parser.ExternalEntityRefHandler = self._hostile
        parser.StartElementHandler, parser.EndElementHandler = self._start, self._end
        parser.CharacterDataHandler = self._text
        self.validator = validator
        self.errors: tuple[dict[str, Any], ...] = ()
        self.names: list[str] = []
        self.root = ""
        self.found: dict[tuple[str, ...], str] = {}
        self.capturing: tuple[tuple[str, ...], list[str]] | None = None
        self.run = 0  # characters of text since the last tag

    def _hostile(self, *_: Any) -> None:
        raise hostile()

    def _start(self, name: str, attributes: list[str]) -> str:
        local = name.rpartition(":")[2]
        if self.capturing is not None:
            self._stop_capture()
        names = self.names
        if not names:
            self.root = local
        names.append(local)
        self.run = 0
        wanted = _CAPTURED.get(local)
        if wanted and wanted not in self.found and tuple(names[-len(wanted) :]) == wanted:
            self.capturing = (wanted, [])
        if self.validator is not None:
            self.validator.seen(local, names, self.parser.CurrentLineNumber)
        return local

    def _end(self, name: str) -> None:
        if self.capturing is not None:
            self._stop_capture()
        self.names.pop()
        self.run = 0

    def _text(self, text: str) -> None:
        if self.capturing is not None:
            kept = self.capturing[1]
            if sum(map(len, kept)) < CAPTURE_LIMIT:
                kept.append(text)
        self.run += len(text)
        if self.run > LARGE_TEXT and self.validator is not None:
            raise _LargeText.Found

    def _stop_capture(self) -> None:
        assert self.capturing is not None
        wanted, kept = self.capturing
        self.found[wanted] = "".join(kept)[:CAPTURE_LIMIT].strip()
        self.capturing = None

    def validate(self, block: bytes, final: bool = False) -> None:
        if self.validator is not None and not self.errors:
            self.errors = self.validator.feed(block, final)


class _Rewriter(_Reader):
    """The reader for documents with a huge text run: it re-serialises the document for the
    validator, each run whole or, over ``LARGE_TEXT``, as a ``_LargeText`` sample."""

    def __init__(self, validator: _Validator) -> None:
        super().__init__(validator)
        self.out: list[str] = []
        self.parts: list[str] = []
        self.large: _LargeText | None = None

    def _start(self, name: str, attributes: list[str]) -> str:
        local = super()._start(name, attributes)
        self._flush()
        if attributes:
            pairs = zip(attributes[::2], attributes[1::2], strict=True)
            self.out.append(
                f"<{name}"
                + "".join(f' {key}="{_escape_attribute(value)}"' for key, value in pairs)
                + ">"
            )
        else:
            self.out.append(f"<{name}>")
        return local

    def _end(self, name: str) -> None:
        super()._end(name)
        self._flush()
        self.out.append(f"</{name}>")

    def _text(self, text: str) -> None:
        if self.capturing is not None:
            kept = self.capturing[1]
            if sum(map(len, kept)) < CAPTURE_LIMIT:
                kept.append(text)
        if self.large is not None:
            self.large.add(text)
            return
        self.parts.append(text)
        self.run += len(text)
        if self.run > LARGE_TEXT:
            self.large = _LargeText("".join(self.parts))
            self.parts = []

    def _flush(self) -> None:
        if self.parts:
            self.out.append(
                _escape_text(self.parts[0] if len(self.parts) == 1 else "".join(self.parts))
            )
            self.parts = []
        elif self.large is not None:
            self.out.append(self.large.sample())
            self.large = None

    def validate(self, block: bytes, final: bool = False) -> None:
        data = "".join(self.out).encode("utf-8")
        self.out.clear()
        super().validate(data, final)


class _LargeText:
    """A text run over ``LARGE_TEXT`` characters, judged as ``xsd:base64Binary`` piece by piece
    with libxml2's own rules (characters outside the alphabet are ignored, ``=`` only at the
    end, whole groups); the validator gets a ``SAMPLE`` of its base64 characters instead: whole
    groups if the run is valid base64, one character past a group if not (so the verdict is
    the same for a base64 element, and a string element gets a valid string)."""

    class Found(Exception):  # noqa: N818 - a signal, not an error
        """A text run too large to hand to libxml2 whole."""

    def __init__(self, text: str) -> None:
        self.base64 = ""
        self.total = self.pads = 0
        self.last = ""
        self.broken = False
        self.add(text)

    def add(self, text: str) -> None:
        if self.broken:
            return
        data = _NOT_BASE64_DATA.sub("", text)
        if self.pads:
            self.broken = bool(data)
        elif (pad := text.find("=")) >= 0:
            data = _NOT_BASE64_DATA.sub("", text[:pad])
            self.broken = bool(_BASE64_DATA.search(text, pad))
        self.pads += text.count("=")
        if data:
            self.total += len(data)
            self.last = data[-1]
            if len(self.base64) < SAMPLE:
                self.base64 += data[: SAMPLE - len(self.base64)]

    def _valid(self) -> bool:
        if self.broken or self.pads > 2 or (self.total + self.pads) % 4:
            return False
        low_bits = {0: 0, 1: 0x03, 2: 0x0F}[self.pads]
        return not self.last or not _B64_VALUE.index(self.last) & low_bits

    def sample(self) -> str:
        if self._valid():
            return self.base64[: len(self.base64) - len(self.base64) % 4]
        some = self.base64 or "A"
        return some[: (len(some) - 1) // 4 * 4 + 1]


class _Validator:
    """libxml2's streaming XSD validator; elements are dropped as they end, so memory stays at
    one block and one path of open elements.

    libxml2 reports a validity error only when the document is closed, naming the element but
    not where it is; the error's ``path`` and ``line`` are those of the first element of that
    name in the document (its field, by local names, as ``hub.schemas`` reports them). Any
    other libxml2 error (a limit expat does not have, e.g. nesting deeper than 256) is
    ``MalformedInput``, as ``parse`` would say."""

    MAX_NAMES = 10_000

    def __init__(self, schema: etree.XMLSchema) -> None:
        self.pull = etree.XMLPullParser(events=("end",), schema=schema, **_PARSER_ARGS)
        self.first: dict[str, tuple[str, int]] = {}  # local name -> (path, line)

    def seen(self, local: str, names: list[str], line: int) -> None:
        if local not in self.first and len(self.first) < self.MAX_NAMES:
            self.first[local] = ("/" + "/".join(names), line)

    def feed(self, data: bytes, final: bool) -> tuple[dict[str, Any], ...]:
        try:
            if data:
                self.pull.feed(data)
            self._drop_ended()
            if final:
                self.pull.close()
        except etree.XMLSyntaxError as exc:
            if not _SCHEMA_VALIDITY_ERRORS.start <= exc.code < _SCHEMA_VALIDITY_ERRORS.stop:
                raise _malformed(exc.lineno, str(exc.msg)) from None
            return (self._error(str(exc.msg)),)
        return ()

    def _drop_ended(self) -> None:
        for _, element in self.pull.read_events():
            element.clear()
            parent = element.getparent()
            if parent is not None:
                while element.getprevious() is not None:
                    del parent[0]

    def _error(self, message: str) -> dict[str, Any]:
        named = re.match(r"Element '(?:\{[^}]*\})?([^']+)'", message)
        path, line = self.first.get(named.group(1) if named else "", ("/", None))
        message = _LONG_VALUE.sub(lambda m: f"'{m.group(1)[:60]}…'", message)
        return {"path": path, "line": line, "message": message}


def _escape_text(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text.replace("\r", "&#13;") if "\r" in text else text


def _escape_attribute(value: str) -> str:
    """Also the characters attribute-value normalisation would turn into spaces."""
    return _escape_text(value).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")
