"""The National Public Service Portal (DVCQG) as a provincial one-stop system sees it: a session
login, one service endpoint, dossiers and their progress kept in memory, a small catalogue.

Contract (REFERENCE.md, "National Public Service Portal (DVCQG) integration" and its corrections):

* ``POST /dvcqg/login`` (``login_url``) with header ``dstcode`` and ``{username, password}`` →
  ``{error_code: 0, message, session}``. A wrong username, password or ``dstcode`` is answered
  HTTP 200 ``{error_code: -4, message}``. Sessions live ``session_ttl`` seconds;
  ``expire_sessions()`` ends them all at once.
* ``POST /dvcqg/service`` (``service_url``) with ``{session, madonvi, service, …}`` →
  ``{error_code, message, result}``. ``madonvi`` must be the account's own agency.
* ``DongBoHoSoMC`` (``isUpdating`` true/false, also "True"/"False"; ``data: […]``): every
  dossier of the batch is validated first, and one invalid dossier refuses the whole batch
  (nothing stored). An insert stores the new dossiers; if some already existed it answers
  ``exists_code`` (3 or -3) naming them and leaves those unchanged, so resending the same batch
  with ``isUpdating: true`` completes it. An update needs every dossier to exist (else 2,
  nothing changed) and replaces each whole record.
* ``CapNhatTienDoHoSoMC`` (``data``: a list, or one object as the hub's mappings write it):
  each entry needs ``MaHoSo`` (a known dossier), ``TrangThai`` 1..10 and ``ThoiDiemXuLy``; it is
  appended to that dossier's progress.
* ``TraCuuHoSo`` (``MaHoSo``, any case) → ``result: [dossier + DanhSachTienDo]`` (empty when
  unknown); ``LayThuTuc`` (``maTTHC``), ``LayDanhSachTTHC`` (optional ``maLinhVuc``),
  ``LayDanhMucCoQuan``, ``LayDanhMucLinhVuc`` answer a seeded catalogue (procedure codes embed
  agency codes; agencies in the old four-level form and the newer short one).
* Validation (error code 1, the message names the field and echoes the value as real portals
  do, so a connector must mask what it quotes): ``MaHoSo``, ``MaTTHC`` required;
  ``TrangThaiHoSo`` 1..10, ``LoaiDoiTuong`` 1..4, ``HinhThuc`` 0/1 (numbers or digit strings);
  dates ``yyyyMMddHHmmss`` ("" or null = absent); flags 0/1 or booleans;
  ``DinhDanhCHS[]{LoaiDinhDanh 1=CCCD (12 digits), 2=CMND (9 or 12)}``.
* ``success_code``: ``0`` (every code answered as a number) or ``"00"`` (every code a string).

Invented, because REFERENCE.md does not say (the connector makes each one configuration): the
two paths; the codes -1 (system error, only through faults), -2 (session unknown or expired),
-4 (login or ``madonvi`` refused), 1 (validation), 2 (unknown dossier), 5 (unknown service);
the shape of ``result``; the batch rules above; HTTP 400 for a body that is not a JSON object.

Ledger: accepted service calls are ``record()``-ed with their ``Idempotency-Key`` header (the
portal ignores it; the ledger uses it to count redeliveries); logins are counted in
``login_count``, not recorded. Faults (``sandbox.server``) apply to every request; the
``error_code`` fault answers ``{"error_code": code, "message": …}`` with HTTP 200.

Python API: ``portal.dossiers``, ``portal.progress(ma_ho_so)``, ``portal.login_count``,
``portal.expire_sessions()``, ``portal.login_url``, ``portal.service_url``.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import secrets
import threading
import time
from datetime import datetime
from typing import Any

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = [
    "AGENCIES",
    "FIELDS",
    "LOGIN_PATH",
    "PROCEDURES",
    "SERVICE_PATH",
    "DvcqgPortal",
    "Refused",
    "check_dossier",
    "check_progress",
]

LOGIN_PATH = "/dvcqg/login"
SERVICE_PATH = "/dvcqg/service"
VALIDATION, NOT_FOUND, UNKNOWN_SERVICE = 1, 2, 5
SESSION_EXPIRED, REFUSED = -2, -4
DATE_FIELDS = (
    "NgayTiepNhan",
    "NgayHenTra",
    "NgayTra",
    "NgayKetThucXuLy",
    "NgayTuChoi",
    "NgayNopHoSo",
    "NgayYeuCauBoSung",
)
FLAG_FIELDS = ("UyQuyen", "TaiKhoanDuocXacThucVoiVNeID", "DuocThanhToanTrucTuyen")
LIST_FIELDS = (
    "TaiLieuNop",
    "DanhSachLePhi",
    "DanhSachHoSoBoSung",
    "DanhSachGiayToKetQua",
    "DinhDanhCHS",
)
FIELDS = frozenset(
    {
        *("MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "KenhThucHien", "ChuHoSo"),
        *("SoGiayToChuHoSo", "LoaiDoiTuong", "Email", "SoDienThoai", "TrichYeuHoSo"),
        *("TrangThaiHoSo", "HinhThuc", "DonViXuLy", "MaHoSoKhac", "EmailNguoiUyQuyen"),
        *("NoiNopHoSo", "MaDoiTuong", "MaKetQuaChinh"),
        *DATE_FIELDS,
        *FLAG_FIELDS,
        *LIST_FIELDS,
    }
)
LINH_VUC = {"HT": "Hộ tịch", "CT": "Chứng thực", "LLTP": "Lý lịch tư pháp"}
AGENCIES = [
    {"MACOQUAN": "000.00.00.H57", "TENCOQUAN": "Ủy ban nhân dân thành phố Huế", "MACOQUANCHA": ""},
    {"MACOQUAN": "000.00.12.H57", "TENCOQUAN": "Sở Tư pháp", "MACOQUANCHA": "000.00.00.H57"},
    {"MACOQUAN": "000.00.20.H57", "TENCOQUAN": "Ủy ban nhân dân huyện (cũ)", "MACOQUANCHA": ""},
    {
        "MACOQUAN": "000.05.20.H57",
        "TENCOQUAN": "Ủy ban nhân dân xã (cũ)",
        "MACOQUANCHA": "000.00.20.H57",
    },
    {"MACOQUAN": "H57.14", "TENCOQUAN": "Ủy ban nhân dân phường", "MACOQUANCHA": "000.00.00.H57"},
]
PROCEDURES = [
    ("1.000656.000.00.00.H29", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", "CT", "H57.14"),
    ("2.000815.000.00.00.H57", "Cấp Phiếu lý lịch tư pháp cho công dân", "LLTP", "000.00.12.H57"),
    ("1.001193.000.00.00.H57", "Đăng ký khai sinh", "HT", "000.05.20.H57"),
]
_DIGITS = re.compile(r"[0-9]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9 .()-]{8,20}")


class Refused(Exception):
    """A request the portal answers with an error code (HTTP 200)."""

    def __init__(self, code: int, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.result = code, message, result


class DvcqgPortal(SandboxServer):
    kind = "dvcqg"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str = "lgsp-h57",
        password: str = "dvcqg-sandbox-secret",
        dstcode: str = "H57",
        madonvi: str = "000.00.00.H57",
        session_ttl: float = 1800.0,
        success_code: int | str = 0,
        exists_code: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        if success_code not in (0, "00"):
            raise ValueError("success_code is 0 or '00'")
        if exists_code not in (None, 3, -3, "3", "-3"):
            raise ValueError("exists_code is 3, -3, '3' or '-3'")
        self.username, self.password, self.dstcode = username, password, dstcode
        self.madonvi, self.session_ttl = madonvi, session_ttl
        self.success_code = success_code
        self.exists_code = self._code(3) if exists_code is None else exists_code
        self._state = threading.Lock()
        self._sessions: dict[str, float] = {}
        self._dossiers: dict[str, dict[str, Any]] = {}
        self._progress: dict[str, list[dict[str, Any]]] = {}
        self._logins = 0

    # --- Python API ------------------------------------------------------------------------
    @property
    def login_url(self) -> str:
        return self.url + LOGIN_PATH

    @property
    def service_url(self) -> str:
        return self.url + SERVICE_PATH

    @property
    def dossiers(self) -> dict[str, dict[str, Any]]:
        """The stored dossiers by ``MaHoSo`` (a deep copy)."""
        with self._state:
            return copy.deepcopy(self._dossiers)

    def progress(self, ma_ho_so: str) -> list[dict[str, Any]]:
        with self._state:
            return copy.deepcopy(self._progress.get(ma_ho_so, []))

    @property
    def login_count(self) -> int:
        """Successful logins so far."""
        with self._state:
            return self._logins

    def expire_sessions(self) -> None:
        """End every session now: the next call with one is answered "session expired"."""
        with self._state:
            self._sessions.clear()

    # --- protocol ----------------------------------------------------------------------------
    def partner_error(self, code: str) -> SandboxResponse:
        value: int | str = int(code) if self.success_code == 0 and _is_int(code) else code
        return SandboxResponse.json(200, {"error_code": value, "message": "Lỗi hệ thống"})

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path not in (LOGIN_PATH, SERVICE_PATH):
            return SandboxResponse.json(404, {"error": "not_found"})
        if request.method != "POST":
            return SandboxResponse.json(405, {"error": "method_not_allowed"}, Allow="POST")
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return SandboxResponse.json(400, {"error": "bad_request"})
        try:
            if request.path == LOGIN_PATH:
                return self._answer(0, "Đăng nhập thành công", session=self._login(request, body))
            self._authorise(body)
            service = body.get("service")
            handler = (
                getattr(self, f"_service_{service}", None) if isinstance(service, str) else None
            )
            if handler is None:
                raise Refused(UNKNOWN_SERVICE, f"Dịch vụ {str(service)[:40]!r} không tồn tại")
            message, result = handler(body)
        except Refused as refused:
            return self._answer(refused.code, refused.message, result=refused.result)
        self.record(
            request,
            idempotency_key=request.headers.get("idempotency-key"),
            operation=service,
            arguments={"isUpdating": body.get("isUpdating")} if "isUpdating" in body else {},
        )
        return self._answer(0, message, result=result)

    def _login(self, request: SandboxRequest, body: dict[str, Any]) -> str:
        given = [request.headers.get("dstcode", ""), body.get("username"), body.get("password")]
        wanted = [self.dstcode, self.username, self.password]
        ok = all(
            isinstance(g, str) and hmac.compare_digest(g.encode(), w.encode())
            for g, w in zip(given, wanted, strict=True)
        )
        if not ok:
            raise Refused(REFUSED, "Đăng nhập không thành công: sai tài khoản, mật khẩu hoặc mã")
        session = secrets.token_urlsafe(24)
        with self._state:
            self._sessions[session] = time.monotonic() + self.session_ttl
            self._logins += 1
        return session

    def _authorise(self, body: dict[str, Any]) -> None:
        session = body.get("session")
        with self._state:
            expires = self._sessions.get(session) if isinstance(session, str) else None
            if expires is not None and expires <= time.monotonic():
                del self._sessions[session]
                expires = None
        if expires is None:
            raise Refused(SESSION_EXPIRED, "Phiên làm việc không hợp lệ hoặc đã hết hạn")
        if body.get("madonvi") != self.madonvi:
            raise Refused(REFUSED, "Tài khoản không được phép gửi cho mã đơn vị này")

    def _answer(self, code: int, message: str, **extra: Any) -> SandboxResponse:
        value = self.exists_code if code == 3 else self._code(code)
        answer = {"error_code": value, "message": message}
        answer.update({k: v for k, v in extra.items() if v is not None})
        return SandboxResponse.json(200, answer)

    def _code(self, code: int) -> int | str:
        if code == 0:
            return self.success_code
        return code if self.success_code == 0 else str(code)

    # --- services ----------------------------------------------------------------------------
    def _service_DongBoHoSoMC(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        updating = body.get("isUpdating", False)
        if isinstance(updating, str) and updating.lower() in ("true", "false"):
            updating = updating.lower() == "true"
        if not isinstance(updating, bool):
            raise Refused(VALIDATION, f"isUpdating: giá trị {updating!r} không hợp lệ")
        data = body.get("data")
        if not isinstance(data, list) or not data:
            raise Refused(VALIDATION, "data: cần một danh sách hồ sơ")
        for n, dossier in enumerate(data):
            check_dossier(dossier, f"data[{n}]")
        codes = [d["MaHoSo"] for d in data]
        with self._state:
            known = [c for c in codes if c in self._dossiers]
            if updating and len(known) < len(codes):
                missing = [c for c in codes if c not in self._dossiers]
                raise Refused(NOT_FOUND, f"Hồ sơ chưa tồn tại: {', '.join(missing[:5])}")
            for dossier in data:
                if updating or dossier["MaHoSo"] not in known:
                    self._dossiers[dossier["MaHoSo"]] = copy.deepcopy(dossier)
        if known and not updating:
            result = [
                {"MaHoSo": c, "KetQua": "DaTonTai" if c in known else "ThemMoi"} for c in codes
            ]
            raise Refused(3, f"Hồ sơ đã tồn tại: {', '.join(known[:5])}", result)
        outcome = "CapNhat" if updating else "ThemMoi"
        return "Đồng bộ thành công", [{"MaHoSo": c, "KetQua": outcome} for c in codes]

    def _service_CapNhatTienDoHoSoMC(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        data = body.get("data")
        entries = [data] if isinstance(data, dict) else data
        if not isinstance(entries, list) or not entries:
            raise Refused(VALIDATION, "data: cần tiến độ xử lý")
        for n, entry in enumerate(entries):
            check_progress(entry, f"data[{n}]")
        with self._state:
            missing = [e["MaHoSo"] for e in entries if e["MaHoSo"] not in self._dossiers]
            if missing:
                raise Refused(NOT_FOUND, f"Hồ sơ chưa tồn tại: {', '.join(missing[:5])}")
            for entry in entries:
                self._progress.setdefault(entry["MaHoSo"], []).append(copy.deepcopy(entry))
        return "Cập nhật tiến độ thành công", [{"MaHoSo": e["MaHoSo"]} for e in entries]

    def _service_TraCuuHoSo(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        code = _param(body, "MaHoSo")
        with self._state:
            dossier = self._dossiers.get(code) if isinstance(code, str) else None
            found = copy.deepcopy(dossier) if dossier else None
            if found is not None:
                found["DanhSachTienDo"] = copy.deepcopy(self._progress.get(code, []))
        return "Thành công", [found] if found else []

    def _service_LayThuTuc(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        code = _param(body, "maTTHC")
        return "Thành công", [_procedure(p) for p in PROCEDURES if p[0] == code]

    def _service_LayDanhSachTTHC(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        field = _param(body, "maLinhVuc")
        return "Thành công", [_procedure(p) for p in PROCEDURES if field in (None, "", p[2])]

    def _service_LayDanhMucCoQuan(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        return "Thành công", copy.deepcopy(AGENCIES)

    def _service_LayDanhMucLinhVuc(self, body: dict[str, Any]) -> tuple[str, Any]:  # noqa: N802
        return "Thành công", [{"MALINHVUC": k, "TENLINHVUC": v} for k, v in LINH_VUC.items()]


# --- validation --------------------------------------------------------------------------------
def check_dossier(dossier: Any, where: str) -> None:
    """Refuse (code 1) a dossier the portal would not take, naming the field."""
    if not isinstance(dossier, dict):
        raise Refused(VALIDATION, f"{where}: hồ sơ phải là một đối tượng")
    for field in ("MaHoSo", "MaTTHC"):
        _required_text(dossier, field, where)
    _number_in(dossier, "TrangThaiHoSo", range(1, 11), where)
    _number_in(dossier, "LoaiDoiTuong", range(1, 5), where)
    _number_in(dossier, "HinhThuc", range(0, 2), where)
    for field in DATE_FIELDS:
        _date(dossier, field, where)
    for field in FLAG_FIELDS:
        _flag(dossier, field, where)
    _matches(dossier, "Email", _EMAIL, where)
    _matches(dossier, "EmailNguoiUyQuyen", _EMAIL, where)
    _matches(dossier, "SoDienThoai", _PHONE, where)
    for field in LIST_FIELDS:
        items = dossier.get(field)
        if items is not None and not (
            isinstance(items, list) and all(isinstance(i, dict) for i in items)
        ):
            raise Refused(VALIDATION, f"{where}.{field}: phải là danh sách đối tượng")
    for n, document in enumerate(dossier.get("TaiLieuNop") or []):
        for flag in ("DuocSoHoa", "DuocTaiSuDung", "DuocLayTuKhoDMQG"):
            _flag(document, flag, f"{where}.TaiLieuNop[{n}]")
    for n, identity in enumerate(dossier.get("DinhDanhCHS") or []):
        _identity(identity, f"{where}.DinhDanhCHS[{n}]")


def check_progress(entry: Any, where: str) -> None:
    if not isinstance(entry, dict):
        raise Refused(VALIDATION, f"{where}: tiến độ phải là một đối tượng")
    _required_text(entry, "MaHoSo", where)
    if entry.get("TrangThai") in (None, ""):
        raise Refused(VALIDATION, f"{where}.TrangThai: bắt buộc")
    _number_in(entry, "TrangThai", range(1, 11), where)
    if not entry.get("ThoiDiemXuLy"):
        raise Refused(VALIDATION, f"{where}.ThoiDiemXuLy: bắt buộc")
    for field in ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh"):
        _date(entry, field, where)


def _required_text(record: dict[str, Any], field: str, where: str) -> None:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise Refused(VALIDATION, f"{where}.{field}: bắt buộc")


def _number_in(record: dict[str, Any], field: str, allowed: range, where: str) -> None:
    value = record.get(field)
    if value is None or value == "":
        return
    number = int(value) if isinstance(value, str) and _is_int(value) else value
    if isinstance(number, bool) or not isinstance(number, int) or number not in allowed:
        raise Refused(VALIDATION, f"{where}.{field}: giá trị {value!r} không hợp lệ")


def _date(record: dict[str, Any], field: str, where: str) -> None:
    value = record.get(field)
    if value is None or value == "":
        return
    try:
        if not (isinstance(value, str) and len(value) == 14 and value.isdigit()):
            raise ValueError
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise Refused(
            VALIDATION, f"{where}.{field}: {str(value)[:40]!r} không đúng định dạng yyyyMMddHHmmss"
        ) from None


def _flag(record: dict[str, Any], field: str, where: str) -> None:
    value = record.get(field)
    if value is not None and value not in (0, 1, "0", "1"):  # True == 1, False == 0
        raise Refused(VALIDATION, f"{where}.{field}: giá trị {value!r} không hợp lệ (0 hoặc 1)")


def _matches(record: dict[str, Any], field: str, pattern: re.Pattern[str], where: str) -> None:
    value = record.get(field)
    if value in (None, ""):
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Refused(VALIDATION, f"{where}.{field}: {str(value)[:60]!r} không hợp lệ")


def _identity(identity: dict[str, Any], where: str) -> None:
    kind, number = identity.get("LoaiDinhDanh"), identity.get("SoDinhDanh")
    kind = int(kind) if isinstance(kind, str) and _is_int(kind) else kind
    lengths = {1: (12,), 2: (9, 12)}.get(kind) if not isinstance(kind, bool) else None
    if lengths is None:
        raise Refused(VALIDATION, f"{where}.LoaiDinhDanh: giá trị {kind!r} không hợp lệ")
    if not (isinstance(number, str) and _DIGITS.fullmatch(number) and len(number) in lengths):
        name = "CCCD" if kind == 1 else "CMND"
        raise Refused(VALIDATION, f"{where}.SoDinhDanh: {str(number)[:20]!r} không phải số {name}")


def _is_int(text: str) -> bool:
    return bool(re.fullmatch(r"-?[0-9]+", text))


def _param(body: dict[str, Any], name: str) -> Any:
    """A call parameter whatever its case (``maTTHC``, ``MaTTHC``, ``mahoso`` are all seen)."""
    return next((v for k, v in body.items() if k.lower() == name.lower()), None)


def _procedure(entry: tuple[str, str, str, str]) -> dict[str, Any]:
    code, name, field, agency = entry
    agency_name = next(a["TENCOQUAN"] for a in AGENCIES if a["MACOQUAN"] == agency)
    return {
        "MATTHC": code,
        "TENTTHC": name,
        "LINHVUCTHUCHIEN": [{"MALINHVUC": field, "TENLINHVUC": LINH_VUC[field]}],
        "COQUANTHUCHIEN": [{"MACOQUAN": agency, "TENCOQUAN": agency_name}],
    }
