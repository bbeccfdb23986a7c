"""An SMS brandname gateway: the target of the ``sms`` connector.

REFERENCE.md names the SMS gateway as a provincial partner and gives no protocol; Vietnamese
gateways each have their own. This contract is invented, modelled on their common traits
(HTTP Basic account credentials, a registered brandname, numbers as ``84xxxxxxxxx``, a
``unicode`` flag, numeric result codes answered with HTTP 200), and matches the connector's
defaults:

* ``POST /sms/send`` with JSON ``{brandname, phone, text, unicode, request_id}`` →
  HTTP 200 ``{"code": "100", "description", "message_id", "phone", "segments"}``. The gateway
  counts segments itself (GSM-7 160/153 characters, extension characters twice; UCS-2 70/67)
  and echoes the number, as real gateways do. ``request_id`` is its idempotency key: the same
  message again gets the same answer (recorded as a duplicate, not sent twice).
* ``GET /account/balance`` → ``{"code": "100", "quota_remaining", "brandnames"}`` (what a
  connector's "test connection" probes).
* Refusals are HTTP 200 with the gateway's code and a Vietnamese ``description`` that, like
  real gateways', may quote the offending number: ``99`` system busy (fault only), ``102``
  account locked (``locked = True``), ``103`` quota exceeded (``quota`` segments left, None =
  unlimited), ``104`` brandname not registered or blocked (``block()``), ``105`` invalid number
  (not ``84`` + a 9-digit mobile number), ``106`` invalid content (empty, longer than
  ``max_segments``, or characters GSM-7 cannot carry with ``unicode`` false), ``108``
  ``request_id`` reused for another message, ``109`` malformed request.
* Auth: missing or wrong Basic credentials → HTTP 401 ``{"code": "101", "description"}`` with
  ``WWW-Authenticate: Basic``. Other paths 404, other methods 405.

Sent messages are kept in ``outbox`` (copies: ``message_id``, ``brandname``, ``phone``,
``text``, ``unicode``, ``segments``, ``request_id``, ``sent_at``) and recorded with the
idempotency key ``request_id`` (``operation`` ``send``); refusals are not recorded. Faults come
from ``SandboxServer``; ``error_code`` answers HTTP 200 ``{"code": <code>, "description"}``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["SmsGateway", "count_segments"]

SEND_PATH = "/sms/send"
BALANCE_PATH = "/account/balance"
MOBILE = re.compile(r"84[35789]\d{8}")
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")
DESCRIPTIONS = {  # the gateway's words for its codes (also for the error_code fault)
    "99": "Hệ thống đang bận, vui lòng thử lại sau",
    "101": "Sai tên đăng nhập hoặc mật khẩu",
    "102": "Tài khoản đã bị khóa",
    "103": "Vượt hạn mức gửi tin",
    "104": "Brandname chưa đăng ký hoặc đã bị chặn",
    "105": "Số điện thoại không hợp lệ",
    "106": "Nội dung tin nhắn không hợp lệ",
}


def count_segments(text: str, unicode: bool) -> int | None:
    """Segments ``text`` takes in the requested encoding; None when GSM-7 cannot carry it."""
    if not unicode:
        if any(c not in GSM7 and c not in GSM7_EXTENSION for c in text):
            return None
        septets = len(text) + sum(c in GSM7_EXTENSION for c in text)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


class SmsGateway(SandboxServer):
    kind = "sms-gateway"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str = "lgsp-province",
        password: str = "sms-sandbox-password",
        brandnames: Iterable[str] = ("UBND TINH",),
        quota: int | None = None,
        max_segments: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.username, self.password = username, password
        self.brandnames = tuple(brandnames)
        self.max_segments = max_segments
        self.quota = quota
        self.locked = False
        self._blocked: set[str] = set()
        self._outbox: list[dict[str, Any]] = []
        self._by_request: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._state_lock = threading.Lock()

    # --- Python API ---------------------------------------------------------------------------
    @property
    def outbox(self) -> list[dict[str, Any]]:
        """Every SMS sent, in order (copies)."""
        with self._state_lock:
            return copy.deepcopy(self._outbox)

    def block(self, brandname: str) -> None:
        """Have the carriers block a brandname (e.g. after spam complaints): code 104."""
        with self._state_lock:
            self._blocked.add(brandname)

    # --- protocol -----------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        allowed = {SEND_PATH: "POST", BALANCE_PATH: "GET"}.get(request.path)
        if allowed is None:
            return SandboxResponse.json(404, {"code": "404", "description": "Không tìm thấy API"})
        if request.method != allowed:
            return SandboxResponse.json(
                405, {"code": "405", "description": f"Chỉ hỗ trợ {allowed}"}, Allow=allowed
            )
        if not self._authorised(request.headers.get("authorization", "")):
            return SandboxResponse.json(
                401,
                {"code": "101", "description": "Sai tên đăng nhập hoặc mật khẩu"},
                **{"WWW-Authenticate": 'Basic realm="sms"'},
            )
        if self.locked:
            return _refusal("102", DESCRIPTIONS["102"])
        if request.path == BALANCE_PATH:
            with self._state_lock:
                quota = self.quota
            return SandboxResponse.json(
                200,
                {
                    "code": "100",
                    "description": "Thành công",
                    "quota_remaining": quota,
                    "brandnames": list(self.brandnames),
                },
            )
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _refusal("109", "Dữ liệu không phải đối tượng JSON")
        return self._send(request, body)

    def partner_error(self, code: str) -> SandboxResponse:
        return _refusal(code, DESCRIPTIONS.get(code, "Lỗi không xác định") + " (giả lập)")

    def _send(self, request: SandboxRequest, body: dict[str, Any]) -> SandboxResponse:
        brandname, phone, text = body.get("brandname"), body.get("phone"), body.get("text")
        unicode, request_id = body.get("unicode", False), body.get("request_id")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= 64:
            return _refusal("109", "Thiếu request_id (tối đa 64 ký tự)")
        if not isinstance(unicode, bool) or not isinstance(brandname, str):
            return _refusal("109", "Sai kiểu trường unicode hoặc brandname")
        with self._state_lock:
            blocked = brandname in self._blocked
        if brandname not in self.brandnames or blocked:
            return _refusal(
                "104", f"Brandname {brandname} chưa đăng ký hoặc đã bị chặn, không gửi tới {phone}"
            )
        if not isinstance(phone, str) or not MOBILE.fullmatch(phone):
            return _refusal("105", f"Số điện thoại {phone} không hợp lệ")
        if not isinstance(text, str) or not text.strip():
            return _refusal("106", "Nội dung tin nhắn rỗng")
        count = count_segments(text, unicode)
        if count is None:
            return _refusal("106", "Nội dung có ký tự không gửi được khi unicode = false")
        if count > self.max_segments:
            return _refusal("106", f"Tin nhắn dài {count} tin, tối đa {self.max_segments}")
        sms = {"brandname": brandname, "phone": phone, "text": text, "unicode": unicode}
        with self._state_lock:
            earlier = self._by_request.get(request_id)
            if earlier is not None and earlier[0] != sms:
                return _refusal("108", f"request_id {request_id} đã dùng cho tin nhắn khác")
            if earlier is None:
                if self.quota is not None and count > self.quota:
                    return _refusal("103", DESCRIPTIONS["103"])
                if self.quota is not None:
                    self.quota -= count
                message_id = f"SMS{len(self._outbox) + 1:09d}"
                sent = {
                    **sms,
                    "message_id": message_id,
                    "segments": count,
                    "request_id": request_id,
                    "sent_at": time.time(),
                }
                self._outbox.append(sent)
                answer = {
                    "code": "100",
                    "description": "Thành công",
                    "message_id": message_id,
                    "phone": phone,
                    "segments": count,
                }
                earlier = (sms, answer)
                self._by_request[request_id] = earlier
        self.record(request, idempotency_key=request_id, operation="send", arguments=body)
        return SandboxResponse.json(200, earlier[1])

    def _authorised(self, header: str) -> bool:
        if header[:6].lower() != "basic ":
            return False
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = f"{self.username}:{self.password}".encode()
        return hmac.compare_digest(given, expected)


def _refusal(code: str, description: str) -> SandboxResponse:
    return SandboxResponse.json(200, {"code": code, "description": description})
