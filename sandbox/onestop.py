"""The provincial one-stop dossier system (Một cửa điện tử): the target of the ``onestop``
connector.

Public (REFERENCE.md): the dossier fields (``MaHoSo``, ``TenTTHC``, ``TrangThaiHoSo`` 0-10,
``ChuHoSo``, ``SoGiayToChuHoSo``, ``DinhDanhCHS[]``, dates ``yyyyMMddHHmmss``), the progress
fields, dossier numbers ``{agency code}-{yyMMdd}-{5 digits}``. The API itself is vendor-specific
and not public: this contract is invented and matches the connector's defaults.

* Auth: ``Authorization: Bearer <token>`` or ``X-API-Key: <api_key>`` (header configurable) on
  every request; otherwise HTTP 401 ``{"code": "UNAUTHORIZED", "message"}`` with
  ``WWW-Authenticate``.
* Answers are ``{"code": "0", "message", "data"}``; refusals an HTTP status with the system's
  ``code``: ``VALIDATION_FAILED`` 422 (the message names the field and, like real systems, may
  quote the value), ``DOSSIER_NOT_FOUND`` 404, ``NOT_FOUND`` 404 (path), ``METHOD_NOT_ALLOWED``
  405. ``partner_error(code)`` (the ``error_code`` fault) answers the same shape, with 401
  ``UNAUTHORIZED``, 403 ``FORBIDDEN``, 429 ``RATE_LIMITED``, 500 ``INTERNAL_ERROR``, 503
  ``SYSTEM_BUSY``, and 400 for a code it does not know.
* ``POST /dossiers/progress``: a progress object; ``MaHoSo``, ``NguoiXuLy``, ``ThoiDiemXuLy``
  and ``NoiDungXuLy`` required, dates ``yyyyMMddHHmmss``. Appended to the dossier's progress
  (which moves its change time) and answered ``data: {MaHoSo, SoThuTu, duplicate: false}``; the
  same ``Idempotency-Key`` again gets the first answer with ``duplicate: true`` and appends
  nothing. An unknown dossier is ``DOSSIER_NOT_FOUND``.
* ``POST /dossiers/lookup``: ``{"MaHoSo"}`` or ``{"SoDinhDanh"}`` (12-digit CCCD whose first 3
  digits are a province code 001-096, or a 9-digit CMND), ``LoaiDinhDanh`` and ``channel``
  optional. Answers ``data: [dossier…]`` — whole dossiers, ID numbers and phones included, as a
  back office would: the connector must strip them. None found is ``data: []``.
* ``GET /dossiers/changes?since=yyyyMMddHHmmss&cursor=&limit=`` (limit 1-500, default 50): the
  dossiers whose change time is at or after ``since`` (inclusive), ordered by change time then
  ``MaHoSo``, each with ``ThoiDiemCapNhat``; ``data: {items, next_cursor}``. The cursor is an
  opaque keyset position (after this change time and MaHoSo), null on the last page.

Every request that reaches the system (not a faulted one) is in ``access_log`` as ``"METHOD
path?query"``, the way a web server logs it; accepted ones are recorded (``operation``
``progress``/``lookup``/``changes``; progress with its ``Idempotency-Key``). Python API:
``upsert(dossier, changed_at=None)`` (adds or replaces a dossier and moves its change time;
the seeded ones changed a day ago, a minute apart), ``dossier(ma)``, ``progress(ma)``,
``changed_at(ma)``, ``access_log``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["LOCAL_TZ", "SEED_DOSSIERS", "OnestopSystem"]

LOCAL_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
STAMP = "%Y%m%d%H%M%S"
CHANGED_FIELD = "ThoiDiemCapNhat"
PROGRESS_REQUIRED = ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy", "NoiDungXuLy")
PROGRESS_DATES = ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")
ERROR_STATUS = {
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "DOSSIER_NOT_FOUND": 404,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "VALIDATION_FAILED": 422,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "SYSTEM_BUSY": 503,
}
ROUTES = {
    "/dossiers/progress": ("POST", "progress"),
    "/dossiers/lookup": ("POST", "lookup"),
    "/dossiers/changes": ("GET", "changes"),
}
FIELDS = {  # procedure -> its field (lĩnh vực); sandbox values
    "1.004227": {"MaLinhVuc": "XD01", "TenLinhVuc": "Hoạt động xây dựng"},
    "1.001193": {"MaLinhVuc": "HT01", "TenLinhVuc": "Hộ tịch"},
    "1.000893": {"MaLinhVuc": "CT01", "TenLinhVuc": "Chứng thực"},
}
CCCD = re.compile(r"(0\d{2})\d{9}")
CMND = re.compile(r"\d{9}")


def _dossier(
    ma: str, tthc: str, name: str, owner: str, number: str, state: int, **more: Any
) -> dict[str, Any]:
    return {
        "MaHoSo": ma,
        "MaTTHC": tthc,
        "TenTTHC": name,
        **FIELDS[tthc[:8]],
        "KenhThucHien": 2,
        "ChuHoSo": owner,
        "SoGiayToChuHoSo": number,
        "LoaiDoiTuong": 1,
        "Email": "",
        "SoDienThoai": more.pop("SoDienThoai", "0912345678"),
        "TrichYeuHoSo": name,
        "NgayTiepNhan": more.pop("NgayTiepNhan", "20260105083000"),
        "NgayHenTra": more.pop("NgayHenTra", "20260119170000"),
        "NgayTra": more.pop("NgayTra", ""),
        "TrangThaiHoSo": state,
        "HinhThuc": 0,
        "DonViXuLy": more.pop("DonViXuLy", "UBND phường Thuận Hóa"),
        "DinhDanhCHS": [{"LoaiDinhDanh": 1 if len(number) == 12 else 2, "SoDinhDanh": number}],
        **more,
    }


SEED_DOSSIERS: tuple[dict[str, Any], ...] = (
    _dossier(
        "000.00.12.H57-260105-00001",
        "1.004227.000.00.00.H57",
        "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ",
        "Nguyễn Văn An",
        "046090001234",
        4,
        DonViXuLy="Sở Xây dựng thành phố Huế",
    ),
    _dossier(
        "000.00.12.H57-260106-00002",
        "1.001193.000.00.00.H57",
        "Đăng ký khai sinh",
        "Trần Thị Bích Ngọc",
        "046195004321",
        10,
        SoDienThoai="0987654321",
        NgayTra="20260107100000",
    ),
    _dossier(
        "000.00.12.H57-260108-00003",
        "1.001193.000.00.00.H57",
        "Đăng ký khai sinh",
        "Nguyễn Văn An",
        "046090001234",
        2,
        NgayTiepNhan="20260108091500",
        NgayHenTra="20260109170000",
    ),
    _dossier(
        "000.00.12.H57-260109-00004",
        "1.000893.000.00.00.H57",
        "Chứng thực bản sao từ bản chính",
        "Lê Hữu Phước",
        "191234567",
        5,
        SoDienThoai="0905111222",
    ),
)


class OnestopSystem(SandboxServer):
    kind = "onestop"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "onestop-token",
        api_key: str = "onestop-api-key",
        api_key_header: str = "X-API-Key",
        seed_dossiers: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.token, self.api_key = token, api_key
        self.api_key_header = api_key_header.lower()
        self._state = threading.Lock()
        self._dossiers: dict[str, dict[str, Any]] = {}
        self._changed: dict[str, datetime] = {}
        self._progress: dict[str, list[dict[str, Any]]] = {}
        self._answers: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> first answer
        self._access_log: list[str] = []
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
        for n, dossier in enumerate(SEED_DOSSIERS if seed_dossiers else ()):
            self.upsert(dossier, changed_at=start + timedelta(minutes=n))

    # --- Python API ------------------------------------------------------------------------------
    def upsert(self, dossier: Mapping[str, Any], changed_at: datetime | None = None) -> datetime:
        """Add or replace a dossier (by ``MaHoSo``); its change time moves to ``changed_at``
        (default now), kept to the second like the system's clock. Returns that time."""
        ma = dossier["MaHoSo"]
        with self._state:
            self._dossiers[ma] = copy.deepcopy(dict(dossier))
            self._progress.setdefault(ma, [])
            return self._touch(ma, changed_at)

    def dossier(self, ma: str) -> dict[str, Any] | None:
        with self._state:
            found = self._dossiers.get(ma)
            return copy.deepcopy(found) if found is not None else None

    def progress(self, ma: str) -> list[dict[str, Any]]:
        with self._state:
            return copy.deepcopy(self._progress.get(ma, []))

    def changed_at(self, ma: str) -> datetime:
        with self._state:
            return self._changed[ma]

    @property
    def access_log(self) -> list[str]:
        with self._state:
            return list(self._access_log)

    def _touch(self, ma: str, when: datetime | None) -> datetime:
        moment = (when or datetime.now(UTC)).astimezone(LOCAL_TZ).replace(microsecond=0)
        self._changed[ma] = moment
        return moment

    # --- HTTP ------------------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        with self._state:
            line = request.path + (f"?{request.query}" if request.query else "")
            self._access_log.append(f"{request.method} {line}")
        if not self._authorised(request):
            return _error(
                "UNAUTHORIZED",
                "Thiếu hoặc sai thông tin xác thực",
                **{"WWW-Authenticate": 'Bearer realm="onestop"'},
            )
        route = ROUTES.get(request.path)
        if route is None:
            return _error("NOT_FOUND", f"Không có đường dẫn {request.path}")
        method, operation = route
        if request.method != method:
            return _error("METHOD_NOT_ALLOWED", f"Chỉ nhận {method}", Allow=method)
        if operation == "changes":
            return self._changes(request)
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return _error("VALIDATION_FAILED", "Nội dung không phải JSON")
        if not isinstance(body, dict):
            return _error("VALIDATION_FAILED", "Nội dung phải là một đối tượng JSON")
        if operation == "progress":
            return self._record_progress(request, body)
        return self._lookup(request, body)

    def partner_error(self, code: str) -> SandboxResponse:
        return _error(code, f"Lỗi hệ thống giả lập: {code}")

    def _authorised(self, request: SandboxRequest) -> bool:
        bearer = request.headers.get("authorization", "")
        token = bearer[7:].strip() if bearer[:7].lower() == "bearer " else ""
        key = request.headers.get(self.api_key_header, "")
        return bool(
            (token and hmac.compare_digest(token.encode(), self.token.encode()))
            or (key and hmac.compare_digest(key.encode(), self.api_key.encode()))
        )

    def _record_progress(self, request: SandboxRequest, body: dict[str, Any]) -> SandboxResponse:
        for field in PROGRESS_REQUIRED:
            if not isinstance(body.get(field), str) or not body[field].strip():
                return _error("VALIDATION_FAILED", f"Thiếu trường bắt buộc {field}")
        for field in PROGRESS_DATES:
            if field in body and not _stamp(body[field]):
                return _error(
                    "VALIDATION_FAILED", f"{field} '{body[field]}' không đúng định dạng {STAMP}"
                )
        key = request.headers.get("idempotency-key")
        ma = body["MaHoSo"]
        with self._state:
            if key is not None and key in self._answers:
                answer = {**self._answers[key], "duplicate": True}
            elif ma not in self._dossiers:
                return _error("DOSSIER_NOT_FOUND", f"Không tìm thấy hồ sơ {ma}")
            else:
                self._progress[ma].append(copy.deepcopy(body))
                self._touch(ma, None)
                answer = {"MaHoSo": ma, "SoThuTu": len(self._progress[ma]), "duplicate": False}
                if key is not None:
                    self._answers[key] = answer
        self.record(request, idempotency_key=key, operation="progress", arguments=body)
        return _ok(answer)

    def _lookup(self, request: SandboxRequest, body: dict[str, Any]) -> SandboxResponse:
        ma, number = body.get("MaHoSo"), body.get("SoDinhDanh")
        if (ma is None) == (number is None):
            return _error("VALIDATION_FAILED", "Cần đúng một trong MaHoSo, SoDinhDanh")
        if number is not None:
            cccd = CCCD.fullmatch(str(number))
            valid = (cccd and 1 <= int(cccd.group(1)) <= 96) or CMND.fullmatch(str(number))
            if not valid:
                return _error("VALIDATION_FAILED", f"SoDinhDanh '{number}' không hợp lệ")
        with self._state:
            if ma is not None:
                found = [self._dossiers[ma]] if ma in self._dossiers else []
            else:
                found = [d for d in self._dossiers.values() if number in _id_numbers(d)]
            found = copy.deepcopy(sorted(found, key=lambda d: d["MaHoSo"]))
        self.record(request, operation="lookup", arguments={"channel": body.get("channel")})
        return _ok(found)

    def _changes(self, request: SandboxRequest) -> SandboxResponse:
        query = {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        since = _stamp(query["since"]) if query.get("since") else None
        if query.get("since") and since is None:
            return _error("VALIDATION_FAILED", f"since phải theo định dạng {STAMP}")
        try:
            limit = int(query.get("limit") or 50)
            after = _decode_cursor(query["cursor"]) if query.get("cursor") else None
        except ValueError:
            return _error("VALIDATION_FAILED", "limit hoặc cursor không hợp lệ")
        if not 1 <= limit <= 500:
            return _error("VALIDATION_FAILED", "limit phải từ 1 đến 500")
        with self._state:
            keys = sorted((t, ma) for ma, t in self._changed.items())
            keys = [
                k for k in keys if (since is None or k[0] >= since) and (not after or k > after)
            ]
            page = keys[:limit]
            items = [
                {**copy.deepcopy(self._dossiers[ma]), CHANGED_FIELD: t.strftime(STAMP)}
                for t, ma in page
            ]
        following = _encode_cursor(page[-1]) if len(keys) > limit else None
        self.record(request, operation="changes", arguments=query)
        return _ok({"items": items, "next_cursor": following})


def _ok(data: Any) -> SandboxResponse:
    return SandboxResponse.json(200, {"code": "0", "message": "Thành công", "data": data})


def _error(code: str, message: str, **headers: str) -> SandboxResponse:
    return SandboxResponse.json(
        ERROR_STATUS.get(code, 400), {"code": code, "message": message}, **headers
    )


def _stamp(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), STAMP).replace(tzinfo=LOCAL_TZ)
    except ValueError:
        return None


def _id_numbers(dossier: Mapping[str, Any]) -> set[str]:
    found = {str(dossier.get("SoGiayToChuHoSo") or "")}
    found |= {str(i.get("SoDinhDanh")) for i in dossier.get("DinhDanhCHS") or []}
    return found - {""}


def _encode_cursor(key: tuple[datetime, str]) -> str:
    raw = f"{key[0].strftime(STAMP)}|{key[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, _, ma = base64.urlsafe_b64decode(cursor.encode("ascii")).decode().partition("|")
    except (binascii.Error, UnicodeError) as exc:
        raise ValueError("bad cursor") from exc
    moment = _stamp(stamp)
    if moment is None or not ma:
        raise ValueError("bad cursor")
    return moment, ma
