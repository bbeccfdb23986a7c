"""A provincial SOAP 1.1 service (document/literal): the target of the ``soap`` connector.

Contract (see ``citizen_lookup.wsdl`` beside this file):

* ``GET <any path>?wsdl`` answers the WSDL with its ``soap:address`` rewritten to
  :attr:`SoapService.endpoint` (``<url>/citizen``), so ``zeep.Client(service.wsdl_url)`` works.
* ``POST`` a SOAP 1.1 envelope to any path. Dispatch is by the Body's first element (not by the
  ``SOAPAction`` header):

  - ``ReceiveMessage(MessageId, Sender?, Payload)`` → ``AckCode "00"``, ``Duplicate``,
    ``ReceivedAt``; idempotent on ``MessageId`` (recorded with it as the idempotency key).
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
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

from lxml import etree

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

TNS = "urn:lgsp-hub:sandbox:citizen:1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSDL_PLACEHOLDER_ADDRESS = "http://sandbox.invalid/citizen"
WSDL_PATH = files("sandbox").joinpath("citizen_lookup.wsdl")
XML_CONTENT_TYPE = "text/xml; charset=utf-8"

CITIZENS: dict[str, dict[str, str]] = {  # fictitious people
    "001090000001": {"FullName": "Nguyễn Văn An", "BirthDate": "1990-01-15",
                     "Gender": "male", "Province": "Tây Ninh"},
    "079185000002": {"FullName": "Trần Thị Bình", "BirthDate": "1985-07-02",
                     "Gender": "female", "Province": "Hồ Chí Minh"},
}


class SoapClientFault(Exception):
    """The request is wrong: answered as a ``soap:Client`` fault."""


def soap_fault(code: str, message: str) -> SandboxResponse:
    """A SOAP 1.1 fault (``code`` is ``Client``, ``Server`` …), always HTTP 500."""
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    fault = etree.SubElement(etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body"),
                             f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = f"soap:{code}"
    etree.SubElement(fault, "faultstring").text = message
    return SandboxResponse(500, _serialize(envelope), XML_CONTENT_TYPE)


def parse_safely(body: bytes) -> etree._Element:
    """Parse untrusted XML: no entities, no network, no DTD; a DOCTYPE is refused outright."""
    if b"<!DOCTYPE" in body:
        raise SoapClientFault("DOCTYPE is not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)  # one per call: lxml parsers are not thread-safe
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
        return WSDL_PATH.read_text(encoding="utf-8").replace(WSDL_PLACEHOLDER_ADDRESS,
                                                             self.endpoint)

    def add_citizen(self, id_number: str, **fields: str) -> None:
        self.citizens[id_number] = fields

    # --- protocol ----------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.method in ("GET", "HEAD"):
            if "wsdl" in request.query.lower().split("&"):
                return SandboxResponse(200, self.wsdl_text().encode(), XML_CONTENT_TYPE)
            return SandboxResponse(200, b"SOAP endpoint; GET ?wsdl for the contract\n",
                                   "text/plain; charset=utf-8")
        if request.method != "POST":
            return SandboxResponse(405, b"", "text/plain", {"Allow": "GET, HEAD, POST"})
        try:
            operation, args = self._read_call(request.body)
            if operation == "ReceiveMessage":
                return self._receive_message(request, args)
            return self._lookup_citizen(request, args)
        except SoapClientFault as exc:
            return soap_fault("Client", str(exc))

    def fault_response(self, status: int) -> SandboxResponse:
        if status == 500:
            return soap_fault("Server", "injected fault: service temporarily unavailable")
        return SandboxResponse(status, f"injected fault: HTTP {status}\n".encode(),
                               "text/plain; charset=utf-8")

    def _read_call(self, body: bytes) -> tuple[str, dict[str, str]]:
        root = parse_safely(body)
        if root.tag == f"{{{SOAP12_ENV}}}Envelope":
            raise SoapClientFault("SOAP 1.2 is not supported by this service; use SOAP 1.1")
        if root.tag != f"{{{SOAP_ENV}}}Envelope":
            raise SoapClientFault("not a SOAP 1.1 envelope")
        body_el = root.find(f"{{{SOAP_ENV}}}Body")
        call = None if body_el is None else next(iter(body_el.iterchildren(etree.Element)), None)
        if call is None:
            raise SoapClientFault("empty SOAP Body")
        qname = etree.QName(call)
        if qname.namespace != TNS or qname.localname not in ("ReceiveMessage", "LookupCitizen"):
            raise SoapClientFault(f"unknown operation {qname.text}")
        args = {etree.QName(child).localname: child.text or ""
                for child in call.iterchildren(etree.Element)}
        return qname.localname, args

    def _receive_message(self, request: SandboxRequest, args: dict[str, str]) -> SandboxResponse:
        if not args.get("MessageId") or "Payload" not in args:
            raise SoapClientFault("ReceiveMessage needs MessageId and Payload")
        rec = self.record(request, idempotency_key=args["MessageId"],
                          operation="ReceiveMessage", arguments=args)
        return self._answer("ReceiveMessageResponse", [
            ("AckCode", "00"), ("Duplicate", "true" if rec.duplicate else "false"),
            ("ReceivedAt", datetime.now(UTC).isoformat(timespec="seconds"))])

    def _lookup_citizen(self, request: SandboxRequest, args: dict[str, str]) -> SandboxResponse:
        id_number = args.get("IdNumber", "")
        if not re.fullmatch(r"[0-9]{12}", id_number):
            raise SoapClientFault("IdNumber must be 12 digits")
        if not args.get("Purpose", "").strip():
            raise SoapClientFault("a lookup of personal data needs a Purpose")
        self.record(request, operation="LookupCitizen", arguments=args)
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


def _wrap(payload: etree._Element) -> etree._Element:
    envelope = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV})
    etree.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    return envelope


def _serialize(envelope: etree._Element) -> bytes:
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
