"""The provincial one-stop dossier system (Hệ thống thông tin giải quyết TTHC / Một cửa điện tử):
record a dossier's progress, answer "where is my dossier" for the public channels, and pull the
feed of changed dossiers.

Public (REFERENCE.md): the dossier fields (``MaHoSo``, ``TenTTHC``, ``TrangThaiHoSo``,
``NgayTiepNhan``, ``NgayHenTra``, ``NgayTra``, ``DonViXuLy``, ``ChuHoSo``, ``SoGiayToChuHoSo``,
``DinhDanhCHS[]{LoaiDinhDanh 1=CCCD 2=CMND, SoDinhDanh}`` …, dates ``yyyyMMddHHmmss``), the
progress fields and the ``TrangThaiHoSo`` codes 0-10. The system's own API is vendor-specific and
**not public: the contract below is our design, configurable**; a vendor's field names are bridged
by the hub's mapping engine:

* ``auth`` (the toolkit's bearer token or API key, required: the system holds personal data).
  Paths under ``url`` (``paths``): ``progress`` ``POST /dossiers/progress``, ``status``
  ``POST /dossiers/lookup``, ``changes`` ``GET /dossiers/changes``.
* Answers are JSON ``{"code", "message", "data"}``; ``code`` ``"0"`` (or 0) is success. A refusal
  carries the system's own code with an HTTP status; ``transient_codes`` (default
  ``SYSTEM_BUSY``, ``INTERNAL_ERROR``, ``RATE_LIMITED``) are retried, ``permanent_codes``
  (default ``DOSSIER_NOT_FOUND``, ``VALIDATION_FAILED``, ``UNAUTHORIZED``, ``FORBIDDEN``) are
  not, any other code follows its HTTP status (5xx/408/425/429 transient, else permanent). An
  answer without ``code`` is classed by its HTTP status alone (a gateway in front of the system).

``operation: progress`` (push) posts the progress object as it is (``MaHoSo, NguoiXuLy,
ChucDanh, ThoiDiemXuLy, PhongBanXuLy, NoiDungXuLy, TrangThai, NgayBatDau,
NgayKetThucTheoQuyDinh``) with ``Idempotency-Key: <message id>``; the system validates it.

``operation: status`` (synchronous lookup) takes ``{"MaHoSo"}`` or ``{"SoDinhDanh"}`` (12-digit
CCCD or 9-digit CMND) and a ``channel`` (sms|chat|kiosk|web), posts them in the request body
(never in a URL: URLs end up in access logs and traces) with ``LoaiDinhDanh``, and answers ONE
normalised JSON ``{"dossiers": [{MaHoSo, MaTTHC, TenTTHC, TenLinhVuc, TrangThaiHoSo,
TrangThaiTen, NgayTiepNhan, NgayHenTra, NgayTra, DonViXuLy, ChuHoSo}]}`` for a public channel:
only those fields, ``ChuHoSo`` masked ("Nguyễn V*** A"), no ID number, phone or e-mail. A miss
(an empty list, or a code in ``not_found_codes``) is ``{"dossiers": []}``, not an error.
``details["result"]`` is ``found``/``not_found`` for the hub's personal-data access log.
``TrangThaiTen`` comes from ``status_names`` (default: Vietnamese names of codes 0-10).

``poll(since)`` (pull) reads ``GET /dossiers/changes?since=&cursor=&limit=`` (``limit`` =
``page_size``): ``data: {"items": [dossier…], "next_cursor"}``, ordered by change time
(``changed_at_field``, default ``ThoiDiemCapNhat``, ``yyyyMMddHHmmss`` Asia/Ho_Chi_Minh) then
``MaHoSo``; the cursor is the partner's keyset position, so dossiers sharing a timestamp across a
page boundary are neither skipped nor repeated. **Watermark: ``since`` is inclusive** and
second-granular (floored to the second; a naive datetime is UTC): the feed's clock has seconds
only, so an exclusive watermark would skip a dossier changed later in the same second. Re-polling
from the last change time therefore yields that second's dossiers again with the same ``id``
(``uuid5`` of ``MaHoSo`` + change time), which the hub absorbs idempotently. Each message carries
``x-onestop-dossier`` (``MaHoSo``) and ``x-onestop-changed-at`` (ISO 8601) headers. Messages are
yielded page by page in change-time order, so a failure mid-way (raised as the hub's errors)
leaves the last yielded change time a safe watermark to resume from. An item without
``MaHoSo`` or a readable change time is skipped with a warning, not raised: one bad record must
not stop the sync of every other dossier.

Personal data: the queried ID number and every 9-12 digit run (ID, phone) are masked, last 3
digits kept, in every exception text, ``remote_status`` and detail; ``check()`` probes the change
feed with ``limit=1`` (cheap, real, 401 for a wrong credential). No token is cached, so the
shared ``requests`` session is the only state shared between worker threads.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import requests

from connectors.http import (
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    TRANSIENT_STATUSES,
    auth_headers,
    json_object,
    keep_last3,
    make_session,
    mask_error,
    mask_numbers,
    mask_values,
    partner_codes,
    redact,
    request_health,
    send_json,
    status_error,
    timeouts,
    url_property,
)
from connectors.http_check import http_checks, retarget
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.payload import Payload

__all__ = [
    "CHANNELS",
    "DEFAULT_PATHS",
    "HEADER_CHANGED_AT",
    "HEADER_DOSSIER",
    "STATUS_NAMES",
    "OnestopConnector",
    "change_id",
    "mask_digits",
    "mask_name",
]

log = logging.getLogger(__name__)

OPERATIONS = ("progress", "status")
CHANNELS = ("sms", "chat", "kiosk", "web")
DEFAULT_PATHS = {
    "progress": "/dossiers/progress",
    "status": "/dossiers/lookup",
    "changes": "/dossiers/changes",
}
TRANSIENT_CODES = ("SYSTEM_BUSY", "INTERNAL_ERROR", "RATE_LIMITED")
PERMANENT_CODES = ("DOSSIER_NOT_FOUND", "VALIDATION_FAILED", "UNAUTHORIZED", "FORBIDDEN")
STATUS_NAMES = {
    "0": "Đang chuyển liên thông",
    "1": "Mới đăng ký",
    "2": "Đã tiếp nhận",
    "3": "Từ chối tiếp nhận",
    "4": "Đang xử lý",
    "5": "Chờ bổ sung hồ sơ",
    "6": "Chờ thực hiện nghĩa vụ tài chính",
    "7": "Công dân đã rút hồ sơ",
    "8": "Dừng xử lý",
    "9": "Đã có kết quả, chờ trả",
    "10": "Đã trả kết quả",
}
ANSWER_FIELDS = ("MaHoSo", "MaTTHC", "TenTTHC", "TenLinhVuc", "TrangThaiHoSo")
DATE_FIELDS = ("NgayTiepNhan", "NgayHenTra", "NgayTra")
HEADER_DOSSIER = "x-onestop-dossier"
HEADER_CHANGED_AT = "x-onestop-changed-at"
LOCAL_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
STAMP = "%Y%m%d%H%M%S"
MAX_REQUEST_BYTES = 1024 * 1024
CHANGE_NAMESPACE = uuid.UUID("0b6f1c52-5d3e-4a8e-9a41-6f6e65737470")
_ID_NUMBER = re.compile(r"\d{12}|\d{9}")
_DIGITS = re.compile(r"(?<![\d])(?:\+84\d{9}|\d{9,12})(?!\d)")


class OnestopConnector(Connector):
    """Progress push, status lookup and change feed of the one-stop system (module docstring)."""

    type_name = "onestop"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "onestop connector",
        "type": "object",
        "required": ["url", "auth"],
        "additionalProperties": False,
        "properties": {
            "url": url_property("API base"),
            "operation": {"enum": list(OPERATIONS), "default": "progress"},
            "paths": {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: {"type": "string", "pattern": "^/\\S*$"} for k in DEFAULT_PATHS},
                "description": "not public: the path of each endpoint under url",
            },
            "transient_codes": partner_codes(description="system codes worth retrying"),
            "permanent_codes": partner_codes(description="system codes never retried"),
            "not_found_codes": partner_codes(description="status: codes meaning 'no dossier'"),
            "status_names": {
                "type": "object",
                "additionalProperties": {"type": "string", "minLength": 1},
                "description": "TrangThaiHoSo -> the name shown to citizens (TrangThaiTen)",
            },
            "changed_at_field": {"type": "string", "minLength": 1, "default": "ThoiDiemCapNhat"},
            "page_size": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
            "agency": {"type": "string", "description": "poll: sender agency of the messages"},
            "service": {"type": "string", "minLength": 1, "description": "poll: their service"},
            "timeout_seconds": TIMEOUT_SCHEMA,
            **HTTP_CLIENT_PROPERTIES,
        },
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)
        self._transient = frozenset(self.config.get("transient_codes", TRANSIENT_CODES))
        self._permanent = frozenset(self.config.get("permanent_codes", PERMANENT_CODES))
        self._misses = frozenset(self.config.get("not_found_codes", ("DOSSIER_NOT_FOUND",)))
        self._names = {**STATUS_NAMES, **self.config.get("status_names", {})}

    @property
    def operation(self) -> str:
        return self.config.get("operation", "progress")

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        request: dict[str, Any] = {}
        try:
            request = self._request(message)
            if self.operation == "progress":
                return self._progress(request, message.id, timeout)
            return self._lookup(request, timeout)
        except DeliveryError as exc:
            raise _masked(exc, request.get("SoDinhDanh")) from None

    def poll(self, since: datetime | None) -> Iterator[OutboundMessage]:
        """Dossiers changed at or after ``since`` (inclusive, see the module docstring)."""
        params: dict[str, Any] = {"limit": self.config.get("page_size", 100)}
        if since is not None:
            aware = since if since.tzinfo else since.replace(tzinfo=UTC)
            params["since"] = aware.astimezone(LOCAL_TZ).strftime(STAMP)
        cursor: str | None = None
        try:
            while True:
                _, answer = self._call("GET", self._url("changes"), None, {}, None, params=params)
                data = answer.get("data")
                items = data.get("items") if isinstance(data, dict) else None
                if not isinstance(items, list):
                    raise PermanentDeliveryError(
                        f"{self.name}: the change feed answered without data.items",
                        remote_status="code:0",
                    )
                for item in items:
                    changed = self._changed(item)
                    if changed is not None:
                        yield changed
                following = data.get("next_cursor")
                if not following:
                    return
                if following == cursor:
                    raise PermanentDeliveryError(
                        f"{self.name}: the change feed returned the same cursor twice",
                        remote_status="code:0",
                    )
                cursor = params["cursor"] = str(following)
        except DeliveryError as exc:
            raise _masked(exc, None) from None

    def health(self) -> Health:
        return request_health(self.check())

    def check(self) -> list[CheckResult]:
        """Secrets, DNS, TCP, then one page of one item of the change feed (401: credentials)."""
        return http_checks(self.config, self._session, self._url("changes") + "?limit=1", "GET")

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url")

    def close(self) -> None:
        self._session.close()

    # --- operations ------------------------------------------------------------------------------
    def _request(self, message: OutboundMessage) -> dict[str, Any]:
        """The JSON object to send; LocalDeliveryError (nothing sent) when it cannot be."""
        where = f"{self.name}: one-stop {self.operation}"
        try:
            request = json.loads(message.payload.read(MAX_REQUEST_BYTES))
        except (ValueError, UnicodeDecodeError):
            raise LocalDeliveryError(
                f"{where}: the payload is not JSON of at most {MAX_REQUEST_BYTES} bytes",
                reason="not_json",
            ) from None
        if not isinstance(request, dict):
            raise LocalDeliveryError(f"{where}: the payload must be a JSON object", reason="shape")
        if self.operation == "progress":
            if not _text(request.get("MaHoSo")):
                raise LocalDeliveryError(f"{where}: MaHoSo is required", reason="shape")
            return request
        ma, number = request.get("MaHoSo"), request.get("SoDinhDanh")
        if _text(ma) == _text(number):
            raise LocalDeliveryError(
                f"{where}: give exactly one of MaHoSo and SoDinhDanh, as text", reason="shape"
            )
        if request.get("channel") not in CHANNELS:
            raise LocalDeliveryError(
                f"{where}: channel must be one of {', '.join(CHANNELS)}", reason="shape"
            )
        if _text(ma):
            return {"MaHoSo": ma.strip(), "channel": request["channel"]}
        number = number.strip()
        if not _ID_NUMBER.fullmatch(number):
            raise LocalDeliveryError(
                f"{where}: SoDinhDanh must be a 12-digit CCCD or a 9-digit CMND "
                f"({len(number)} characters given)",
                reason="shape",
            )
        kind = 1 if len(number) == 12 else 2
        return {"SoDinhDanh": number, "LoaiDinhDanh": kind, "channel": request["channel"]}

    def _progress(
        self, progress: dict[str, Any], key: str, timeout: float | None
    ) -> DeliveryResult:
        headers = {"Idempotency-Key": key}
        http, answer = self._call("POST", self._url("progress"), progress, headers, timeout)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        details = {"operation": "progress", "MaHoSo": progress["MaHoSo"], "http_status": http}
        details["duplicate"] = bool(data.get("duplicate"))
        return DeliveryResult(
            remote_status=_remote_status(answer, http),
            response=json.dumps(answer, ensure_ascii=False).encode("utf-8"),
            content_type="application/json",
            details=details,
        )

    def _lookup(self, request: dict[str, Any], timeout: float | None) -> DeliveryResult:
        http, answer = self._call("POST", self._url("status"), request, {}, timeout, misses=True)
        found = answer.get("data")
        if not isinstance(found, list) or not all(isinstance(d, dict) for d in found):
            raise PermanentDeliveryError(
                f"{self.name}: the status lookup answered without a list of dossiers",
                remote_status="code:0",
            )
        dossiers = [self._public(d, request.get("SoDinhDanh")) for d in found]
        details = {
            "operation": "status",
            "by": "MaHoSo" if "MaHoSo" in request else "SoDinhDanh",
            "channel": request["channel"],
            "result": "found" if dossiers else "not_found",
            "count": len(dossiers),
            "http_status": http,
        }
        return DeliveryResult(
            remote_status=_remote_status(answer, http),
            response=json.dumps({"dossiers": dossiers}, ensure_ascii=False).encode("utf-8"),
            content_type="application/json",
            details=details,
        )

    def _public(self, dossier: Mapping[str, Any], asked: str | None) -> dict[str, Any]:
        """What a public channel may show of ``dossier``: the listed fields, texts masked of
        every ID number, phone and e-mail the dossier holds, the owner's name masked."""
        personal = [asked or "", str(dossier.get("SoDienThoai") or "")]
        personal += [str(dossier.get("SoGiayToChuHoSo") or ""), str(dossier.get("Email") or "")]
        ids = dossier.get("DinhDanhCHS")
        if isinstance(ids, list):
            personal += [str(i.get("SoDinhDanh") or "") for i in ids if isinstance(i, dict)]
        out: dict[str, Any] = {}
        for field in ANSWER_FIELDS:
            if field in dossier:
                out[field] = dossier[field]
        code = str(dossier.get("TrangThaiHoSo", "")).strip()
        if code.isdigit():
            out["TrangThaiHoSo"] = int(code)
        out["TrangThaiTen"] = self._names.get(str(int(code)) if code.isdigit() else code, "")
        for field in DATE_FIELDS:
            out[field] = dossier.get(field) or None
        out["DonViXuLy"] = dossier.get("DonViXuLy")
        out["ChuHoSo"] = mask_name(str(dossier.get("ChuHoSo") or ""))
        for field, value in out.items():
            if isinstance(value, str) and field not in ("MaHoSo", *DATE_FIELDS):
                out[field] = mask_digits(_scrub(value, personal))
        return out

    def _changed(self, item: Any) -> OutboundMessage | None:
        """One changed dossier as a message whose id is stable across re-polls; None (logged)
        for an item that names no dossier or no change time: one bad record in the feed must
        not stop the sync of every other dossier."""
        field = self.config.get("changed_at_field", "ThoiDiemCapNhat")
        ma = item.get("MaHoSo") if isinstance(item, dict) else None
        stamp = item.get(field) if isinstance(item, dict) else None
        try:
            changed = datetime.strptime(str(stamp), STAMP).replace(tzinfo=LOCAL_TZ)
        except ValueError:
            changed = None
        if not _text(ma) or changed is None:
            log.warning(
                "%s: skipped a change feed item without MaHoSo or a %s of %s",
                self.name,
                field,
                STAMP,
            )
            return None
        ident = change_id(ma, stamp)
        return OutboundMessage(
            id=ident,
            correlation_id=ident,
            sender_agency=self.config.get("agency", ""),
            sender_system=self.name,
            service=self.config.get("service"),
            recipient=None,
            content_type="application/json",
            payload=Payload.of(
                json.dumps(item, ensure_ascii=False).encode("utf-8"), "application/json"
            ),
            headers={HEADER_DOSSIER: ma, HEADER_CHANGED_AT: changed.isoformat()},
        )

    # --- one call --------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        extra: Mapping[str, str],
        timeout: float | None,
        *,
        params: Mapping[str, Any] | None = None,
        misses: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """The HTTP status and the system's success answer (with ``misses``, a miss as an empty
        ``data`` list); anything else raised as the hub's error."""
        auth, secrets = auth_headers(self.config.get("auth"))
        response, answer, _ = send_json(
            self._session,
            method,
            url,
            body,
            {**auth, **extra, "Accept": "application/json"},
            name=self.name,
            timeout=timeouts(self.config, timeout),
            secrets=secrets,
            params=params,
        )
        parsed = json_object(answer)
        code = _code(parsed)
        if 200 <= response.status_code < 300 and code in (None, "0"):
            return response.status_code, parsed
        if misses and code in self._misses:
            return response.status_code, {"code": code, "data": []}
        raise self._refusal(response, answer, parsed, code, secrets)

    def _refusal(
        self,
        response: requests.Response,
        answer: bytes,
        parsed: dict[str, Any],
        code: str | None,
        secrets: list[str],
    ) -> DeliveryError:
        if code is None:
            return status_error(response, answer, self.name, secrets)
        http = response.status_code
        said = redact(str(parsed.get("message") or "")[:300], secrets)
        by_status = code not in self._permanent and (http >= 500 or http in TRANSIENT_STATUSES)
        transient = code in self._transient or by_status
        error = TransientDeliveryError if transient else PermanentDeliveryError
        details = {"http_status": http, "partner_code": code, "partner_message": said}
        if "Retry-After" in response.headers:
            details["retry_after"] = response.headers["Retry-After"]
        return error(
            f"{self.name}: one-stop system refused ({self.operation}): HTTP {http}, "
            f"code {code}" + (f": {said}" if said else ""),
            remote_status=f"code:{code}",
            **details,
        )

    def _url(self, endpoint: str) -> str:
        path = self.config.get("paths", {}).get(endpoint, DEFAULT_PATHS[endpoint])
        return self.config["url"].rstrip("/") + path


