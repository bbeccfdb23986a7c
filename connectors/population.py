"""Population connector: citizen verification against the national population database (Cơ sở
dữ liệu quốc gia về dân cư) through NDXP — one normalised JSON answer whichever form the
partner speaks, so a caller never parses SOAP.

Operations (REFERENCE.md; the XSDs of ``samples/population-db-mock`` give the SOAP shapes):

* ``XacMinhThongTinNhanThan`` (verification): ``MaYeuCau, MaDVC, MaTichHop, MaDonVi, MaCanBo,
  SoDinhDanh, SoCMND, HoVaTen, NgayThangNamSinh`` → ``CongdanCollection/CongDan``
  (``http://www.mic.gov.vn/dancu/1.0``) → ``{"CongDan": [{SoDinhDanh, SoCMND, HoVaTen: {Ho,
  ChuDem, Ten}, NgayThangNamSinh: {…}, Cha: {…}, Me: {…}, …}]}`` — every element the answer
  holds (``GioiTinh``, ``ThuongTru`` …, addresses with their codes and names), by local name,
  a repeated element as a list; an empty collection → ``{"CongDan": []}``.
* ``XacThucThongTinCongDan`` (existence check): ``MaYeuCau, MaDichVu, MaCanBo, SoDinhDanh,
  SoCMND, HoVaTen`` → ``KetQuaXacThucResponse/TonTai`` → ``{"TonTai": true|false}``.

Forms (``form``): ``soap`` — a SOAP 1.1 request (``qldc:`` ``http://gtel.vn/qldc`` for the
verification, ``dan:`` ``http://dancuquocgia.bca`` for the check, as the XSDs declare), answered
in SOAP; ``json`` — the provincial platform's form, ``{HoVaTen, SoDinhDanh, SoCMND,
NgayThangNam, Nam, MaTichHop, MaDVC, MaCanBo, MaYeuCau}`` (the birth date split, no
``MaDonVi``; ``LoaiTaiKhoan``/``MaSoThue``/``ThuDienTu`` accepted), answered ``{error_code,
message}`` where ``message`` is the answer's XML as a string. Both are posted to
``{url}/{context}/{version}/{resources[operation]}`` with an NDXP token
(:mod:`connectors.ndxp`); an answer wrapped in the gateway's ``{code, status, correlationId,
response}`` envelope is unwrapped, and the gateway's own errors come in it.

The message body (what the hub's callers send)::

    {"operation": "XacMinhThongTinNhanThan",     # default: the instance's operation
     "SoDinhDanh": "012345678901", "SoCMND": "", "HoVaTen": "Nguyễn Văn An",
     "NgayThangNamSinh": "19850312",             # or "12/03/1985"; verification only
     "MaCanBo": "cb-0042",                       # default: the x-lgsp-officer header
     "MaYeuCau": "…"}                            # default: the message id

``MaDVC``, ``MaTichHop``, ``MaDonVi``, ``MaDichVu`` come from the configuration. The officer is
mandatory: a lookup without one is refused (``LocalDeliveryError``) before anything is sent
(Decree 13/2023, Law 91/2025). ``details["result"]`` is ``found``/``not_found`` for the
personal-data access log.

Errors: a SOAP fault ``Client`` and a refusing ``error_code`` → permanent (``remote_status``
``fault:Client``/``error_code:<code>``); a fault ``Server``, a ``transient_codes`` code, HTTP
5xx/429, timeouts → transient; the gateway's envelope and tokens as in :mod:`connectors.ndxp`.
Personal data never reaches an error, ``remote_status``, ``details`` or a check result: this
request's ID numbers and name are hidden and any 9-12 digit run keeps its last 3 digits.

Not public, so configurable (defaults match ``sandbox.population``): the resources (default:
the operation names), the JSON form's success codes (``success_codes``, default ``0``, ``00``,
``200``), the date formats (``birth_date_format`` for SOAP, default ``%Y%m%d``;
``day_month_format`` for JSON's ``NgayThangNam``, default ``%d/%m``, and ``Nam`` ``yyyy``), the
``SOAPAction`` (default empty), how "not found" is said (an empty ``CongdanCollection``: the
sample XSD's ``minOccurs=1`` cannot say it) and the JSON form of the existence check (the SOAP
fields as JSON, ``message`` the ``KetQuaXacThucResponse`` XML).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import requests
from lxml import etree

from connectors.http import status_error
from connectors.ndxp import (
    GATEWAY_PROPERTIES,
    SEGMENT_SCHEMA,
    GatewayConnector,
    masked,
    parse_envelope,
    read_json,
)
from connectors.oauth2 import OAUTH2_SECRET_RULE
from hub.connector import DeliveryResult, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = ["EXISTS", "OFFICER_HEADER", "VERIFY", "PopulationConnector", "normalise_answer"]

VERIFY = "XacMinhThongTinNhanThan"
EXISTS = "XacThucThongTinCongDan"
OFFICER_HEADER = "x-lgsp-officer"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
REQUEST_NS = {VERIFY: "http://gtel.vn/qldc", EXISTS: "http://dancuquocgia.bca"}
SOAP_FIELDS = {
    VERIFY: (
        "MaYeuCau",
        "MaDVC",
        "MaTichHop",
        "MaDonVi",
        "MaCanBo",
        "SoDinhDanh",
        "SoCMND",
        "HoVaTen",
        "NgayThangNamSinh",
    ),
    EXISTS: ("MaYeuCau", "MaDichVu", "MaCanBo", "SoDinhDanh", "SoCMND", "HoVaTen"),
}
# What a caller may send, per operation and form; the rest comes from the configuration.
CALLER_FIELDS = {"operation", "SoDinhDanh", "SoCMND", "HoVaTen", "MaCanBo", "MaYeuCau"}
VERIFY_ONLY = {"NgayThangNamSinh"}
JSON_ONLY = {"LoaiTaiKhoan", "MaSoThue", "ThuDienTu"}
PERSONAL = ("SoDinhDanh", "SoCMND", "HoVaTen", "MaSoThue", "ThuDienTu")
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, remove_comments=True
)
_TEXT = {"type": "string", "minLength": 1, "maxLength": 100}


class PopulationConnector(GatewayConnector):
    """Verification and existence checks against the population database, SOAP or JSON."""

    type_name = "population"
    config_schema = {
        "type": "object",
        "required": ["url", "context", "version", "consumer_key", "form", "MaDVC", "MaTichHop"],
        "additionalProperties": False,
        "properties": {
            **GATEWAY_PROPERTIES,
            "form": {"enum": ["soap", "json"]},
            "operation": {"enum": [VERIFY, EXISTS], "default": VERIFY},
            "resources": {
                "type": "object",
                "additionalProperties": False,
                "properties": {VERIFY: SEGMENT_SCHEMA, EXISTS: SEGMENT_SCHEMA},
                "description": "resource per operation; default the operation's name",
            },
            "MaDVC": {**_TEXT, "description": "the public service the lookups serve"},
            "MaTichHop": {**_TEXT, "description": "the integration code NDXP issued"},
            "MaDonVi": {**_TEXT, "description": "the agency's code (SOAP verification)"},
            "MaDichVu": {**_TEXT, "description": "the service code of the existence check"},
            "soap_action": {"type": "string", "maxLength": 200, "default": ""},
            "birth_date_format": {"type": "string", "minLength": 2, "default": "%Y%m%d"},
            "day_month_format": {"type": "string", "minLength": 2, "default": "%d/%m"},
        },
        "allOf": [OAUTH2_SECRET_RULE],
    }

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        request = read_json(message, self.name)
        if not isinstance(request, dict):
            raise LocalDeliveryError(f"{self.name}: the request must be a JSON object")
        personal = [str(request.get(k) or "") for k in PERSONAL]
        try:
            operation, fields = self._fields(message, request)
            form = self.config["form"]
            body, content_type = (
                (self._soap_request(operation, fields), "text/xml; charset=utf-8")
                if form == "soap"
                else (self._json_request(operation, fields), "application/json")
            )
        except DeliveryError as exc:
            raise masked(exc, personal) from None
        resource = self.config.get("resources", {}).get(operation, operation)
        headers = (
            {"SOAPAction": f'"{self.config.get("soap_action", "")}"'} if form == "soap" else {}
        )
        response, answer = self.post(
            message, self.service_url(resource), body, content_type, timeout, personal, headers
        )
        try:
            status, element = (
                self._soap_answer(response, answer, personal)
                if form == "soap"
                else self._json_answer(response, answer, personal)
            )
            result = normalise_answer(element)
        except DeliveryError as exc:
            raise masked(exc, personal) from None
        found = result["TonTai"] if "TonTai" in result else bool(result["CongDan"])
        details = {"result": "found" if found else "not_found", "operation": operation}
        return DeliveryResult(
            remote_status=status,
            response=json.dumps(result, ensure_ascii=False).encode(),
            content_type="application/json",
            details=details,
        )

    # --- the request ------------------------------------------------------------------------
    def _fields(self, message: OutboundMessage, request: Mapping[str, Any]) -> tuple[str, dict]:
        """The operation and its fields, checked before anything is sent."""
        operation = request.get("operation") or self.config.get("operation", VERIFY)
        if operation not in (VERIFY, EXISTS):
            raise LocalDeliveryError(f"{self.name}: no operation {str(operation)[:40]!r}")
        allowed = CALLER_FIELDS | (VERIFY_ONLY if operation == VERIFY else set())
        if self.config["form"] == "json" and operation == VERIFY:
            allowed |= JSON_ONLY
        unknown = sorted(set(request) - allowed)
        if unknown:
            raise LocalDeliveryError(
                f"{self.name}: {operation} ({self.config['form']}) does not take {unknown}"
            )
        fields = {k: "" if v is None else str(v).strip() for k, v in request.items()}
        fields.pop("operation", None)
        officer = fields.get("MaCanBo") or _header(message.headers, OFFICER_HEADER).strip()
        if not officer:
            raise LocalDeliveryError(
                f"{self.name}: a population lookup needs the officer (MaCanBo in the body or the "
                f"{OFFICER_HEADER} header): refused, nothing was sent",
                reason="no_officer",
            )
        fields["MaCanBo"] = officer
        fields.setdefault("MaYeuCau", "")
        fields["MaYeuCau"] = fields["MaYeuCau"] or message.id
        if not re.fullmatch(r"\d{12}", fields.get("SoDinhDanh", "")):
            raise LocalDeliveryError(f"{self.name}: SoDinhDanh must be 12 digits")
        if fields.get("SoCMND") and not re.fullmatch(r"\d{9}|\d{12}", fields["SoCMND"]):
            raise LocalDeliveryError(f"{self.name}: SoCMND must be 9 or 12 digits")
        if not fields.get("HoVaTen"):
            raise LocalDeliveryError(f"{self.name}: HoVaTen is required")
        if operation == VERIFY:
            fields["NgayThangNamSinh"] = _birth_date(fields.get("NgayThangNamSinh", ""), self.name)
        if fields.get("LoaiTaiKhoan") not in (None, "1", "2"):
            raise LocalDeliveryError(f"{self.name}: LoaiTaiKhoan is 1 (citizen) or 2 (business)")
        if fields.get("LoaiTaiKhoan") == "2" and not fields.get("MaSoThue"):
            raise LocalDeliveryError(f"{self.name}: LoaiTaiKhoan 2 needs MaSoThue")
        return operation, fields

    def _soap_request(self, operation: str, fields: dict[str, Any]) -> bytes:
        names = ("MaDVC", "MaTichHop", "MaDonVi") if operation == VERIFY else ()
        values = {**fields, **self._configured(operation, names)}
        if operation == VERIFY:
            values["NgayThangNamSinh"] = fields["NgayThangNamSinh"].strftime(
                self.config.get("birth_date_format", "%Y%m%d")
            )
        namespace = REQUEST_NS[operation]
        envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soapenv": SOAP, "ns": namespace})
        etree.SubElement(envelope, f"{{{SOAP}}}Header")
        call = etree.SubElement(
            etree.SubElement(envelope, f"{{{SOAP}}}Body"), f"{{{namespace}}}{operation}Request"
        )
        for name in SOAP_FIELDS[operation]:
            etree.SubElement(call, f"{{{namespace}}}{name}").text = str(values.get(name, ""))
        return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")

    def _json_request(self, operation: str, fields: dict[str, Any]) -> bytes:
        if operation == EXISTS:
            names = SOAP_FIELDS[EXISTS]
            values = {**fields, **self._configured(operation, ())}
            return json.dumps({n: values.get(n, "") for n in names}, ensure_ascii=False).encode()
        born: date = fields.pop("NgayThangNamSinh")
        body = {
            "HoVaTen": fields["HoVaTen"],
            "SoDinhDanh": fields["SoDinhDanh"],
            "SoCMND": fields.get("SoCMND", ""),
            "NgayThangNam": born.strftime(self.config.get("day_month_format", "%d/%m")),
            "Nam": f"{born.year:04d}",
            **self._configured(operation, ("MaTichHop", "MaDVC")),
            "MaCanBo": fields["MaCanBo"],
            "MaYeuCau": fields["MaYeuCau"],
        }
        for name in sorted(JSON_ONLY):
            if fields.get(name):
                body[name] = int(fields[name]) if name == "LoaiTaiKhoan" else fields[name]
        return json.dumps(body, ensure_ascii=False).encode()

    def _configured(self, operation: str, names: tuple[str, ...]) -> dict[str, str]:
        """Codes from the configuration; one the operation needs but is unset is our error."""
        wanted = names + (("MaDichVu",) if operation == EXISTS else ())
        missing = [n for n in wanted if not self.config.get(n)]
        if missing:
            raise PermanentDeliveryError(
                f"{self.name}: {operation} needs {missing} in the configuration", reason="config"
            )
        return {n: self.config[n] for n in wanted}

    # --- the answer -------------------------------------------------------------------------
    def _soap_answer(
        self, response: requests.Response, answer: bytes, personal: list[str]
    ) -> tuple[str, etree._Element]:
        envelope = parse_envelope(answer)
        if envelope is not None:  # the gateway speaking, not the service
            raise self.envelope_error(response, envelope, answer, personal) or self._unexpected(
                response, "an envelope without a SOAP answer"
            )
        root = _xml(answer)
        if root is None:
            if response.status_code >= 300:
                raise status_error(response, answer, self.name, self._tokens.secrets())
            raise self._unexpected(response, "an answer that is not XML")
        body = root.find(f"{{{SOAP}}}Body") if root.tag == f"{{{SOAP}}}Envelope" else None
        content = body[0] if body is not None and len(body) else None
        if content is not None and etree.QName(content).localname == "Fault":
            raise _fault(content, self.name, response.status_code)
        if response.status_code >= 300 or content is None:
            raise status_error(response, answer, self.name, self._tokens.secrets())
        return str(response.status_code), content

    def _json_answer(
        self, response: requests.Response, answer: bytes, personal: list[str]
    ) -> tuple[str, etree._Element]:
        envelope = parse_envelope(answer)
        if envelope is not None:
            if error := self.envelope_error(response, envelope, answer, personal):
                raise error
            data = envelope.get("response")
        else:
            try:
                data = json.loads(answer)
            except (ValueError, UnicodeDecodeError):
                data = None
        if not isinstance(data, dict) or "error_code" not in data:
            if response.status_code >= 300:
                raise status_error(response, answer, self.name, self._tokens.secrets())
            raise self._unexpected(response, "an answer without error_code")
        code = str(data["error_code"])
        if code not in self._success:
            cls = TransientDeliveryError if code in self._transient else PermanentDeliveryError
            text = str(data.get("message", ""))[:200]
            raise cls(
                f"{self.name}: the population service answered error_code {code}: {text}",
                remote_status=f"error_code:{code}",
                http_status=response.status_code,
            )
        root = _xml(str(data.get("message", "")).encode())
        if root is None:
            raise self._unexpected(response, "a message that is not the answer's XML")
        return f"error_code:{code}", root

    def _unexpected(self, response: requests.Response, what: str) -> PermanentDeliveryError:
        return PermanentDeliveryError(
            f"{self.name}: HTTP {response.status_code} with {what} "
            "(check form, context and resources)",
            remote_status=str(response.status_code),
        )


def normalise_answer(element: etree._Element) -> dict[str, Any]:
    """``{"TonTai": bool}`` or ``{"CongDan": [...]}`` from the operation's answer element (or
    anything holding one), namespaces ignored; ``PermanentDeliveryError`` when it has neither."""
    found = element.xpath("descendant-or-self::*[local-name()='TonTai']")
    if found:
        text = (found[0].text or "").strip().lower()
        if text not in ("true", "1", "false", "0"):
            raise PermanentDeliveryError(
                "TonTai is neither true nor false", remote_status="invalid_answer"
            )
        return {"TonTai": text in ("true", "1")}
    collection = element.xpath("descendant-or-self::*[local-name()='CongdanCollection']")
    if not collection:
        raise PermanentDeliveryError(
            f"the answer {etree.QName(element).localname} holds neither CongdanCollection "
            "nor TonTai",
            remote_status="invalid_answer",
        )
    citizens = [c for c in collection[0] if etree.QName(c).localname == "CongDan"]
    return {"CongDan": [_value(c) for c in citizens]}


def _value(element: etree._Element) -> Any:
    """An element as JSON: its text, or its children by local name (repeated ones as a list)."""
    children = [c for c in element if isinstance(c.tag, str)]
    if not children:
        return (element.text or "").strip()
    result: dict[str, Any] = {}
    for child in children:
        name, value = etree.QName(child).localname, _value(child)
        if name in result:
            held = result[name]
            result[name] = [*held, value] if isinstance(held, list) else [held, value]
        else:
            result[name] = value
    return result


def _xml(data: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _fault(fault: etree._Element, name: str, http_status: int) -> DeliveryError:
    """SOAP 1.1 ``Client``/SOAP 1.2 ``Sender`` → permanent, anything else → transient."""
    code = fault.findtext("faultcode") or fault.findtext(f".//{{{SOAP}}}Value") or ""
    code = code.rpartition(":")[2].strip() or "Server"
    text = (fault.findtext("faultstring") or "").strip()[:200]
    cls = PermanentDeliveryError if code in ("Client", "Sender") else TransientDeliveryError
    return cls(
        f"{name}: SOAP fault {code}: {text}", remote_status=f"fault:{code}", http_status=http_status
    )


def _birth_date(text: str, name: str) -> date:
    for layout in ("%Y%m%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, layout).date()
        except ValueError:
            continue
    raise LocalDeliveryError(f"{name}: NgayThangNamSinh must be a date, yyyyMMdd or dd/MM/yyyy")


def _header(headers: Mapping[str, str], wanted: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == wanted), "")
