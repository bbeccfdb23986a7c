"""The wire side of the QLVB SOAP service (``hub.api.routes.qlvb_soap``): what each operation
takes, the request envelope read as it streams, and the answers and faults written.

Reading: expat, set up as ``hub.xmlsafe`` sets it up (no parameter entities; a DOCTYPE, an
entity declaration or an external entity reference is ``xmlsafe.hostile()``), fed the body
block by block as it arrives, so a 100 MB ``SendDocument`` costs a few blocks of memory: the
base64 of ``edxml`` is decoded group by group into memory up to the blob threshold, beyond it
into a blob writer (committed only when the whole envelope was read and valid, aborted
otherwise). A tree cannot be used here: libxml2 refuses a text node over 10 MB, and an edXML
document with its attachments is one. XInclude is never processed, and an element in its
namespace is refused as hostile.

The envelope must be SOAP 1.1 (``Envelope``, an optional ``Header``, one ``Body`` holding one
operation element of :data:`TNS`); a header entry with ``mustUnderstand="1"`` is refused (no
header is understood). Arguments are simple values: qualified by :data:`TNS` or unqualified,
each known, present when required, repeated only when a list. Anything else is a
``SchemaViolation`` (an ``EnvelopeError``) whose ``details.errors[0].path`` names the element.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from lxml import etree

from hub import xmlsafe
from hub.errors import HostileInput, HubError, MalformedInput, PayloadTooLarge, SchemaViolation
from hub.payload import Payload
from hub.store.blobs import BlobStore, BlobWriter

__all__ = [
    "CALL_MAX_BYTES",
    "OPERATIONS",
    "SOAP_ENV",
    "TNS",
    "Call",
    "CallReader",
    "EnvelopeError",
    "Operation",
    "Spec",
    "answer",
    "answer_around",
    "fault",
    "fields",
]

TNS = "urn:lgsp:qlvb:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
CALL_MAX_BYTES = 1024 * 1024  # an envelope's bytes before its operation, and of a small call
MAX_DEPTH = 16  # Envelope/Body/operation/argument is 4; header entries may go deeper
MAX_ELEMENTS = 10_000
MAX_VALUE_CHARS = 1024  # an id, a code, a query
_BLOCK = 1024 * 1024
_MUST_UNDERSTAND = f"{SOAP_ENV} mustUnderstand"
_WHITESPACE = re.compile(r"[ \t\r\n]+")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Operation:
    """What an operation takes: its arguments (``"text"``, ``"list"`` or ``"base64"``), the
    required ones, and which limit applies (``"edoc"``: ``LGSP_EDOC_MAX_BODY_BYTES`` as on
    REST, on the edXML document decoded; ``"body"``: ``LGSP_MAX_BODY_BYTES``; ``"call"``: no
    document, an envelope of :data:`CALL_MAX_BYTES` at most)."""

    arguments: Mapping[str, str]
    required: frozenset[str] = frozenset()
    size: str = "call"


OPERATIONS: dict[str, Operation] = {
    "SendDocument": Operation(
        {"edxml": "base64", "recipients": "list"}, frozenset({"edxml"}), "edoc"
    ),
    "UpdateTraces": Operation({"edxml": "base64"}, frozenset({"edxml"}), "body"),
    "GetPendingDocumentIds": Operation({"limit": "text"}),
    "GetDocument": Operation({"id": "text"}, frozenset({"id"})),
    "ConfirmReceived": Operation({"id": "text"}, frozenset({"id"})),
    "GetTraces": Operation({"documentId": "text"}, frozenset({"documentId"})),
    "GetOrganizations": Operation({"query": "text", "limit": "text", "cursor": "text"}),
}


class EnvelopeError(SchemaViolation):
    """A request the SOAP rules or the operation's contract refuse; ``faultcode`` is SOAP
    1.1's (``Client``, ``VersionMismatch``, ``MustUnderstand``)."""

    def __init__(self, path: str, message: str, faultcode: str = "Client") -> None:
        super().__init__(message, errors=[{"path": path, "message": message}])
        self.faultcode = faultcode


