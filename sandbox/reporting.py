"""The Government reporting system receiving a province's periodic reports: the target of the
``reporting`` connector.

REFERENCE.md says only that the provincial reporting system (HTTT báo cáo) sends reports on to
the Government reporting system. This contract is invented and matches the connector:

* ``POST /api/baocao`` takes one report, a JSON object: ``MaBaoCao`` (report code, ≤ 50
  characters), ``KyBaoCao`` (period: ``YYYY``, ``YYYY-H1|H2``, ``YYYY-Q1..Q4``, ``YYYY-01..12``),
  ``MaDonVi`` (an agency code such as ``000.00.00.H49`` or, after 2025, ``H56.14``),
  ``ChiTieu`` (a non-empty list of ``{Ma, GiaTri, DonViTinh}``: ``Ma`` unique text, ``GiaTri``
  a number or text, ``DonViTinh`` optional text). A report is kept by (``MaBaoCao``,
  ``KyBaoCao``, ``MaDonVi``): the first submission is ``201 {"status": "accepted", "replaced":
  false, "version": 1}``, a later one replaces it, ``200 {… "replaced": true, "version": n}``.
  A request whose ``Idempotency-Key`` was seen is a redelivery: answered ``200`` with the
  version it made, ``"duplicate": true``, nothing replaced.
* ``GET /api/baocao?MaBaoCao=&KyBaoCao=&MaDonVi=`` lists the kept reports matching the given
  fields (``HEAD`` answers the same status without a body: a cheap credentials probe).
* Auth: ``Authorization: Bearer <token>``; otherwise ``401`` ``INVALID_TOKEN`` with
  ``WWW-Authenticate``.
* Errors are ``{"error": {"code", "message", "errors"?}}``: ``422 VALIDATION_FAILED`` (``errors``
  names each field: ``ChiTieu[2].GiaTri``), ``409 PERIOD_LOCKED`` (a period closed with
  ``lock_period()``: no more submissions or replacements), ``401 INVALID_TOKEN``; the
  ``error_code`` fault answers any code with the status of ``ERROR_STATUS`` (``SYSTEM_BUSY``
  503, ``INTERNAL_ERROR`` 500; unknown codes 400).

Accepted submissions (replacements and redeliveries too) are recorded with their
``Idempotency-Key``; refusals and queries are not. Python API: ``report(code, period, agency)``,
``reports``, ``lock_period(code, period)``.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
from typing import Any
from urllib.parse import parse_qs

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["ERROR_STATUS", "PERIOD", "ReportingSystem"]

PATH = "/api/baocao"
KEY = ("MaBaoCao", "KyBaoCao", "MaDonVi")
PERIOD = re.compile(r"\d{4}(?:-(?:0[1-9]|1[0-2]|Q[1-4]|H[12]))?")
AGENCY = re.compile(r"[0-9A-Z]{2,3}(?:\.[0-9A-Z]{2,3}){0,3}")
ERROR_STATUS = {
    "INVALID_TOKEN": 401,
    "PERIOD_LOCKED": 409,
    "VALIDATION_FAILED": 422,
    "INTERNAL_ERROR": 500,
    "SYSTEM_BUSY": 503,
}


class ReportingSystem(SandboxServer):
    kind = "reporting"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "reporting-sandbox-token",
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.token = token
        self._reports: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._answers: dict[str, dict[str, Any]] = {}  # by Idempotency-Key
        self._locked: set[tuple[str, str]] = set()
        self._state_lock = threading.Lock()

    # --- Python API -------------------------------------------------------------------------
    @property
    def reports(self) -> list[dict[str, Any]]:
        """Every kept report: ``{"report": <as last submitted>, "version": n}`` (copies)."""
        with self._state_lock:
            return [copy.deepcopy(r) for r in self._reports.values()]

    def report(self, code: str, period: str, agency: str) -> dict[str, Any] | None:
        with self._state_lock:
            found = self._reports.get((code, period, agency))
            return copy.deepcopy(found) if found else None

    def lock_period(self, code: str, period: str) -> None:
        """Close a reporting period of a report, as the Government office does after its
        deadline: every agency's further submission is refused ``PERIOD_LOCKED``."""
        with self._state_lock:
            self._locked.add((code, period))

    # --- protocol ---------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path != PATH:
            return _error("NOT_FOUND", "Không tìm thấy API", status=404)
        if not self._authorised(request):
            return _error(
                "INVALID_TOKEN",
                "Token không hợp lệ",
                **{"WWW-Authenticate": 'Bearer realm="baocao"'},
            )
        if request.method in ("GET", "HEAD"):
            return self._query(request)
        if request.method != "POST":
            return _error("METHOD_NOT_ALLOWED", "Chỉ hỗ trợ GET, POST", status=405)
        try:
            report = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            report = None
        if not isinstance(report, dict):
            return _error("VALIDATION_FAILED", "Báo cáo phải là đối tượng JSON")
        errors = _invalid(report)
        if errors:
            return _error("VALIDATION_FAILED", "Báo cáo không hợp lệ", errors=errors)
        return self._submit(request, report)

    def partner_error(self, code: str) -> SandboxResponse:
        return _error(code, "Lỗi giả lập (injected)")

    def _submit(self, request: SandboxRequest, report: dict[str, Any]) -> SandboxResponse:
        key: tuple[str, str, str] = (report["MaBaoCao"], report["KyBaoCao"], report["MaDonVi"])
        idempotency_key = request.headers.get("idempotency-key")
        with self._state_lock:
            earlier = self._answers.get(idempotency_key) if idempotency_key else None
            if earlier is not None:
                status, answer = 200, {**earlier, "replaced": False, "duplicate": True}
            elif key[:2] in self._locked:
                return _error("PERIOD_LOCKED", f"Kỳ báo cáo {key[1]} của {key[0]} đã khóa")
            else:
                kept = self._reports.get(key)
                version = kept["version"] + 1 if kept else 1
                self._reports[key] = {"report": copy.deepcopy(report), "version": version}
                status = 200 if kept else 201
                answer = {
                    "status": "accepted",
                    **dict(zip(KEY, key, strict=True)),
                    "replaced": kept is not None,
                    "version": version,
                    "duplicate": False,
                }
                if idempotency_key:
                    self._answers[idempotency_key] = answer
        self.record(request, idempotency_key=idempotency_key, operation="submit", arguments=report)
        return SandboxResponse.json(status, answer)

    def _query(self, request: SandboxRequest) -> SandboxResponse:
        wanted = {k: v[0] for k, v in parse_qs(request.query).items() if k in KEY}
        with self._state_lock:
            found = [
                copy.deepcopy(r)
                for key, r in self._reports.items()
                if all(dict(zip(KEY, key, strict=True))[k] == v for k, v in wanted.items())
            ]
        return SandboxResponse.json(200, {"count": len(found), "reports": found})

    def _authorised(self, request: SandboxRequest) -> bool:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())


