"""VNPost's order API as the provincial LGSP exposes it: the target of the ``vnpost`` connector.

Public (REFERENCE.md): calls carry the header ``access_token``; success is ``Status: "100"``;
orders keep old district codes (``SenderDistrict``, ``ReceiverDistrict``) after the 2025 reform.
The rest of this contract is invented (VNPost publishes none) and matches the connector's
defaults:

* ``POST /order/pickup`` (thu gom hồ sơ) and ``POST /order/return`` (trả kết quả) take an order
  as a JSON object. Required: ``OrderNumber``, ``SenderName``, ``SenderPhone``, ``SenderAddress``,
  ``SenderProvince``, ``ReceiverName``, ``ReceiverPhone``, ``ReceiverAddress``,
  ``ReceiverProvince``. Shapes: phones ``0…``/``84…``/``+84…`` with 9-10 more digits; provinces 2
  digits; districts an old 3-digit code, or absent/empty (two-tier addresses have none); wards 5
  digits when given; ``Weight`` a positive number, ``CodAmount`` a non-negative integer when
  given. A valid order is kept and answered HTTP 200 ``{"Status": "100", "Message",
  "OrderNumber", "ItemCode"}``; ``ItemCode`` is an S10 tracking code (``EB…VN``, UPU check
  digit). The same order again (same type and ``OrderNumber``, same content) gets the same
  answer and is recorded as a duplicate; other content under a taken ``OrderNumber`` is
  refused.
* ``POST /order/status`` with ``{"OrderNumber"}`` or ``{"ItemCode"}`` answers ``{"Status": "100",
  "Orders": [{OrderNumber, OrderType, ItemCode, State, History[]}]}``; ``set_state()`` moves an
  order on (``created`` → e.g. ``picked_up``, ``delivered``), as VNPost's postmen would.
* Refusals are HTTP 200 with another ``Status`` and a Vietnamese ``Message`` that, like real
  partners' messages, may quote the offending value: ``"101"`` invalid order (the field named),
  ``"102"`` ``OrderNumber`` taken by another order, ``"103"`` no such order.
* Auth: a missing or wrong ``access_token`` is HTTP 401 ``{"Status": "401", "Message"}`` (the
  gateway refuses before VNPost sees the order). Other methods 405, other paths 404.

Accepted orders and successful tracking queries are recorded (``operation`` ``pickup``/
``return``/``status``, ``arguments`` the parsed body; orders with the idempotency key
``<type>:<OrderNumber>``); refusals are not. Faults come from ``SandboxServer``; ``error_code``
answers HTTP 200 ``{"Status": <code>, "Message"}``. Python API: ``orders``, ``order(type,
number)``, ``set_state(item_code, state)``.
"""

from __future__ import annotations

import copy
import hmac
import json
import re
import threading
import time
from typing import Any

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["VnpostApi", "s10_check_digit"]