@dataclass
class Call:
    """An operation call as read: its name, its text values (lists in order) and, for the
    operations that carry one, the decoded edXML."""

    operation: str
    values: dict[str, list[str]] = field(default_factory=dict)
    document: Payload | None = None

    def value(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None


# -- reading --------------------------------------------------------------------------------------
class _Decoder:
    """base64 text decoded as it arrives (whitespace aside, strictly otherwise: padding only
    at the end) into memory up to ``threshold`` bytes, beyond it into a blob writer; more
    than ``limit`` bytes decoded is ``PayloadTooLarge``."""

    def __init__(self, blobs: BlobStore, threshold: int, limit: int, path: str) -> None:
        self.blobs, self.threshold, self.limit, self.path = blobs, threshold, limit, path
        self.size = 0
        self.carry = ""
        self.padded = False
        self.memory = bytearray()
        self.writer: BlobWriter | None = None

    def add(self, text: str) -> None:
        text = self.carry + _WHITESPACE.sub("", text)
        whole = len(text) - len(text) % 4
        self.carry = text[whole:]
        if whole:
            self._decode(text[:whole])

    def _decode(self, text: str) -> None:
        if self.padded:
            raise self._invalid()
        try:
            data = binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise self._invalid() from None
        self.padded = text.endswith("=")
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(f"the edXML exceeds {self.limit} bytes", limit=self.limit)
        if self.writer is None and len(self.memory) + len(data) > self.threshold:
            self.writer = self.blobs.writer()
            self.writer.write(bytes(self.memory))
            self.memory = bytearray()
        if self.writer is not None:
            self.writer.write(data)
        else:
            self.memory += data

    def _invalid(self) -> EnvelopeError:
        return EnvelopeError(self.path, "not valid base64")

    def finish(self) -> Payload:
        if self.carry:
            raise self._invalid()
        if self.writer is None:
            return Payload.of(bytes(self.memory), "application/xml")
        ref, size, sha256 = self.writer.commit()
        return self.blobs.payload(ref, size, sha256, "application/xml")

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


class CallReader:
    """One request envelope, ``feed`` block by block then ``finish`` → ``Call``; ``abort``
    drops a half-decoded document. ``limits`` maps an operation's ``size`` to the bytes of
    the document it carries (its envelope may be that, base64-encoded, plus
    :data:`CALL_MAX_BYTES`; a call that carries none, :data:`CALL_MAX_BYTES` at most, as any
    envelope before its operation). Refused (413) as soon as it passes one. Not thread-safe:
    one reader per request, fed in turn."""

    def __init__(self, blobs: BlobStore, threshold: int, limits: Mapping[str, int]) -> None:
        self.blobs, self.threshold, self.limits = blobs, threshold, limits
        self.names: list[str] = []
        self.elements = self.size = 0
        self.section = ""  # "", "Header", "Body"
        self.seen_body = False
        self.call: Call | None = None
        self.argument: tuple[str, list[str] | _Decoder] | None = None  # its name and value
        self.decoder: _Decoder | None = None
        parser = self.parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text, parser.buffer_size = True, _BLOCK
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = self._hostile
        parser.ExternalEntityRefHandler = self._hostile
        parser.StartElementHandler, parser.EndElementHandler = self._start, self._end
        parser.CharacterDataHandler = self._text

    @property
    def limit(self) -> int:
        """The bytes this envelope may have, as far as it is known."""
        if self.call is None:
            return CALL_MAX_BYTES
        size = OPERATIONS[self.call.operation].size
        if size == "call":
            return min(self.limits[size], CALL_MAX_BYTES)
        return self.limits[size] * 4 // 3 + CALL_MAX_BYTES

    def feed(self, block: bytes) -> None:
        self.size += len(block)
        self._parse(block, False)
        if self.size > self.limit:
            raise PayloadTooLarge(f"body exceeds {self.limit} bytes", limit=self.limit)

    def finish(self, block: bytes = b"") -> Call:
        if block:
            self.feed(block)
        self._parse(b"", True)
        if self.call is None:
            where = "Envelope/Body" if self.seen_body else "Envelope"
            raise EnvelopeError(where, "missing" if not self.seen_body else "no operation")
        missing = sorted(OPERATIONS[self.call.operation].required - set(self.call.values))
        if missing:
            raise EnvelopeError(f"Envelope/Body/{self.call.operation}/{missing[0]}", "missing")
        if self.decoder is not None:
            self.call.document = self.decoder.finish()
        return self.call

    def abort(self) -> None:
        if self.decoder is not None:
            self.decoder.abort()

    def _parse(self, block: bytes, final: bool) -> None:
        try:
            self.parser.Parse(block, final)
        except expat.ExpatError as exc:
            raise MalformedInput(
                "XML is not well-formed", line=exc.lineno, reason=expat.ErrorString(exc.code)
            ) from None

    @staticmethod
    def _hostile(*_: Any) -> None:
        raise xmlsafe.hostile()

    def _path(self, local: str | None = None) -> str:
        return "/".join([*self.names, local] if local else self.names)

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        namespace, _, local = name.rpartition(" ")
        self.elements += 1
        if namespace == XINCLUDE_NS:
            raise HostileInput("XInclude is refused", reason="xinclude", path=self._path(local))
        if len(self.names) >= MAX_DEPTH:
            raise EnvelopeError(self._path(local), f"elements nested deeper than {MAX_DEPTH}")
        if self.elements > MAX_ELEMENTS:
            raise EnvelopeError(self._path(local), f"more than {MAX_ELEMENTS} elements")
        depth = len(self.names)
        if depth == 0:
            self._envelope(namespace, local)
        elif depth == 1:
            self._section(namespace, local)
        elif depth == 2 and self.section == "Header":
            if attributes.get(_MUST_UNDERSTAND, "").strip() in ("1", "true"):
                raise EnvelopeError(
                    self._path(local), "a header this service does not understand", "MustUnderstand"
                )
        elif depth == 2:  # in the Body
            self._operation(namespace, local)
        elif depth == 3 and self.section == "Body":
            self._argument(namespace, local)
        elif self.section == "Body":
            raise EnvelopeError(self._path(local), "an element inside a value")
        self.names.append(local)

    def _envelope(self, namespace: str, local: str) -> None:
        if (namespace, local) == (SOAP_ENV, "Envelope"):
            return
        if local == "Envelope" and namespace == SOAP12_ENV:
            raise EnvelopeError(
                "Envelope", "a SOAP 1.2 envelope: this service speaks SOAP 1.1", "VersionMismatch"
            )
        shown = f"{{{namespace}}}{local}" if namespace else local
        raise EnvelopeError("/", f"the root element is {shown}, not a SOAP 1.1 Envelope")

    def _section(self, namespace: str, local: str) -> None:
        path = self._path(local)
        if namespace != SOAP_ENV or local not in ("Header", "Body"):
            raise EnvelopeError(path, "not an element of a SOAP Envelope")
        if self.seen_body or (local == "Header" and self.section == "Header"):
            raise EnvelopeError(path, "out of place: Envelope holds one Header, then one Body")
        self.section = local
        self.seen_body = local == "Body"

    def _operation(self, namespace: str, local: str) -> None:
        path = self._path(local)
        if self.call is not None:
            raise EnvelopeError(path, "one operation per request")
        if namespace != TNS or local not in OPERATIONS:
            shown = f"{{{namespace}}}{local}" if namespace else local
            raise EnvelopeError(path, f"unknown operation {shown}")
        if self.parser.CurrentByteIndex > CALL_MAX_BYTES:
            raise PayloadTooLarge(
                f"more than {CALL_MAX_BYTES} bytes before the operation", limit=CALL_MAX_BYTES
            )
        self.call = Call(local)

    def _argument(self, namespace: str, local: str) -> None:
        assert self.call is not None
        path = self._path(local)
        kind = OPERATIONS[self.call.operation].arguments.get(local)
        if namespace not in (TNS, "") or kind is None:
            raise EnvelopeError(path, f"{self.call.operation} takes no such argument")
        if local in self.call.values and kind != "list":
            raise EnvelopeError(path, "given more than once")
        self.call.values.setdefault(local, [])  # a base64 value is decoded, not kept
        if kind == "base64":
            limit = self.limits[OPERATIONS[self.call.operation].size]
            self.decoder = _Decoder(self.blobs, self.threshold, limit, path)
            self.argument = (local, self.decoder)
        else:
            self.argument = (local, [])

    def _end(self, _name: str) -> None:
        self.names.pop()
        if len(self.names) == 3 and self.argument is not None and self.section == "Body":
            local, value = self.argument
            self.argument = None
            if isinstance(value, list):
                assert self.call is not None
                self.call.values[local].append("".join(value).strip())

    def _text(self, text: str) -> None:
        if self.argument is not None and len(self.names) == 4:
            _, value = self.argument
            if isinstance(value, _Decoder):
                value.add(text)
                return
            value.append(text)
            if sum(map(len, value)) > MAX_VALUE_CHARS:
                raise EnvelopeError(self._path(), f"longer than {MAX_VALUE_CHARS} characters")
        elif text.strip() and self.names[1:2] != ["Header"]:
            raise EnvelopeError(self._path(), "text where an element belongs")


# -- writing --------------------------------------------------------------------------------------
Spec = tuple[tuple[str, "Spec | None"], ...]  # (element, spec of its children or None)


def fields(*names: str) -> Spec:
    """A spec of simple elements."""
    return tuple((name, None) for name in names)


def _key(element: str) -> str:
    """The hub's key for an element: ``receivedAt`` → ``received_at``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), element)


def _fill(parent: etree._Element, spec: Spec, values: Mapping[str, Any]) -> None:
    """Children of ``parent`` in ``spec``'s order (an XSD sequence), each from the value under
    its snake_case key: None is left out, a list repeats the element, a mapping is filled by
    the element's own spec."""
    for element, inner in spec:
        value = values.get(_key(element))
        for one in value if isinstance(value, list) else [value]:
            if one is None:
                continue
            child = etree.SubElement(parent, f"{{{TNS}}}{element}")
            if inner is not None:
                _fill(child, inner, one)
            elif isinstance(one, bool):
                child.text = "true" if one else "false"
            else:
                child.text = _NOT_XML.sub("\ufffd", str(one))


def _envelope() -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "q": TNS})
    return envelope, etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body")


