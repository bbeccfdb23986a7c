"""EMC, the national system measuring the use of online public services, collecting a province's
tracking records: the target of the ``emc`` connector.

Public (REFERENCE.md): a POST of tracking records carrying the province code ``LOCATION``. The
rest is invented and matches the connector:

* ``POST /api/tracking`` takes a JSON array of records (objects). Every record must carry
  ``LOCATION`` (a non-empty string); other fields (``MaTTHC``, ``MaHoSo``, ``Kenh``,
  ``ThoiGian``, ``LoaiSuKien`` …) are kept as they are. A batch is taken whole or refused
  whole: ``200 {"status": "success", "accepted": n}``. A request whose ``Idempotency-Key`` was
  seen is answered the same with ``"duplicate": true`` and counted once.
* ``GET /api/tracking`` answers the records counted per ``LOCATION`` (``HEAD``: the same
  status without a body, a cheap credentials probe).
* Auth: ``Authorization: Bearer <token>``, else ``401 UNAUTHORIZED``.
* Errors are ``{"status": "error", "errorCode", "message"}``: ``400 INVALID_RECORD`` (not an
  array of objects, or empty), ``400 MISSING_LOCATION`` (the message names the first record
  without one), ``413 BATCH_TOO_LARGE`` (over ``max_batch``), ``401 UNAUTHORIZED``; the
  ``error_code`` fault answers any code with the status of ``ERROR_STATUS`` (``RATE_LIMITED``
  429, ``SYSTEM_ERROR`` 500; unknown codes 400).

Accepted batches are recorded with their ``Idempotency-Key`` (``arguments``: ``{"records": n}``);
refusals and queries are not. Python API: ``records`` (every counted record), ``counts``
(records per ``LOCATION``).
"""

from __future__ import annotations

import copy
import hmac
import json
import threading
from collections import Counter
from typing import Any

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["ERROR_STATUS", "EmcCollector"]

PATH = "/api/tracking"
ERROR_STATUS = {
    "INVALID_RECORD": 400,
    "MISSING_LOCATION": 400,
    "UNAUTHORIZED": 401,
    "BATCH_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "SYSTEM_ERROR": 500,
}


class EmcCollector(SandboxServer):
    kind = "emc"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str = "emc-sandbox-token",
        max_batch: int = 1000,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.token = token
        self.max_batch = max_batch
        self._records: list[dict[str, Any]] = []
        self._batch_keys: set[str] = set()  # Idempotency-Keys of the batches counted
        self._state_lock = threading.Lock()

    @property
    def records(self) -> list[dict[str, Any]]:
        with self._state_lock:
            return copy.deepcopy(self._records)

    @property
    def counts(self) -> dict[str, int]:
        """Records counted per province code (``LOCATION``)."""
        with self._state_lock:
            return dict(Counter(r["LOCATION"] for r in self._records))

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path != PATH:
            return _error("NOT_FOUND", "Không tìm thấy API", status=404)
        if not self._authorised(request):
            return _error("UNAUTHORIZED", "Token không hợp lệ")
        if request.method in ("GET", "HEAD"):
            return SandboxResponse.json(200, {"status": "success", "counts": self.counts})
        if request.method != "POST":
            return _error("METHOD_NOT_ALLOWED", "Chỉ hỗ trợ GET, POST", status=405)
        try:
            records = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            records = None
        if not isinstance(records, list) or not records:
            return _error("INVALID_RECORD", "Dữ liệu phải là một mảng bản ghi không rỗng")
        if len(records) > self.max_batch:
            return _error("BATCH_TOO_LARGE", f"Tối đa {self.max_batch} bản ghi mỗi lần gửi")
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                return _error("INVALID_RECORD", f"Bản ghi {index} không phải đối tượng")
            location = record.get("LOCATION")
            if not isinstance(location, str) or not location.strip():
                return _error("MISSING_LOCATION", f"Bản ghi {index} thiếu LOCATION")
        key = request.headers.get("idempotency-key")
        with self._state_lock:
            duplicate = key is not None and key in self._batch_keys
            if not duplicate:
                self._records.extend(copy.deepcopy(records))
                if key is not None:
                    self._batch_keys.add(key)
        self.record(
            request, idempotency_key=key, operation="track", arguments={"records": len(records)}
        )
        answer: dict[str, Any] = {"status": "success", "accepted": len(records)}
        if duplicate:
            answer["duplicate"] = True
        return SandboxResponse.json(200, answer)

    def partner_error(self, code: str) -> SandboxResponse:
        return _error(code, "Lỗi giả lập (injected)")

    def _authorised(self, request: SandboxRequest) -> bool:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return False
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())


def _error(code: str, message: str, *, status: int | None = None) -> SandboxResponse:
    return SandboxResponse.json(
        status or ERROR_STATUS.get(code, 400),
        {"status": "error", "errorCode": code, "message": message},
    )