ORDER_PATHS = {"/order/pickup": "pickup", "/order/return": "return"}
STATUS_PATH = "/order/status"
REQUIRED = (
    "OrderNumber",
    "SenderName",
    "SenderPhone",
    "SenderAddress",
    "SenderProvince",
    "ReceiverName",
    "ReceiverPhone",
    "ReceiverAddress",
    "ReceiverProvince",
)
PHONE = re.compile(r"(?:0|\+?84)\d{9,10}")
SHAPES = {
    "Province": re.compile(r"\d{2}"),
    "District": re.compile(r"\d{3}"),
    "Ward": re.compile(r"\d{5}"),
}
S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial (what makes ``EB12345678?VN`` valid)."""
    remainder = 11 - sum(int(d) * w for d, w in zip(serial, S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(remainder, remainder)


class VnpostApi(SandboxServer):
    kind = "vnpost"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        access_token: str = "vnpost-sandbox-token",
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.access_token = access_token
        self._orders: dict[tuple[str, str], dict[str, Any]] = {}
        self._state_lock = threading.Lock()

    # --- Python API -------------------------------------------------------------------------
    @property
    def orders(self) -> list[dict[str, Any]]:
        """Every kept order (copies): ``OrderType``, ``ItemCode``, ``State``, ``History`` and
        the order exactly as received under ``Order``."""
        with self._state_lock:
            return [copy.deepcopy(o) for o in self._orders.values()]

    def order(self, order_type: str, order_number: str) -> dict[str, Any] | None:
        with self._state_lock:
            found = self._orders.get((order_type, order_number))
            return copy.deepcopy(found) if found else None

    def set_state(self, item_code: str, state: str) -> None:
        """Move an order on, as a postman scanning it would; KeyError for an unknown code."""
        with self._state_lock:
            kept = next(o for o in self._orders.values() if o["ItemCode"] == item_code)
            kept["State"] = state
            kept["History"].append({"State": state, "Time": _now()})

    # --- protocol ---------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path not in (*ORDER_PATHS, STATUS_PATH):
            return SandboxResponse.json(404, {"Status": "404", "Message": "Không tìm thấy API"})
        if request.method != "POST":
            return SandboxResponse.json(
                405, {"Status": "405", "Message": "Chỉ hỗ trợ POST"}, Allow="POST"
            )
        given = request.headers.get("access_token", "")
        if not given or not hmac.compare_digest(given.encode(), self.access_token.encode()):
            return SandboxResponse.json(
                401, {"Status": "401", "Message": "access_token không hợp lệ hoặc đã hết hạn"}
            )
        try:
            body = json.loads(request.body) if request.body else {}
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _refusal("101", "Dữ liệu không phải đối tượng JSON")
        if request.path == STATUS_PATH:
            return self._track(request, body)
        return self._create(request, ORDER_PATHS[request.path], body)

    def partner_error(self, code: str) -> SandboxResponse:
        return SandboxResponse.json(200, {"Status": code, "Message": "Lỗi giả lập (injected)"})

    def _create(
        self, request: SandboxRequest, order_type: str, order: dict[str, Any]
    ) -> SandboxResponse:
        problem = _invalid(order)
        if problem:
            return _refusal("101", problem)
        number = order["OrderNumber"]
        with self._state_lock:
            kept = self._orders.get((order_type, number))
            if kept is not None and kept["Order"] != order:
                return _refusal("102", f"OrderNumber {number} đã được dùng cho đơn khác")
            if kept is None:
                serial = f"{len(self._orders) + 1:08d}"
                kept = {
                    "OrderType": order_type,
                    "OrderNumber": number,
                    "ItemCode": f"EB{serial}{s10_check_digit(serial)}VN",
                    "State": "created",
                    "History": [{"State": "created", "Time": _now()}],
                    "Order": copy.deepcopy(order),
                }
                self._orders[(order_type, number)] = kept
            item_code = kept["ItemCode"]
        self.record(
            request,
            idempotency_key=f"{order_type}:{number}",
            operation=order_type,
            arguments=order,
        )
        return SandboxResponse.json(
            200,
            {
                "Status": "100",
                "Message": "Thành công",
                "OrderNumber": number,
                "ItemCode": item_code,
            },
        )

    def _track(self, request: SandboxRequest, query: dict[str, Any]) -> SandboxResponse:
        number, item_code = query.get("OrderNumber"), query.get("ItemCode")
        if not (isinstance(number, str) and number) and not (
            isinstance(item_code, str) and item_code
        ):
            return _refusal("101", "Cần OrderNumber hoặc ItemCode")
        with self._state_lock:
            found = [
                {k: copy.deepcopy(v) for k, v in o.items() if k != "Order"}
                for o in self._orders.values()
                if (number and o["OrderNumber"] == number)
                or (item_code and o["ItemCode"] == item_code)
            ]
        if not found:
            return _refusal("103", "Không tìm thấy đơn hàng")
        self.record(request, operation="status", arguments=query)
        return SandboxResponse.json(
            200, {"Status": "100", "Message": "Thành công", "Orders": found}
        )


def _invalid(order: dict[str, Any]) -> str | None:
    """VNPost's complaint about an order (Vietnamese, quoting the value), or None."""
    for field in REQUIRED:
        value = order.get(field)
        if not isinstance(value, str) or not value.strip():
            return f"Thiếu hoặc sai kiểu trường {field}"
    for field in ("SenderPhone", "ReceiverPhone"):
        if not PHONE.fullmatch(order[field]):
            return f"{field} không hợp lệ: {order[field]}"
    for side in ("Sender", "Receiver"):
        for level, shape in SHAPES.items():
            value = order.get(side + level)
            if value is None or (level == "District" and value == ""):
                continue
            if not isinstance(value, str) or not shape.fullmatch(value):
                return f"Mã {side + level} không hợp lệ: {value!r}"
    weight = order.get("Weight")
    if weight is not None and (
        isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0
    ):
        return "Weight phải là số dương (gram)"
    cod = order.get("CodAmount")
    if cod is not None and (isinstance(cod, bool) or not isinstance(cod, int) or cod < 0):
        return "CodAmount phải là số nguyên không âm (VND)"
    return None


def _refusal(status: str, message: str) -> SandboxResponse:
    return SandboxResponse.json(200, {"Status": status, "Message": message})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