# --- personal data --------------------------------------------------------------------------------
def change_id(ma_ho_so: str, changed_at: str) -> str:
    """The message id of one change of one dossier: the same on every re-poll."""
    return str(uuid.uuid5(CHANGE_NAMESPACE, f"{ma_ho_so}|{changed_at}"))


def mask_name(name: str) -> str:
    """The family name, then initials: Nguyễn Văn An -> Nguyễn V*** A (public channels)."""
    words = name.split()
    if len(words) < 2:
        return f"{words[0][0]}***" if words else ""
    middle = [f"{w[0]}***" for w in words[1:-1]]
    return " ".join([words[0], *middle, words[-1][0]])


def mask_digits(text: str) -> str:
    """Every ID- or phone-like digit run in ``text`` masked, its last 3 digits kept."""
    return mask_numbers(text, _DIGITS)


def _scrub(text: str, values: list[str]) -> str:
    return mask_values(text, {v.strip(): keep_last3(v.strip()) for v in values if v})


def _masked(error: DeliveryError, number: str | None) -> DeliveryError:
    """The same error with the ID number and any ID-/phone-like digits masked everywhere."""
    return mask_error(error, lambda text: mask_digits(_scrub(text, [number or ""])))


def _remote_status(answer: Mapping[str, Any], http: int) -> str:
    code = _code(answer)
    return f"code:{code}" if code else str(http)


def _code(body: Mapping[str, Any]) -> str | None:
    """The system's ``code`` as text (0 and "0" alike); None when absent or not a scalar."""
    code = body.get("code")
    if isinstance(code, bool) or not isinstance(code, int | str):
        return None
    return str(code).strip()[:40] or None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
