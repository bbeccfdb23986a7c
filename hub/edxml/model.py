"""The edXML message as typed objects (QCVN 102:2016): a document (``Edoc``) or a status
message (``StatusMessage``), with the header blocks each carries.

Every element the hub reads or writes is declared once here, with its XML name, in the order
the hub writes it (``xml_name``/``children``): the streaming reader takes children in any order
by these names and the builder writes them in this order, so the two cannot drift apart.
Values stay strings as they came (``"05"`` is not ``5``; a date that is impossible stays what
it was): the hub reports deviations, it does not rewrite what an agency wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

__all__ = [
    "EDXML_NS",
    "DSIG_NS",
    "Attachment",
    "Business",
    "BusinessType",
    "Code",
    "DocumentInfo",
    "DocumentType",
    "Edoc",
    "Finding",
    "Header",
    "Organization",
    "OtherInfo",
    "Promulgation",
    "Receiver",
    "Reference",
    "Replacement",
    "ResponseFor",
    "SignerInfo",
    "StaffInfo",
    "StatusCode",
    "StatusMessage",
    "TraceHeader",
    "children",
    "xml_name",
]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"


def _f(xml: str, *, items: str | None = None, default: Any = None) -> Any:
    """A field named ``xml`` in XML. ``items``: a list, each item an ``items`` element inside
    the ``xml`` wrapper (``ToPlaces/Place``); a list without ``items`` repeats ``xml`` itself."""
    meta = {"xml": xml, "items": items}
    if isinstance(default, list):
        return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


def xml_name(f: Any) -> str:
    return f.metadata["xml"]


def children(cls: type) -> list[Any]:
    """The dataclass fields of ``cls`` that are XML children, in the order the hub writes them."""
    return [f for f in fields(cls) if "xml" in f.metadata]


@dataclass
class Organization:
    organ_id: str | None = _f("OrganId")
    organization_in_charge: str | None = _f("OrganizationInCharge")
    organ_name: str | None = _f("OrganName")
    organ_add: str | None = _f("OrganAdd")
    email: str | None = _f("Email")
    telephone: str | None = _f("Telephone")
    fax: str | None = _f("Fax")
    website: str | None = _f("Website")


@dataclass
class Code:
    code_number: str | None = _f("CodeNumber")
    code_notation: str | None = _f("CodeNotation")


@dataclass
class Promulgation:
    place: str | None = _f("Place")
    promulgation_date: str | None = _f("PromulgationDate")


@dataclass
class DocumentType:
    type: str | None = _f("Type")
    type_detail: str | None = _f("TypeDetail")
    type_name: str | None = _f("TypeName")


@dataclass
class SignerInfo:
    competence: str | None = _f("Competence")
    position: str | None = _f("Position")
    full_name: str | None = _f("FullName")


@dataclass
class OtherInfo:
    priority: str | None = _f("Priority")
    sphere_of_promulgation: str | None = _f("SphereOfPromulgation")
    typer_notation: str | None = _f("TyperNotation")
    promulgation_amount: str | None = _f("PromulgationAmount")
    page_amount: str | None = _f("PageAmount")
    direction: str | None = _f("Direction")
    appendixes: list[str] = _f("Appendixes", items="Appendix", default=[])


@dataclass
class ResponseFor:
    """The document a message answers: a status message's subject, or a reply document's."""

    organ_id: str | None = _f("OrganId")
    code: str | None = _f("Code")
    promulgation_date: str | None = _f("PromulgationDate")
    document_id: str | None = _f("DocumentId")


@dataclass
class StaffInfo:
    department: str | None = _f("Department")
    staff: str | None = _f("Staff")
    email: str | None = _f("Email")
    mobile: str | None = _f("Mobile")


@dataclass
class TraceHeader:
    """One hop: who handled the message, and when (``yyyy/MM/dd HH:mm:ss``, Asia/Ho_Chi_Minh)."""

    organ_id: str | None = _f("OrganId")
    timestamp: str | None = _f("Timestamp")


@dataclass
class Receiver:
    organ_id: str | None = _f("OrganId")
    receiver_type: str | None = _f("ReceiverType")


@dataclass
class DocumentInfo:
    """What an update (business type 2) changes: the document's information, its receivers."""

    document_info: str | None = _f("DocumentInfo")
    document_receiver: str | None = _f("DocumentReceiver")
    receivers: list[Receiver] = _f("ReceiverList", items="Receiver", default=[])


@dataclass
class Replacement:
    """A document a replacement (business type 3) replaces, and at which agencies."""

    document_id: str | None = _f("DocumentId")
    organ_ids: list[str] = _f("OrganIdList", items="OrganId", default=[])


class BusinessType(StrEnum):
    NEW = "0"
    REVOKE = "1"
    UPDATE = "2"
    REPLACE = "3"