def _bytes(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def answer(operation: str, spec: Spec, values: Mapping[str, Any]) -> bytes:
    """``<operation>Response`` filled from ``values`` by ``spec``, in an envelope."""
    envelope, body = _envelope()
    _fill(etree.SubElement(body, f"{{{TNS}}}{operation}Response"), spec, values)
    return _bytes(envelope)


def answer_around(
    operation: str, spec: Spec, values: Mapping[str, Any], last: str, content: Payload
) -> tuple[int, Iterator[bytes]]:
    """``answer`` whose ``last`` element (base64Binary) is ``content``, encoded as it is
    read: the envelope's length (known in advance) and its pieces."""
    marker = "\ue000base64\ue000"
    envelope, body = _envelope()
    response = etree.SubElement(body, f"{{{TNS}}}{operation}Response")
    _fill(response, spec, values)
    etree.SubElement(response, f"{{{TNS}}}{last}").text = marker
    head, tail = _bytes(envelope).split(marker.encode("utf-8"))
    encoded = (content.size + 2) // 3 * 4

    def pieces() -> Iterator[bytes]:
        yield head
        rest = b""
        for chunk in content.chunks(3 * 256 * 1024):
            chunk = rest + chunk
            whole = len(chunk) - len(chunk) % 3
            rest = chunk[whole:]
            yield binascii.b2a_base64(chunk[:whole], newline=False)
        if rest:
            yield binascii.b2a_base64(rest, newline=False)
        yield tail

    return len(head) + encoded + len(tail), pieces()


FAULT: Spec = (
    *fields("code", "message"),
    ("errors", fields("path", "message")),
    ("details", fields("name", "value")),
)


def fault(exc: HubError, faultcode: str) -> bytes:
    """A SOAP 1.1 Fault: ``faultcode`` (``soap:Client`` …), ``faultstring`` the hub's message,
    ``detail/q:HubFault`` the structured error: ``code``, ``message``, each of
    ``details.errors`` as ``errors{path, message}``, any other detail as ``details{name,
    value}`` (JSON text when not a string)."""
    envelope, body = _envelope()
    node = etree.SubElement(body, f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(node, "faultcode").text = f"soap:{faultcode}"
    etree.SubElement(node, "faultstring").text = exc.message
    errors = exc.details.get("errors")
    errors = errors if isinstance(errors, list) else []
    others = [
        {"name": k, "value": v if isinstance(v, str) else json.dumps(v, default=str)}
        for k, v in exc.details.items()
        if not (k == "errors" and errors)
    ]
    shown = {
        "code": exc.code,
        "message": exc.message,
        "errors": [
            {"path": str(e.get("path", "")), "message": str(e.get("message", ""))}
            for e in errors
            if isinstance(e, Mapping)
        ],
        "details": others,
    }
    detail = etree.SubElement(node, "detail")
    _fill(etree.SubElement(detail, f"{{{TNS}}}HubFault"), FAULT, shown)
    return _bytes(envelope)
