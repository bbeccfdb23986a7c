"""A provincial SOAP 1.1 service (document/literal): the target of the ``soap`` connector.

Contract (see ``citizen_lookup.wsdl`` beside this file):

* ``GET <any path>?wsdl`` answers the WSDL with its ``soap:address`` rewritten to
  :attr:`SoapService.endpoint` (``<url>/citizen``), so ``zeep.Client(service.wsdl_url)`` works.
* ``POST`` a SOAP 1.1 envelope to any path. Dispatch is by the Body's first element (not by the
  ``SOAPAction`` header):

  - ``ReceiveMessage(MessageId, Sender?, Payload)`` → ``AckCode "00"``, ``Duplicate``,
    ``ReceivedAt``; idempotent on ``MessageId`` (recorded with it as the idempotency key).
  - ``ReceiveFile(MessageId, FileName?, Content)`` (``Content`` is ``xsd:base64Binary``) → the
    same answer, for binary documents.
  - ``LookupCitizen(IdNumber, Purpose, OfficerId?)`` → ``Found`` and, if found, ``Citizen``
    (fictitious records in :data:`CITIZENS`; add more with :meth:`SoapService.add_citizen`).
    An ID that is not 12 digits, or an empty purpose, is a ``soap:Client`` fault.

* Every SOAP fault is answered with HTTP 500, as SOAP 1.1 §6.2 requires: ``soap:Client`` for a
  request the caller must fix (malformed XML, a DOCTYPE, unknown operation, invalid arguments),
  ``soap:Server`` for injected failures (``fail_status`` defaults to 500 here). An injected
  ``fail_status`` other than 500 is answered as a plain-text error with that status, as a
  gateway in front of the service would.
* Incoming XML is parsed with ``resolve_entities=False, no_network=True, load_dtd=False`` and any
  document carrying a DOCTYPE is refused, so the sandbox is not an XXE target either.
* Large envelopes (over ``keep_body_bytes``) are parsed from the spooled body with expat, so a
  200 MB argument is taken at flat memory. Every recorded call carries
  ``argument_digests[name] = (size, sha256)`` of each argument's UTF-8 text; ``arguments``
  keeps the text of those up to ``keep_body_bytes``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from xml.parsers import expat

from lxml import etree

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

TNS = "urn:lgsp-hub:sandbox:citizen:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSDL_PLACEHOLDER_ADDRESS = "http://sandbox.invalid/citizen"
WSDL_PATH = files("sandbox").joinpath("citizen_lookup.wsdl")
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
OPERATIONS = ("ReceiveMessage", "ReceiveFile", "LookupCitizen")

CITIZENS: dict[str, dict[str, str]] = {  # fictitious people
    "001090000001": {
        "FullName": "Nguyễn Văn An",
        "BirthDate": "1990-01-15",
        "Gender": "male",
        "Province": "Tây Ninh",
    },
    "079185000002": {
        "FullName": "Trần Thị Bình",
        "BirthDate": "1985-07-02",
        "Gender": "female",
        "Province": "Hồ Chí Minh",
    },
}


class SoapClientFault(Exception):
    """The request is wrong: answered as a ``soap:Client`` fault."""


def soap_fault(code: str, message: str) -> SandboxResponse:
    """A SOAP 1.1 fault (``code`` is ``Client``, ``Server`` …), always HTTP 500."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(
        etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault"
    )
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    return SandboxResponse(500, _serialize(envelope), XML_CONTENT_TYPE)


