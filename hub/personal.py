"""Services that look citizens up (personal data: Decree 13/2023, Law 91/2025/QH15 from 2026).

A service registered with ``personal_data`` answers with a citizen's data — the population
database's verification, the one-stop system's "where is my dossier". The law asks three things
of every such lookup, and the hub does them for every partner behind such a service:

* **grounds** — a purpose and the officer who asks (headers ``X-LGSP-Purpose`` and
  ``X-LGSP-Officer``, UTF-8, percent-encoded where not ASCII). A call without them is
  refused (422 ``grounds_required``) and recorded as a denial, before anything reaches the
  partner;
* **a record** — one row per lookup in ``personal_data_access``: who (agency, system, officer),
  why, when, the service, the result class (``found``/``not_found`` when the connector tells,
  else ``answered``, or ``failed``), the message that traces it, and the subject's ID number
  masked;
* **no ID in clear at rest** — the request is stored masked (``masked``), so the message row,
  its blob and every later read show the masked form. Only the answer returned to the caller
  carries the data, and the hub does not keep answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lxml import etree
from sqlalchemy import Connection, insert

from hub import xmlsafe
from hub.content import loads_json, media_family
from hub.errors import RequestError
from hub.model import Caller, Submission
from hub.payload import Payload
from hub.security import PERSONAL_FIELDS, mask_text, mask_value
from hub.store.db import utcnow
from hub.store.tables import personal_data_access

__all__ = [
    "OFFICER_HEADER",
    "PURPOSE_HEADER",
    "Grounds",
    "GroundsRequired",
    "grounds",
    "masked",
    "record",
    "subject",
]

PURPOSE_HEADER = "x-lgsp-purpose"
OFFICER_HEADER = "x-lgsp-officer"
SUBJECT_FIELDS = ("SoDinhDanh", "SoCMND", "IdNumber", "citizen_id", "MaSoThue")
_DIGITS = re.compile(r"\d{9,12}")


class GroundsRequired(RequestError):
    """A personal-data lookup without its purpose or its officer."""

    code = "grounds_required"
    status = 422


@dataclass(frozen=True)
class Grounds:
    purpose: str
    officer: str


def grounds(sub: Submission) -> Grounds:
    """The purpose and officer the caller gave, or ``GroundsRequired`` naming what is missing.
    Both are one line of printable text (they are shown to admins)."""
    given = {h: _header_text(sub.headers.get(h, "")) for h in (PURPOSE_HEADER, OFFICER_HEADER)}
    missing = [h for h, v in given.items() if not v]
    if missing:
        raise GroundsRequired(
            "a personal-data lookup needs its purpose and the officer who asks",
            missing=[f"X-LGSP-{h[7:].title()}" for h in missing],
        )
    too_long = [h for h, v in given.items() if len(v) > 300]
    if too_long:
        raise GroundsRequired("purpose and officer are at most 300 characters", fields=too_long)
    return Grounds(purpose=given[PURPOSE_HEADER], officer=given[OFFICER_HEADER])


def _header_text(value: str) -> str:
    """A header's text: HTTP carries bytes, and a Vietnamese purpose is not ASCII. Raw UTF-8
    (read as Latin-1 by the server) and percent-encoded UTF-8 (what ``lgsp call`` sends, and
    what a client whose library only takes Latin-1 headers can send) both come out as text."""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    if "%" in value:
        value = unquote(value, errors="strict") if _is_utf8_quoted(value) else value
    return " ".join(value.split())


def _is_utf8_quoted(value: str) -> bool:
    try:
        unquote(value, errors="strict")
    except UnicodeDecodeError:
        return False
    return True


def subject(document: Any) -> str | None:
    """The looked-up citizen's ID number, masked, from a parsed JSON request (None when the
    request names none)."""
    if isinstance(document, Mapping):
        for name in SUBJECT_FIELDS:
            value = document.get(name)
            if isinstance(value, str | int) and str(value).strip():
                text = str(value).strip()
                return "*" * max(len(text) - 3, 0) + text[-3:]
    return None


def masked(payload: Payload) -> Payload:
    """The request as it is stored: personal fields replaced, digit runs masked. JSON and XML
    keep their structure; other text is masked as text."""
    data = payload.read()
    family = media_family(payload.content_type)
    if family == "json":
        body = json.dumps(mask_value(loads_json(data)), ensure_ascii=False).encode()
    elif family == "xml":
        body = _masked_xml(data)
    else:
        body = mask_text(data.decode("utf-8", "replace")).encode()
    return Payload.of(body, payload.content_type)


def _masked_xml(data: bytes) -> bytes:
    root = xmlsafe.parse(data)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if etree.QName(element).localname in PERSONAL_FIELDS and len(element) == 0:
            element.text = "***" if (element.text or "").strip() else element.text
        elif element.text:
            element.text = mask_text(element.text)
        if element.tail:
            element.tail = mask_text(element.tail)
        for name, value in element.attrib.items():
            element.set(name, mask_text(value))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def record(
    conn: Connection,
    caller: Caller,
    sub: Submission,
    why: Grounds,
    document: Any,
    message_id: str,
    result: str,
) -> None:
    """One row of the personal-data access log, in the call's transaction."""
    conn.execute(
        insert(personal_data_access).values(
            at=utcnow(),
            message_id=message_id,
            service_code=sub.service,
            agency=caller.agency,
            system_code=caller.system,
            officer=mask_text(why.officer)[:300],
            purpose=mask_text(why.purpose)[:300],
            subject=subject(document),
            result=result,
        )
    )
