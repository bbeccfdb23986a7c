"""The VDXP axis's state, apart from HTTP: which system owns which agency, the documents stored
once on disk, one record per recipient in that recipient's mailbox, and the idempotency keys
(:mod:`sandbox.vdxp` serves it in both the VNPT and the WSO2 style; :mod:`sandbox.vdxp_bodies`
reads a send's body into an :class:`Upload` and its recipients).

Rules (REFERENCE.md, "Transports seen in the field" and "VDXP through a provincial LGSP"):

* An agency belongs to one system. Registering a code another system holds is refused
  (``AGENCY_TAKEN``); registering it again from its own system updates its name and parent.
  Codes are taken liberally (a QĐ 20/2020 code, or a hosted client's system account, as seen in
  real traffic): printable ASCII, 1-64 characters.
* Sending: the sending system must own the ``from`` agency (``FORBIDDEN``), every recipient must
  be registered (``UNKNOWN_AGENCY``, naming the codes). Without recipients they are read from
  the edXML: ``To/OrganId`` of a document, ``ResponseFor/OrganId`` of a status message. The
  body is stored once; each recipient gets a record with status ``initial``.
* The same idempotency key from the same system gives the same records and adds none; the same
  key with another document, sender, kind or recipients is a ``CONFLICT``.
* Records move ``initial`` → ``processing`` → ``done`` | ``fail`` (``initial`` may go straight
  to ``done``/``fail``, ``processing`` back to ``initial``); ``done`` and ``fail`` are final.
  Only the recipient's system reads a record's body or moves it (``FORBIDDEN``).

Record fields: ``{id, from, to, serviceType, messageType, status, createdTime, contentLength,
contentSha256}``; ``createdTime`` is ISO 8601 in Vietnam's time (+07:00). The error codes and
their HTTP statuses (:data:`ERRORS`) are this project's choice: the axis's own are not public.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["ERRORS", "STATUSES", "Agency", "AxisError", "Mailbox", "Record", "Upload"]

STATUSES = ("initial", "processing", "done", "fail")
KINDS = ("edoc", "status")
MOVES = {
    "initial": {"processing", "done", "fail"},
    "processing": {"initial", "done", "fail"},
    "done": set(),
    "fail": set(),
}
# code -> HTTP status; the axis answers its own code in the body of each
ERRORS = {
    "BAD_REQUEST": 400,
    "INVALID_EDXML": 400,
    "AUTH_FAILED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "AGENCY_TAKEN": 409,
    "INVALID_STATUS": 409,
    "UNKNOWN_AGENCY": 422,
    "SYSTEM_ERROR": 500,
    "SYSTEM_BUSY": 503,
}
AGENCY_CODE = re.compile(r"^[\x21-\x7e]{1,64}$")
VIETNAM = timezone(timedelta(hours=7))


class AxisError(Exception):
    """A refusal in the axis's terms: its code, the HTTP status for it, a message, details."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code, self.message, self.details = code, message, details
        self.status = ERRORS.get(code, 400)


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    pcode: str | None
    system: str

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "pcode": self.pcode, "name": self.name}