@dataclass
class Business:
    """The ``Bussiness`` block (double s, as in real traffic): new, revoke, update or replace."""

    document_id: str | None = _f("DocumentId")
    bussiness_doc_type: str | None = _f("BussinessDocType")
    bussiness_doc_reason: str | None = _f("BussinessDocReason")
    paper: str | None = _f("Paper")
    document_info: DocumentInfo | None = _f("BussinessDocumentInfo")
    replacements: list[Replacement] = _f("ReplacementInfoList", items="ReplacementInfo", default=[])
    staff_info: StaffInfo | None = _f("StaffInfo")

    @property
    def kind(self) -> BusinessType | None:
        try:
            return BusinessType((self.bussiness_doc_type or "").strip())
        except ValueError:
            return None


@dataclass
class Header:
    """``MessageHeader`` of a document."""

    from_: Organization | None = _f("From")
    to: list[Organization] = _f("To", default=[])
    document_id: str | None = _f("DocumentId")
    code: Code | None = _f("Code")
    promulgation_info: Promulgation | None = _f("PromulgationInfo")
    document_type: DocumentType | None = _f("DocumentType")
    subject: str | None = _f("Subject")
    content: str | None = _f("Content")
    signer_info: SignerInfo | None = _f("SignerInfo")
    due_date: str | None = _f("DueDate")
    to_places: list[str] = _f("ToPlaces", items="Place", default=[])
    other_info: OtherInfo | None = _f("OtherInfo")
    response_for: list[ResponseFor] = _f("ResponseFor", default=[])
    steering_type: str | None = _f("SteeringType")


class StatusCode(StrEnum):
    """Document feedback codes (REFERENCE: 07-12 and 14 were not found in any public source)."""

    ARRIVED = "01"
    REJECTED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    PROCESSING = "05"
    FINISHED = "06"
    TAKE_BACK = "13"
    CHANGE_AGREED = "15"
    CHANGE_REFUSED = "16"


@dataclass
class StatusHeader:
    """``MessageHeader`` of a status message: no ``To``; the recipient is the sender of the
    document it answers (``ResponseFor/OrganId``)."""

    from_: Organization | None = _f("From")
    response_for: ResponseFor | None = _f("ResponseFor")
    staff_info: StaffInfo | None = _f("StaffInfo")
    status_code: str | None = _f("StatusCode")
    description: str | None = _f("Description")
    timestamp: str | None = _f("Timestamp")


@dataclass
class Reference:
    """A manifest entry: an attachment the document declares."""

    content_id: str | None = _f("ContentId")
    content_type: str | None = _f("ContentType")
    description: str | None = _f("Description")
    attachment_name: str | None = _f("AttachmentName")


@dataclass
class Attachment:
    """An attachment's header fields and, once decoded, where its bytes are: ``ref`` in the
    blob store (or a file path for a builder's input), its decoded ``size`` and ``sha256``."""

    content_id: str | None = _f("ContentId")
    attachment_name: str | None = _f("AttachmentName")
    description: str | None = _f("Description")
    content_type: str | None = _f("ContentType")
    ref: str | None = None
    size: int = 0
    sha256: str | None = None
    detected_type: str | None = None  # what the first bytes say (a ZIP labelled text/plain)


@dataclass(frozen=True)
class Finding:
    """A deviation (a warning on input) or a violation (an error on output), by field path
    (``MessageHeader/To[2]/OrganId``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@dataclass
class _Message:
    traces: list[TraceHeader] = field(default_factory=list)
    business: Business | None = None
    signature: str | None = None  # "xmldsig" or "edxml" namespace placement, None if unsigned
    warnings: list[Finding] = field(default_factory=list)


@dataclass
class Edoc(_Message):
    """An edXML document: header, trace list, manifest and attachments."""

    header: Header = field(default_factory=Header)
    manifest: list[Reference] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    kind = "edoc"

    @property
    def sender(self) -> str | None:
        return _organ(self.header.from_)

    @property
    def recipients(self) -> list[str]:
        return [code for to in self.header.to if (code := _organ(to))]

    @property
    def document_id(self) -> str | None:
        return _clean(self.header.document_id)

    @property
    def business_type(self) -> BusinessType:
        kind = self.business.kind if self.business else None
        return kind or BusinessType.NEW


@dataclass
class StatusMessage(_Message):
    """An edXML status message (document feedback)."""

    header: StatusHeader = field(default_factory=StatusHeader)

    kind = "status"

    @property
    def sender(self) -> str | None:
        return _organ(self.header.from_)

    @property
    def recipients(self) -> list[str]:
        code = _clean(self.header.response_for.organ_id) if self.header.response_for else None
        return [code] if code else []

    @property
    def document_id(self) -> str | None:
        """The id of the document this status is about."""
        return _clean(self.header.response_for.document_id) if self.header.response_for else None

    @property
    def status_code(self) -> str | None:
        return _clean(self.header.status_code)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if value and value.lower() != "null" else None


def _organ(org: Organization | None) -> str | None:
    return _clean(org.organ_id) if org else None
