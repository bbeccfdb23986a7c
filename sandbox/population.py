"""The national population database as NDXP hosts it, for ``sandbox.ndxp.NdxpGateway``: a few
clearly fictitious citizens in memory, the verification ``XacMinhThongTinNhanThan`` and the
existence check ``XacThucThongTinCongDan``, in the SOAP form and the JSON form.

Shapes (REFERENCE.md and the XSDs of ``samples/population-db-mock``, the ground truth):

* SOAP 1.1. Verification request ``qldc:XacMinhThongTinNhanThanRequest`` (``http://gtel.vn/qldc``:
  ``MaYeuCau, MaDVC, MaTichHop, MaDonVi, MaCanBo, SoDinhDanh, SoCMND, HoVaTen,
  NgayThangNamSinh``) → ``dc:XacMinhThongTinNhanThanResponse/dc:CongdanCollection/dc:CongDan``
  (``http://www.mic.gov.vn/dancu/1.0``; a found answer validates against both XSDs). Existence
  check ``dan:XacThucThongTinCongDanRequest`` (``http://dancuquocgia.bca``: ``MaYeuCau,
  MaDichVu, MaCanBo, SoDinhDanh, SoCMND, HoVaTen``) → ``dan:KetQuaXacThucResponse/TonTai``.
  A refused request is a SOAP fault ``Client`` (HTTP 500, SOAP 1.1 §6.2).
* JSON (REFERENCE.md, "Population lookup as seen through a provincial platform"): POST
  ``{HoVaTen, SoDinhDanh, SoCMND, NgayThangNam, Nam, MaTichHop, MaDVC, MaCanBo, MaYeuCau}``
  (optional ``LoaiTaiKhoan``: 2 = a business, then ``MaSoThue`` is required; ``ThuDienTu``)
  → ``{error_code: 0, message: "<CongdanCollection …>"}``, the XML as a string.

Invented, because REFERENCE.md does not say (the connector makes each configurable):

* dates: SOAP ``NgayThangNamSinh`` and the answer's ``NgayThangNam`` are ``yyyyMMdd``; the JSON
  form splits the birth date into ``NgayThangNam`` ``dd/MM`` and ``Nam`` ``yyyy``;
* "not found": a ``CongdanCollection`` with ``SoCongDan="0"`` and no ``CongDan`` (what a service
  serialising an empty list writes; the hand-written XSD's ``minOccurs=1`` cannot say it);
* the JSON form of the existence check: the JSON request ``{MaYeuCau, MaDichVu, MaCanBo,
  SoDinhDanh, SoCMND, HoVaTen}`` answered ``{error_code: 0, message: "<KetQuaXacThucResponse …>"}``;
* refusals in the JSON form: ``{error_code: 400, message}``; a verification matches on
  ``SoDinhDanh`` (and ``SoCMND``, ``HoVaTen``, the birth date when given), ignoring case and
  spacing of the name; a business account (``LoaiTaiKhoan`` 2) is checked for ``MaSoThue`` and
  then looked up by its representative's ``SoDinhDanh``.

Independent of the connector on purpose (it imports nothing from the hub or the connectors).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from lxml import etree

__all__ = [
    "DC",
    "DAN",
    "QLDC",
    "SOAP",
    "Citizen",
    "Parent",
    "PopulationRegistry",
    "Refused",
    "SAMPLE_CITIZENS",
    "soap_envelope",
    "soap_fault",
]

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
DC = "http://www.mic.gov.vn/dancu/1.0"  # the answer (CongdanCollection)
QLDC = "http://gtel.vn/qldc"  # the verification request
DAN = "http://dancuquocgia.bca"  # the existence check
VERIFY = "XacMinhThongTinNhanThan"
EXISTS = "XacThucThongTinCongDan"
VERIFY_FIELDS = (
    "MaYeuCau",
    "MaDVC",
    "MaTichHop",
    "MaDonVi",
    "MaCanBo",
    "SoDinhDanh",
    "SoCMND",
    "HoVaTen",
    "NgayThangNamSinh",
)
EXISTS_FIELDS = ("MaYeuCau", "MaDichVu", "MaCanBo", "SoDinhDanh", "SoCMND", "HoVaTen")
JSON_VERIFY_FIELDS = {
    "HoVaTen",
    "SoDinhDanh",
    "SoCMND",
    "NgayThangNam",
    "Nam",
    "MaTichHop",
    "MaDVC",
    "MaCanBo",
    "MaYeuCau",
    "LoaiTaiKhoan",
    "MaSoThue",
    "ThuDienTu",
}
ICT = timezone(timedelta(hours=7))
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, remove_comments=True
)


class Refused(Exception):
    """The service refuses the request (a Client fault / ``error_code`` 400)."""


@dataclass(frozen=True)
class Parent:
    SoDinhDanh: str
    Ho: str
    ChuDem: str
    Ten: str
    QuocTich: str = "VN"


@dataclass(frozen=True)
class Citizen:
    """One record; ``NgaySinh`` is ``yyyyMMdd``."""

    SoDinhDanh: str
    SoCMND: str
    Ho: str
    ChuDem: str
    Ten: str
    NgaySinh: str
    Cha: Parent
    Me: Parent

    @property
    def HoVaTen(self) -> str:  # noqa: N802 - the domain's name
        return " ".join(p for p in (self.Ho, self.ChuDem, self.Ten) if p)


# Fictitious: province code 099 does not exist, and the names say "thử nghiệm" (test).
SAMPLE_CITIZENS = (
    Citizen(
        "099085000001",
        "099000001",
        "Nguyễn",
        "Văn",
        "Thử",
        "19850312",
        Parent("099055000011", "Nguyễn", "Văn", "Mẫu"),
        Parent("099158000012", "Trần", "Thị", "Mẫu"),
    ),
    Citizen(
        "099192000002",
        "",
        "Lê",
        "Thị Thử",
        "Nghiệm",
        "19920701",
        Parent("099062000021", "Lê", "Văn", "Giả"),
        Parent("099165000022", "Phạm", "Thị", "Giả"),
    ),
    Citizen(
        "099200000003",
        "099000003",
        "Trần",
        "",
        "Mô Phỏng",
        "20000229",
        Parent("099070000031", "Trần", "Văn", "Định"),
        Parent("099173000032", "Võ", "Thị", "Danh"),
    ),
)


@dataclass
class PopulationRegistry:
    """The citizens (state kept in memory) and the two operations in both forms."""

    citizens: dict[str, Citizen] = field(
        default_factory=lambda: {c.SoDinhDanh: c for c in SAMPLE_CITIZENS}
    )

    def add(self, citizen: Citizen) -> None:
        self.citizens[citizen.SoDinhDanh] = citizen

    # --- the SOAP form ----------------------------------------------------------------------
    def soap(self, body: bytes) -> tuple[int, bytes, str, dict[str, str]]:
        """(HTTP status, SOAP answer, operation, the request's fields)."""
        try:
            operation, fields = parse_soap_request(body)
        except Refused as exc:
            return 500, soap_fault("Client", str(exc)), "", {}
        try:
            if operation == VERIFY:
                _require(fields, VERIFY_FIELDS[:6])
                birth = fields.get("NgayThangNamSinh", "")
                if birth and not re.fullmatch(r"\d{8}", birth):
                    raise Refused("NgayThangNamSinh: yyyyMMdd expected")
                answer = etree.Element(f"{{{DC}}}XacMinhThongTinNhanThanResponse", nsmap={"dc": DC})
                answer.append(congdan_collection(self.match(fields, birth), fields["MaYeuCau"]))
            else:
                _require(fields, ("MaYeuCau", "MaDichVu", "MaCanBo", "SoDinhDanh"))
                answer = exists_answer(bool(self.match(fields, "")))
        except Refused as exc:
            return 500, soap_fault("Client", str(exc)), operation, fields
        return 200, soap_envelope(answer), operation, fields

    # --- the JSON form ----------------------------------------------------------------------
    def json(self, resource: str, data: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """(``{error_code, message}``, the request's fields) for ``resource`` (an operation)."""
        if not isinstance(data, Mapping):
            return _json_refusal("a JSON object is expected"), {}
        fields = {k: "" if v is None else str(v) for k, v in data.items()}
        try:
            if resource == VERIFY:
                unknown = sorted(set(fields) - JSON_VERIFY_FIELDS)
                if unknown:
                    raise Refused(f"unknown fields {unknown}")
                _require(fields, ("MaYeuCau", "MaDVC", "MaTichHop", "MaCanBo", "SoDinhDanh"))
                if fields.get("LoaiTaiKhoan") == "2" and not fields.get("MaSoThue"):
                    raise Refused("MaSoThue is required for LoaiTaiKhoan 2")
                birth = _json_birth_date(fields.get("NgayThangNam", ""), fields.get("Nam", ""))
                xml = congdan_collection(self.match(fields, birth), fields["MaYeuCau"])
            elif resource == EXISTS:
                unknown = sorted(set(fields) - set(EXISTS_FIELDS))
                if unknown:
                    raise Refused(f"unknown fields {unknown}")
                _require(fields, ("MaYeuCau", "MaDichVu", "MaCanBo", "SoDinhDanh"))
                xml = exists_answer(bool(self.match(fields, "")))
            else:
                raise Refused(f"no operation {resource!r}")
        except Refused as exc:
            return _json_refusal(str(exc)), fields
        return {"error_code": 0, "message": etree.tostring(xml, encoding="unicode")}, fields

    # --- lookups ----------------------------------------------------------------------------
    def match(self, fields: Mapping[str, str], birth: str) -> list[Citizen]:
        """The citizen with this ID whose other given particulars agree, if any."""
        citizen = self.citizens.get(fields.get("SoDinhDanh", "").strip())
        if citizen is None:
            return []
        cmnd, name = fields.get("SoCMND", "").strip(), fields.get("HoVaTen", "")
        if cmnd and cmnd != citizen.SoCMND:
            return []
        if name.strip() and _fold(name) != _fold(citizen.HoVaTen):
            return []
        if birth and birth != citizen.NgaySinh:
            return []
        return [citizen]


# --- XML ----------------------------------------------------------------------------------------
def parse_soap_request(body: bytes) -> tuple[str, dict[str, str]]:
    """The operation and its fields, namespaces as the XSDs give them."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Refused(f"not well-formed XML: {exc.msg}") from None
    if root.tag != f"{{{SOAP}}}Envelope":
        raise Refused("not a SOAP 1.1 Envelope")
    request = root.find(f"{{{SOAP}}}Body/*")
    if request is None:
        raise Refused("empty SOAP Body")
    known = {
        f"{{{QLDC}}}{VERIFY}Request": (VERIFY, QLDC, VERIFY_FIELDS),
        f"{{{DAN}}}{EXISTS}Request": (EXISTS, DAN, EXISTS_FIELDS),
    }
    if request.tag not in known:
        raise Refused(f"unknown operation {etree.QName(request).localname}")
    operation, namespace, names = known[request.tag]
    fields: dict[str, str] = {}
    for child in request:
        name = etree.QName(child)
        if name.namespace != namespace or name.localname not in names:
            raise Refused(f"unexpected element {name.localname}")
        fields[name.localname] = (child.text or "").strip()
    return operation, fields


def congdan_collection(citizens: list[Citizen], request_id: str) -> etree._Element:
    """``dc:CongdanCollection`` in the XSD's element order."""
    stamp = datetime.now(ICT).replace(microsecond=0).isoformat()
    collection = etree.Element(
        f"{{{DC}}}CongdanCollection",
        nsmap={"dc": DC},
        SoCongDan=str(len(citizens)),
        ThoiDiemDuLieu=stamp,
        id=request_id,
    )
    for c in citizens:
        one = etree.SubElement(collection, f"{{{DC}}}CongDan")
        _leaf(one, "SoDinhDanh", c.SoDinhDanh)
        _leaf(one, "SoCMND", c.SoCMND)
        _name(one, c.Ho, c.ChuDem, c.Ten)
        _leaf(etree.SubElement(one, f"{{{DC}}}NgayThangNamSinh"), "NgayThangNam", c.NgaySinh)
        for tag, parent in (("Cha", c.Cha), ("Me", c.Me)):
            element = etree.SubElement(one, f"{{{DC}}}{tag}")
            _leaf(element, "SoDinhDanh", parent.SoDinhDanh)
            _leaf(element, "QuocTich", parent.QuocTich)
            _name(element, parent.Ho, parent.ChuDem, parent.Ten)
    return collection


def exists_answer(found: bool) -> etree._Element:
    answer = etree.Element(f"{{{DAN}}}KetQuaXacThucResponse", nsmap={"ns2": DAN})
    etree.SubElement(answer, f"{{{DAN}}}TonTai").text = "true" if found else "false"
    return answer


def soap_envelope(content: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"SOAP-ENV": SOAP})
    etree.SubElement(envelope, f"{{{SOAP}}}Header")
    etree.SubElement(envelope, f"{{{SOAP}}}Body").append(content)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def soap_fault(code: str, text: str) -> bytes:
    fault = etree.Element(f"{{{SOAP}}}Fault", nsmap={"SOAP-ENV": SOAP})
    etree.SubElement(fault, "faultcode").text = f"SOAP-ENV:{code}"
    etree.SubElement(fault, "faultstring").text = text
    return soap_envelope(fault)


def _leaf(parent: etree._Element, tag: str, text: str) -> None:
    etree.SubElement(parent, f"{{{DC}}}{tag}").text = text


def _name(parent: etree._Element, ho: str, chu_dem: str, ten: str) -> None:
    name = etree.SubElement(parent, f"{{{DC}}}HoVaTen")
    for tag, text in (("Ho", ho), ("ChuDem", chu_dem), ("Ten", ten)):
        _leaf(name, tag, text)


# --- helpers ------------------------------------------------------------------------------------
def _require(fields: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [n for n in names if not fields.get(n, "").strip()]
    if missing:
        raise Refused(f"required: {', '.join(missing)}")
    if not re.fullmatch(r"\d{12}", fields["SoDinhDanh"].strip()):
        raise Refused("SoDinhDanh: 12 digits expected")


def _json_birth_date(day_month: str, year: str) -> str:
    """``dd/MM`` + ``yyyy`` → ``yyyyMMdd`` ("" when not given)."""
    if not day_month and not year:
        return ""
    found = re.fullmatch(r"(\d{2})/(\d{2})", day_month)
    if not found or not re.fullmatch(r"\d{4}", year):
        raise Refused("NgayThangNam dd/MM and Nam yyyy expected")
    return f"{year}{found[2]}{found[1]}"


def _json_refusal(text: str) -> dict[str, Any]:
    return {"error_code": 400, "message": text}


def _fold(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())