@dataclass(frozen=True)
class Upload:
    """A document body written to the store: where, how many bytes, their SHA-256."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True)
class Record:
    id: str
    sender: str
    recipient: str
    message_type: str
    status: str
    created: datetime
    document: str  # the stored body's id (shared by the records of one send)
    system: str  # the sending system
    size: int
    sha256: str
    service_type: str = "eDoc"

    def as_dict(self, upper: bool = False) -> dict[str, Any]:
        """The record as the axis lists it (``upper``: statuses as the WSO2 style spells them)."""
        return {
            "id": self.id,
            "from": self.sender,
            "to": self.recipient,
            "serviceType": self.service_type,
            "messageType": self.message_type,
            "status": self.status.upper() if upper else self.status,
            "createdTime": self.created.isoformat(timespec="seconds"),
            "contentLength": self.size,
            "contentSha256": self.sha256,
        }


@dataclass(frozen=True)
class _Sent:
    fingerprint: tuple[str, tuple[str, ...], str, str]
    document: str
    records: tuple[str, ...]


class Mailbox:
    """Agencies, stored documents and records of one axis (thread-safe)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._agencies: dict[str, Agency] = {}
        self._records: dict[str, Record] = {}
        self._documents: dict[str, Path] = {}
        self._keys: dict[tuple[str, str], _Sent] = {}

    # --- agencies ---------------------------------------------------------------------------
    def register(self, system: str, code: Any, name: Any, pcode: Any = None) -> Agency:
        """Bind ``code`` to ``system`` (again: update its name and parent)."""
        if not isinstance(code, str) or not AGENCY_CODE.match(code):
            raise AxisError("BAD_REQUEST", "code: 1-64 printable ASCII characters")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 200:
            raise AxisError("BAD_REQUEST", "name: 1-200 characters")
        if pcode is not None and (not isinstance(pcode, str) or not AGENCY_CODE.match(pcode)):
            raise AxisError("BAD_REQUEST", "pcode: an agency code or null")
        with self._lock:
            held = self._agencies.get(code)
            if held is not None and held.system != system:
                raise AxisError(
                    "AGENCY_TAKEN", f"agency {code} is registered to another system", agency=code
                )
            agency = Agency(code, name.strip(), pcode or None, system)
            self._agencies[code] = agency
            return agency

    def agencies(self, limit: int | None = None) -> list[Agency]:
        with self._lock:
            found = sorted(self._agencies.values(), key=lambda a: a.code)
        return found[:limit] if limit is not None else found

    def owned(self, system: str, code: str) -> bool:
        with self._lock:
            agency = self._agencies.get(code)
        return agency is not None and agency.system == system

    # --- sending ----------------------------------------------------------------------------
    def new_upload_path(self) -> Path:
        return self.directory / f"{uuid.uuid4().hex}.part"

    def send(
        self,
        system: str,
        sender: Any,
        recipients: list[str],
        kind: Any,
        upload: Upload,
        key: str | None,
    ) -> tuple[str, list[Record], bool]:
        """Store ``upload`` and put a record in each recipient's mailbox: the document's id,
        the records, and whether it was an idempotent repeat (the upload is then discarded)."""
        try:
            return self._send(system, sender, recipients, kind, upload, key)
        except BaseException:
            upload.path.unlink(missing_ok=True)
            raise

    def _send(
        self,
        system: str,
        sender: Any,
        recipients: list[str],
        kind: Any,
        upload: Upload,
        key: str | None,
    ) -> tuple[str, list[Record], bool]:
        if kind not in KINDS:
            raise AxisError("BAD_REQUEST", f"messagetype: one of {', '.join(KINDS)}")
        if not isinstance(sender, str) or not sender:
            raise AxisError("BAD_REQUEST", "from: the sending agency's code")
        if not self.owned(system, sender):
            raise AxisError(
                "FORBIDDEN", f"agency {sender} does not belong to system {system}", agency=sender
            )
        if not recipients:
            raise AxisError("BAD_REQUEST", "no recipient: neither to nor the edXML names one")
        to = tuple(dict.fromkeys(recipients))
        with self._lock:
            unknown = [code for code in to if code not in self._agencies]
            if unknown:
                raise AxisError(
                    "UNKNOWN_AGENCY",
                    f"unknown recipient agency: {', '.join(unknown)}",
                    agencies=unknown,
                )
            fingerprint = (sender, to, kind, upload.sha256)
            sent = self._keys.get((system, key)) if key else None
            if sent is not None:
                if sent.fingerprint != fingerprint:
                    raise AxisError(
                        "CONFLICT",
                        "this idempotency key was used for another document or recipients",
                    )
                upload.path.unlink(missing_ok=True)
                return sent.document, [self._records[i] for i in sent.records], True
            document = uuid.uuid4().hex
            path = self.directory / f"{document}.edxml"
            os.replace(upload.path, path)
            self._documents[document] = path
            now = datetime.now(VIETNAM).replace(microsecond=0)
            records = [
                Record(
                    str(uuid.uuid4()),
                    sender,
                    code,
                    kind,
                    "initial",
                    now,
                    document,
                    system,
                    upload.size,
                    upload.sha256,
                )
                for code in to
            ]
            self._records.update((r.id, r) for r in records)
            if key:
                self._keys[(system, key)] = _Sent(
                    fingerprint, document, tuple(r.id for r in records)
                )
            return document, records, False

    # --- receiving --------------------------------------------------------------------------
    def received(self, system: str, agency: str | None = None) -> list[Record]:
        """``initial`` records for ``system``'s agencies (or for ``agency``, which it must own)."""
        if agency is not None and not self.owned(system, agency):
            raise AxisError(
                "FORBIDDEN", f"agency {agency} does not belong to system {system}", agency=agency
            )
        with self._lock:
            mine = {a.code for a in self._agencies.values() if a.system == system}
            return [
                r
                for r in self._records.values()
                if r.status == "initial" and r.recipient in mine and agency in (None, r.recipient)
            ]

    def sent(self, system: str, agency: str | None = None) -> list[Record]:
        """Records of what ``system`` sent (from ``agency`` only, when given), every status."""
        with self._lock:
            return [
                r
                for r in self._records.values()
                if r.system == system and agency in (None, r.sender)
            ]

    def readable(self, system: str, record_id: Any) -> tuple[Record, Path]:
        """The record and its stored body, for the recipient's system only."""
        record = self._mine(system, record_id)
        with self._lock:
            return record, self._documents[record.document]

    def move(self, system: str, record_id: Any, status: Any) -> Record:
        if not isinstance(status, str) or status.lower() not in STATUSES:
            raise AxisError("BAD_REQUEST", f"status: one of {', '.join(STATUSES)}")
        status = status.lower()
        with self._lock:
            record = self._mine_locked(system, record_id)
            if status == record.status:
                return record
            if status not in MOVES[record.status]:
                raise AxisError(
                    "INVALID_STATUS",
                    f"record {record.id} is {record.status}: it cannot become {status}",
                )
            moved = replace(record, status=status)
            self._records[record.id] = moved
            return moved

    def _mine(self, system: str, record_id: Any) -> Record:
        with self._lock:
            return self._mine_locked(system, record_id)

    def _mine_locked(self, system: str, record_id: Any) -> Record:
        record = self._records.get(record_id) if isinstance(record_id, str) else None
        if record is None:
            raise AxisError("NOT_FOUND", f"no record {str(record_id)[:64]}")
        agency = self._agencies.get(record.recipient)
        if agency is None or agency.system != system:
            raise AxisError("FORBIDDEN", f"record {record.id} is not addressed to this system")
        return record

    # --- inspection (tests) -----------------------------------------------------------------
    def mailbox(self, agency: str) -> list[Record]:
        with self._lock:
            return [r for r in self._records.values() if r.recipient == agency]

    def sent_by(self, system: str) -> list[Record]:
        with self._lock:
            return [r for r in self._records.values() if r.system == system]

    def stored_path(self, record_id: str) -> Path:
        with self._lock:
            return self._documents[self._records[record_id].document]