def _invalid(report: dict[str, Any]) -> list[dict[str, str]]:
    """Every rule the report breaks, as ``{field, message}``."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    code, period, agency = (report.get(k) for k in KEY)
    if not isinstance(code, str) or not 0 < len(code.strip()) <= 50:
        bad("MaBaoCao", "bắt buộc, tối đa 50 ký tự")
    if not isinstance(period, str) or not PERIOD.fullmatch(period):
        bad("KyBaoCao", "kỳ báo cáo phải là YYYY, YYYY-H1/H2, YYYY-Q1..Q4 hoặc YYYY-MM")
    if not isinstance(agency, str) or not AGENCY.fullmatch(agency):
        bad("MaDonVi", "mã đơn vị không đúng định dạng")
    indicators = report.get("ChiTieu")
    if not isinstance(indicators, list) or not indicators:
        bad("ChiTieu", "cần ít nhất một chỉ tiêu")
        return errors
    seen: set[str] = set()
    for i, item in enumerate(indicators):
        where = f"ChiTieu[{i}]"
        if not isinstance(item, dict):
            bad(where, "chỉ tiêu phải là đối tượng")
            continue
        ma, value, unit = item.get("Ma"), item.get("GiaTri"), item.get("DonViTinh")
        if not isinstance(ma, str) or not ma.strip():
            bad(f"{where}.Ma", "bắt buộc")
        elif ma in seen:
            bad(f"{where}.Ma", f"chỉ tiêu {ma} bị lặp")
        else:
            seen.add(ma)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            bad(f"{where}.GiaTri", "phải là số hoặc văn bản")
        if unit is not None and not isinstance(unit, str):
            bad(f"{where}.DonViTinh", "phải là văn bản")
    return errors


def _error(
    code: str,
    message: str,
    *,
    status: int | None = None,
    errors: list[dict[str, str]] | None = None,
    **headers: str,
) -> SandboxResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if errors:
        error["errors"] = errors
    return SandboxResponse.json(status or ERROR_STATUS.get(code, 400), {"error": error}, **headers)