def parse_safely(body: bytes) -> etree._Element:
    """Parse untrusted XML: no entities, no network, no DTD; a DOCTYPE is refused outright."""
    if b"<!DOCTYPE" in body:
        raise SoapClientFault("DOCTYPE is not allowed")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )  # one per call: lxml parsers are not thread-safe
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise SoapClientFault(f"malformed XML: {exc}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise SoapClientFault("DOCTYPE is not allowed")
    return root


class SoapService(SandboxServer):
    kind = "soap-service"
    default_fail_status = 500  # an injected failure is a soap:Server fault unless told otherwise
    spool_bodies = True  # a large envelope must still be parsed
    endpoint_path = "/citizen"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self.citizens = {k: dict(v) for k, v in CITIZENS.items()}

    @property
    def endpoint(self) -> str:
        """Where SOAP envelopes are posted (the rewritten ``soap:address``)."""
        return self.url + self.endpoint_path

    @property
    def wsdl_url(self) -> str:
        return self.endpoint + "?wsdl"

    def wsdl_text(self) -> str:
        """The WSDL as served: the placeholder address replaced by :attr:`endpoint`."""
        return WSDL_PATH.read_text(encoding="utf-8").replace(
            WSDL_PLACEHOLDER_ADDRESS, self.endpoint
        )

    def add_citizen(self, id_number: str, **fields: str) -> None:
        self.citizens[id_number] = fields

    # --- protocol ----------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.method in ("GET", "HEAD"):
            if "wsdl" in request.query.lower().split("&"):
                return SandboxResponse(200, self.wsdl_text().encode(), XML_CONTENT_TYPE)
            return SandboxResponse(
                200, b"SOAP endpoint; GET ?wsdl for the contract\n", "text/plain; charset=utf-8"
            )
        if request.method != "POST":
            return SandboxResponse(405, b"", "text/plain", {"Allow": "GET, HEAD, POST"})
        try:
            if request.body_file is not None:
                call = self._read_large_call(request.body_file)
            else:
                call = self._read_call(request.body)
            if call.operation == "LookupCitizen":
                return self._lookup_citizen(request, call)
            return self._receive(request, call)
        except SoapClientFault as exc:
            return soap_fault("Client", str(exc))

    def fault_response(self, status: int) -> SandboxResponse:
        if status == 500:
            return soap_fault("Server", "injected fault: service temporarily unavailable")
        return SandboxResponse(
            status, f"injected fault: HTTP {status}\n".encode(), "text/plain; charset=utf-8"
        )

    def _read_call(self, body: bytes) -> Call:
        root = parse_safely(body)
        if root.tag == f"{{{SOAP12_ENV}}}Envelope":
            raise SoapClientFault("SOAP 1.2 is not supported by this service; use SOAP 1.1")
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            raise SoapClientFault("not a SOAP 1.1 envelope")
        body_el = root.find(f"{{{SOAP_ENV}}}Body")
        element = None if body_el is None else next(iter(body_el.iterchildren(etree.Element)), None)
        if element is None:
            raise SoapClientFault("empty SOAP Body")
        call = Call(_operation(etree.QName(element).namespace, etree.QName(element).localname))
        for child in element.iterchildren(etree.Element):
            call.add(etree.QName(child).localname, child.text or "", self.keep_body_bytes)
        return call

    def _read_large_call(self, path: str) -> Call:
        """The same as :meth:`_read_call` for a spooled body, with expat, at flat memory: each
        argument's text is hashed as it streams and kept only up to ``keep_body_bytes``."""
        return _StreamedCall(self.keep_body_bytes).parse(path)

    def _receive(self, request: SandboxRequest, call: Call) -> SandboxResponse:
        content = "Payload" if call.operation == "ReceiveMessage" else "Content"
        if not call.arguments.get("MessageId") or content not in call.argument_digests:
            raise SoapClientFault(f"{call.operation} needs MessageId and {content}")
        rec = self.record(
            request,
            idempotency_key=call.arguments["MessageId"],
            operation=call.operation,
            arguments=call.arguments,
            argument_digests=call.argument_digests,
        )
        return self._answer(
            f"{call.operation}Response",
            [
                ("AckCode", "00"),
                ("Duplicate", "true" if rec.duplicate else "false"),
                ("ReceivedAt", datetime.now(UTC).isoformat(timespec="seconds")),
            ],
        )

    def _lookup_citizen(self, request: SandboxRequest, call: Call) -> SandboxResponse:
        args = call.arguments
        id_number = args.get("IdNumber", "")
        if not re.fullmatch(r"[0-9]{12}", id_number):
            raise SoapClientFault("IdNumber must be 12 digits")
        if not args.get("Purpose", "").strip():
            raise SoapClientFault("a lookup of personal data needs a Purpose")
        self.record(
            request,
            operation="LookupCitizen",
            arguments=args,
            argument_digests=call.argument_digests,
        )
        citizen = self.citizens.get(id_number)
        response = etree.Element(f"{{{TNS}}}LookupCitizenResponse", nsmap={"c": TNS})
        etree.SubElement(response, f"{{{TNS}}}Found").text = "true" if citizen else "false"
        if citizen:
            el = etree.SubElement(response, f"{{{TNS}}}Citizen")
            for name, value in [("IdNumber", id_number), *citizen.items()]:
                etree.SubElement(el, f"{{{TNS}}}{name}").text = value
        return SandboxResponse(200, _serialize(_wrap(response)), XML_CONTENT_TYPE)

    def _answer(self, element: str, fields: list[tuple[str, str]]) -> SandboxResponse:
        response = etree.Element(f"{{{TNS}}}{element}", nsmap={"c": TNS})
        for name, value in fields:
            etree.SubElement(response, f"{{{TNS}}}{name}").text = value
        return SandboxResponse(200, _serialize(_wrap(response)), XML_CONTENT_TYPE)


class Call:
    """One parsed operation call: its arguments' text (those up to the keep limit) and the
    ``(size, sha256)`` of every argument's UTF-8 text."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.arguments: dict[str, str] = {}
        self.argument_digests: dict[str, tuple[int, str]] = {}

    def add(self, name: str, text: str, keep: int) -> None:
        data = text.encode("utf-8")
        self.argument_digests[name] = (len(data), hashlib.sha256(data).hexdigest())
        if len(data) <= keep:
            self.arguments[name] = text


def _operation(namespace: str | None, localname: str) -> str:
    if namespace != TNS or localname not in OPERATIONS:
        raise SoapClientFault(
            f"unknown operation {{{namespace}}}{localname}"
            if namespace
            else f"unknown operation {localname}"
        )
    return localname


class _StreamedCall:
    """An expat pass over a spooled SOAP 1.1 envelope: Envelope/Body/<operation>/<argument>."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.call: Call | None = None
        self.depth = 0
        self.in_body = False
        self.argument: tuple[str, Any, list[str], int] | None = None  # name, hash, kept, size

    def parse(self, path: str) -> Call:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.buffer_text, parser.buffer_size = True, 1024 * 1024
        parser.StartDoctypeDeclHandler = parser.EntityDeclHandler = self._doctype
        parser.StartElementHandler, parser.EndElementHandler = self._start, self._end
        parser.CharacterDataHandler = self._text
        try:
            with open(path, "rb") as fh:
                parser.ParseFile(fh)
        except expat.ExpatError as exc:
            raise SoapClientFault(f"malformed XML: {exc}") from None
        if self.call is None:
            raise SoapClientFault("empty SOAP Body")
        return self.call

    def _doctype(self, *_: Any) -> None:
        raise SoapClientFault("DOCTYPE is not allowed")

    def _start(self, name: str, _attrs: Any) -> None:
        self.depth += 1
        namespace, _, local = name.rpartition(" ")
        if self.depth == 1 and (namespace, local) != (SOAP_ENV, "Envelope"):
            raise SoapClientFault(
                "SOAP 1.2 is not supported by this service; use SOAP 1.1"
                if namespace == SOAP12_ENV
                else "not a SOAP 1.1 envelope"
            )
        if self.depth == 3 and self.in_body and self.call is None:
            self.call = Call(_operation(namespace or None, local))
        elif self.depth == 4 and self.call is not None and self.argument is None:
            self.argument = (local, hashlib.sha256(), [], 0)
        if self.depth == 2:
            self.in_body = (namespace, local) == (SOAP_ENV, "Body")

    def _end(self, _name: str) -> None:
        if self.depth == 4 and self.argument is not None and self.call is not None:
            name, digest, kept, size = self.argument
            self.call.argument_digests[name] = (size, digest.hexdigest())
            if size <= self.keep:
                self.call.arguments[name] = "".join(kept)
        if self.depth <= 4:
            self.argument = None
        self.depth -= 1

    def _text(self, text: str) -> None:
        if self.argument is None or self.depth != 4:
            return
        name, digest, kept, size = self.argument
        data = text.encode("utf-8")
        digest.update(data)
        size += len(data)
        if size <= self.keep:
            kept.append(text)
        else:
            kept.clear()
        self.argument = (name, digest, kept, size)


def _wrap(payload: etree._Element) -> etree._Element:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return envelope


def _serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
