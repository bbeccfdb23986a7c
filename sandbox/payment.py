"""A simulator of the DVCQG payment platform (protocol 1.0.6): the target of the ``payment``
connector, and the source of the callbacks ``hub.payments`` receives.

An independent implementation: it imports nothing from the hub or the connectors and computes
every ``MaXacThuc`` itself (lowercase hex SHA-256, UTF-8, of the ``|``-joined fields and the
partner secret), so a checksum bug in the connector fails against it.

Contract:

* ``POST {api_path}`` (default ``/api/thanhtoan``), JSON, ``Authorization: Bearer <token>``
  (else HTTP 401 ``{"error": "unauthorized"}`` with ``WWW-Authenticate: Bearer``). The operation
  is the body's ``LoaiBanTin``; every answer is HTTP 200 ``{"error_code", "message"}``:
  on success ``error_code`` ``"0"`` and ``message`` a JSON *string* (decode twice).

  - ``INIT`` — checks the partner (``MaDoiTac``), the INIT checksum
    (``LoaiBanTin|PhienBan|MaDoiTac|MaThamChieu|SoTien|LoaiHinhThanhToan|MaKenhThanhToan|
    MaThietBi|NgonNgu|MaTienTe|MaNganHang|ThongTinGiaoDich|ThoiGianGD|Ip|secret``), the fields
    (``PhienBan`` 1.0.6, ``SoTien`` a positive whole number, ``MaTienTe`` VND, ``ThoiGianGD``
    ``yyyyMMddHHmmss``, ``ThongTinBienLai.MaDVC`` = ``MaTTHC + ".01"``), then stores the
    transaction and answers ``{"MaThamChieu", "UrlThanhToan", "ThoiGianGD"}``;
    ``UrlThanhToan`` is this server's ``/pay/{MaThamChieu}``. The same reference again with
    the same amount is an idempotent repeat (same answer, recorded as a duplicate); with
    another amount it is refused ``04``.
  - ``QUERY`` — checksum ``LoaiBanTin|PhienBan|MaDoiTac|MaThamChieu|ThoiGianGD|secret``;
    answers ``TrangThaiGD`` 3 (pending: the platform does not know yet) until the transaction
    is settled, then 1 (paid, with ``MaGiaoDich``) or 4 (failed).
  - ``GET_BILL`` — same checksum; a paid transaction's bill: the receipt block as INIT sent
    it, ``MaGiaoDich``, ``SoTien``, ``MaTienTe``, ``ThoiGianThanhToan``.

* ``GET /pay/{MaThamChieu}``: a tiny HTML page (the citizen's browser, no token);
  ``POST /pay/{MaThamChieu}`` with the form field ``result=paid|failed`` settles it.
* Settling (the page, or ``platform.settle(ref, paid=True, twelve_hour=False, notify=True)``)
  POSTs the callback to ``callback_url`` (constructor argument, settable attribute): JSON
  ``LoaiBanTin, MaLoi ("00" paid), MaDoiTac, MaThamChieu, SoTien, MaTienTe, MaGiaoDich,
  MaNganHang, ThoiGianGD, ThongTinGiaoDich, MaXacThuc`` (checksum over
  ``LoaiBanTin|MaLoi|MaDoiTac|MaThamChieu|SoTien|MaTienTe|MaGiaoDich|MaNganHang|ThoiGianGD|
  ThongTinGiaoDich|secret``). ``twelve_hour=True`` writes ``ThoiGianGD`` as
  ``yyyyMMddhhmmss AM|PM``, as some peers do; ``notify=False`` "forgets" the callback, so only a
  QUERY learns the outcome. Each attempt is in ``platform.callbacks``.
* Python API: ``platform.transactions`` (by reference), ``platform.callbacks``,
  ``platform.settle(...)``; faults and ``/_sandbox/…`` from :class:`SandboxServer`, the
  ``error_code`` fault answering ``partner_error(code)`` in the platform's envelope.

Invented because REFERENCE.md does not say (the connector's defaults match): the endpoint path
and that one endpoint serves all operations; the envelope of QUERY and GET_BILL answers (as
INIT's); the error codes — ``01`` wrong MaXacThuc, ``02`` unknown partner, ``03`` invalid field,
``04`` reference already used, ``05`` no such transaction, ``06`` no bill (not paid), ``96``
platform busy; the callback's ``LoaiBanTin`` (``callback_type``, default ``PAYMENT_RESULT``),
its failure ``MaLoi`` (``99``) and ``MaNganHang``; that ``HEAD``/``GET`` on the endpoint answer
200 once the token is accepted (a probe); the payment page.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["ERRORS", "Callback", "PaymentPlatform", "Transaction"]

VIETNAM = timezone(timedelta(hours=7))  # no DST in Vietnam
ERRORS = {
    "01": "Sai mã xác thực (MaXacThuc)",
    "02": "Mã đối tác không tồn tại",
    "03": "Dữ liệu không hợp lệ",
    "04": "Mã tham chiếu đã được sử dụng",
    "05": "Không tìm thấy giao dịch",
    "06": "Giao dịch chưa được thanh toán",
    "96": "Hệ thống đang bận, vui lòng thử lại sau",
}
SIGNED = {
    "INIT": (
        "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
        "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang",
        "ThongTinGiaoDich", "ThoiGianGD", "Ip",
    ),
    "QUERY": ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
    "GET_BILL": ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD"),
    "CALLBACK": (
        "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich",
        "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
    ),
}  # fmt: skip


@dataclass
class Transaction:
    """One INIT, as the platform keeps it. ``state``: initiated, paid or failed."""

    reference: str
    partner: str
    amount: Any  # SoTien as INIT sent it (the callback repeats it)
    description: str
    receipt: dict[str, Any]
    initiated: str  # INIT's ThoiGianGD
    url: str
    state: str = "initiated"
    transaction_id: str | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class Callback:
    """One callback the platform sent: the body, and the hub's HTTP status (None: unreachable)
    and answer."""

    reference: str
    body: dict[str, Any]
    status: int | None
    answer: bytes = b""
    sent_at: datetime = field(default_factory=lambda: datetime.now(VIETNAM))


class PaymentPlatform(SandboxServer):
    kind = "payment-platform"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        partner: str = "LGSP_H49",
        secret: str = "payment-partner-secret",
        token: str = "payment-bearer-token",
        callback_url: str | None = None,
        api_path: str = "/api/thanhtoan",
        callback_type: str = "PAYMENT_RESULT",
        bank: str = "VCB",
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.partner, self.secret, self.token = partner, secret, token
        self.callback_url = callback_url
        self.api_path = api_path
        self.callback_type = callback_type
        self.bank = bank
        self._state = threading.Lock()
        self._transactions: dict[str, Transaction] = {}
        self._callbacks: list[Callback] = []
        self._issued = 0

    @property
    def api_url(self) -> str:
        return self.url + self.api_path

    @property
    def transactions(self) -> dict[str, Transaction]:
        with self._state:
            return dict(self._transactions)

    @property
    def callbacks(self) -> list[Callback]:
        with self._state:
            return list(self._callbacks)

    def partner_error(self, code: str) -> SandboxResponse:
        return SandboxResponse.json(200, {"error_code": code, "message": ERRORS.get(code, "Lỗi")})

    # --- settling ----------------------------------------------------------------------------
    def settle(
        self, reference: str, paid: bool = True, twelve_hour: bool = False, *, notify: bool = True
    ) -> Callback | None:
        """Settle an initiated transaction as the citizen's bank would, then call back (unless
        ``notify`` is false). ``KeyError``/``ValueError`` for an unknown or settled one."""
        now = datetime.now(VIETNAM)
        with self._state:
            tx = self._transactions[reference]
            if tx.state != "initiated":
                raise ValueError(f"transaction {reference} is already {tx.state}")
            self._issued += 1
            tx.state, tx.settled_at = ("paid" if paid else "failed"), now
            tx.transaction_id = f"GD{self._issued:06d}"
        if not notify or not self.callback_url:
            return None
        stamp = (
            now.strftime("%Y%m%d%I%M%S ") + ("PM" if now.hour >= 12 else "AM")
            if twelve_hour
            else now.strftime("%Y%m%d%H%M%S")
        )
        body = {
            "LoaiBanTin": self.callback_type,
            "MaLoi": "00" if paid else "99",
            "MaDoiTac": tx.partner,
            "MaThamChieu": tx.reference,
            "SoTien": tx.amount,
            "MaTienTe": "VND",
            "MaGiaoDich": tx.transaction_id,
            "MaNganHang": self.bank,
            "ThoiGianGD": stamp,
            "ThongTinGiaoDich": tx.description,
        }
        body["MaXacThuc"] = _checksum("CALLBACK", body, self.secret)
        return self.send_callback(reference, body)

    def send_callback(self, reference: str, body: Mapping[str, Any]) -> Callback:
        """POST ``body`` to ``callback_url`` (also to replay one) and remember the attempt."""
        request = urllib.request.Request(
            str(self.callback_url),
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
                sent = Callback(reference, dict(body), answer.status, answer.read())
        except urllib.error.HTTPError as refused:
            sent = Callback(reference, dict(body), refused.code, refused.read())
        except OSError:
            sent = Callback(reference, dict(body), None)
        with self._state:
            self._callbacks.append(sent)
        return sent

    # --- HTTP --------------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path.startswith("/pay/"):
            return self._page(request, unquote(request.path[len("/pay/") :]))
        if request.path != self.api_path:
            return SandboxResponse.json(404, {"error": "not_found"})
        if not self._authorised(request):
            return SandboxResponse.json(
                401, {"error": "unauthorized"}, **{"WWW-Authenticate": 'Bearer realm="payment"'}
            )
        if request.method in ("GET", "HEAD"):
            return SandboxResponse.json(200, {"status": "ok"})
        if request.method != "POST":
            return SandboxResponse.json(405, {"error": "method_not_allowed"}, Allow="GET, POST")
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return self._refuse("03", "the body is not JSON")
        if not isinstance(body, dict) or body.get("LoaiBanTin") not in (
            "INIT",
            "QUERY",
            "GET_BILL",
        ):
            return self._refuse("03", "LoaiBanTin")
        operation = body["LoaiBanTin"]
        if body.get("MaDoiTac") != self.partner:
            return self._refuse("02")
        if not hmac.compare_digest(
            str(body.get("MaXacThuc", "")), _checksum(operation, body, self.secret)
        ):
            return self._refuse("01")
        invalid = _invalid(body)
        if invalid:
            return self._refuse("03", invalid)
        if operation == "INIT":
            return self._init(request, body)
        self.record(request, operation=operation, arguments=body)
        return self._query(body) if operation == "QUERY" else self._bill(body)

    def _init(self, request: SandboxRequest, body: dict[str, Any]) -> SandboxResponse:
        reference = body["MaThamChieu"]
        with self._state:
            known = self._transactions.get(reference)
            if known is not None and str(known.amount) != str(body["SoTien"]):
                return self._refuse("04")
            if known is None:
                known = Transaction(
                    reference=reference,
                    partner=body["MaDoiTac"],
                    amount=body["SoTien"],
                    description=body["ThongTinGiaoDich"],
                    receipt=dict(body["ThongTinBienLai"]),
                    initiated=body["ThoiGianGD"],
                    url=f"{self.url}/pay/{reference}",
                )
                self._transactions[reference] = known
        self.record(
            request,
            idempotency_key=f"{known.partner}:{reference}",
            operation="INIT",
            arguments=body,
        )
        return _ok({"MaThamChieu": reference, "UrlThanhToan": known.url, "ThoiGianGD": _now()})

    def _query(self, body: dict[str, Any]) -> SandboxResponse:
        tx = self.transactions.get(body["MaThamChieu"])
        if tx is None:
            return self._refuse("05")
        state = {"initiated": 3, "paid": 1, "failed": 4}[tx.state]
        answer: dict[str, Any] = {"MaThamChieu": tx.reference, "TrangThaiGD": state}
        if tx.transaction_id:
            answer.update(MaGiaoDich=tx.transaction_id, SoTien=tx.amount)
        return _ok(answer)

    def _bill(self, body: dict[str, Any]) -> SandboxResponse:
        tx = self.transactions.get(body["MaThamChieu"])
        if tx is None:
            return self._refuse("05")
        if tx.state != "paid" or tx.settled_at is None:
            return self._refuse("06")
        return _ok(
            {
                "MaThamChieu": tx.reference,
                "MaGiaoDich": tx.transaction_id,
                "SoTien": tx.amount,
                "MaTienTe": "VND",
                "ThoiGianThanhToan": tx.settled_at.strftime("%Y%m%d%H%M%S"),
                "ThongTinBienLai": tx.receipt,
            }
        )

    def _page(self, request: SandboxRequest, reference: str) -> SandboxResponse:
        tx = self.transactions.get(reference)
        if tx is None:
            return _html(404, "Không tìm thấy giao dịch")
        if request.method == "POST":
            result = parse_qs(request.body.decode("utf-8", "replace")).get("result", [""])[0]
            if result not in ("paid", "failed"):
                return _html(400, "result must be paid or failed")
            try:
                self.settle(reference, paid=result == "paid")
            except ValueError as exc:
                return _html(409, str(exc))
            return _html(200, f"Giao dịch {reference}: {result}")
        if request.method != "GET":
            return _html(405, "GET or POST")
        return _html(
            200,
            f"Thanh toán {reference}: {tx.amount} VND ({tx.state})",
            '<form method="post"><button name="result" value="paid">Thanh toán</button>'
            '<button name="result" value="failed">Huỷ</button></form>',
        )

    def _authorised(self, request: SandboxRequest) -> bool:
        bearer = request.headers.get("authorization", "")
        return bearer[:7].lower() == "bearer " and hmac.compare_digest(
            bearer[7:].strip().encode(), self.token.encode()
        )

    def _refuse(self, code: str, detail: str = "") -> SandboxResponse:
        message = ERRORS[code] + (f": {detail}" if detail else "")
        return SandboxResponse.json(200, {"error_code": code, "message": message})


def _checksum(operation: str, body: Mapping[str, Any], secret: str) -> str:
    values = ["" if body.get(name) is None else str(body.get(name)) for name in SIGNED[operation]]
    return hashlib.sha256("|".join([*values, secret]).encode("utf-8")).hexdigest()


def _invalid(body: Mapping[str, Any]) -> str | None:
    """The first field the platform refuses (error 03), or None."""
    time = str(body.get("ThoiGianGD", ""))
    if body.get("PhienBan") != "1.0.6":
        return "PhienBan"
    if not (len(time) == 14 and time.isascii() and time.isdigit()):
        return "ThoiGianGD"
    if not isinstance(body.get("MaThamChieu"), str) or not body["MaThamChieu"]:
        return "MaThamChieu"
    if body["LoaiBanTin"] != "INIT":
        return None
    amount = body.get("SoTien")
    if isinstance(amount, bool) or not str(amount).isdigit() or int(str(amount)) <= 0:
        return "SoTien"
    if body.get("MaTienTe") != "VND":
        return "MaTienTe"
    if not isinstance(body.get("ThongTinGiaoDich"), str):
        return "ThongTinGiaoDich"
    receipt = body.get("ThongTinBienLai")
    if not isinstance(receipt, dict) or not receipt.get("MaTTHC"):
        return "ThongTinBienLai"
    if receipt.get("MaDVC") != f"{receipt['MaTTHC']}.01":
        return "ThongTinBienLai.MaDVC"
    return None


def _ok(answer: Mapping[str, Any]) -> SandboxResponse:
    return SandboxResponse.json(
        200, {"error_code": "0", "message": json.dumps(answer, ensure_ascii=False)}
    )


def _now() -> str:
    return datetime.now(VIETNAM).strftime("%Y%m%d%H%M%S")


def _html(status: int, text: str, form: str = "") -> SandboxResponse:
    page = (
        '<!doctype html><html lang="vi"><meta charset="utf-8"><title>Cổng thanh toán</title>'
        f"<p>{html.escape(text)}</p>{form}</html>"
    )
    return SandboxResponse(status, page.encode("utf-8"), "text/html; charset=utf-8")
