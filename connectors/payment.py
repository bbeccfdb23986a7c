"""The DVCQG payment platform (protocol 1.0.6): ``INIT`` a fee payment, ``QUERY`` its state,
``GET_BILL`` its receipt. One message = one call; the operation is the body's ``LoaiBanTin``.

What the caller sends is the business part only; the connector adds the rest::

    INIT      {"LoaiBanTin": "INIT", "MaThamChieu": "HS-0001-01", "SoTien": 150000,
               "ThongTinGiaoDich": "Lệ phí hồ sơ …", "Ip": "203.0.113.7",
               "ThongTinBienLai": {"MaTTHC": "1.000656", "MaDonVi": "000.00.00.H49",
                                   "MaHoSo": "…", "HoTenNguoiNop": "…", "PhiLePhi": [], …}}
    QUERY     {"LoaiBanTin": "QUERY", "MaThamChieu": "HS-0001-01"}
    GET_BILL  {"LoaiBanTin": "GET_BILL", "MaThamChieu": "HS-0001-01"}

Filled in (REFERENCE.md, "Payment platform" and its 2026 additions): ``PhienBan`` (config,
default ``1.0.6``), ``MaDoiTac`` (config), ``MaTienTe`` = ``VND``, ``ThoiGianGD`` = now in
Vietnam time, 24-hour ``yyyyMMddHHmmss``, and ``MaXacThuc`` = lowercase hex SHA-256 (UTF-8) of
the ``|``-joined fields and the partner secret (``init_checksum``, ``query_checksum``; the
callback's is ``callback_checksum``, used by ``hub.payments``). In the receipt block ``MaDVC``
must be ``MaTTHC + ".01"``: filled in when absent, a contradicting one refused as
``LocalDeliveryError`` before anything is sent. Calls carry ``Authorization: Bearer`` (``auth``:
how the platform issues the token is not public, so it is a referenced secret) and
``Idempotency-Key: <message id>``. The partner secret is ``secret_env``/``secret_file``, read per
message and scrubbed from every error.

Answers are ``{"error_code": "0", "message": "<a JSON string>"}``; the string is decoded again
(``UrlThanhToan`` of INIT is inside it). ``deliver`` returns one normalised JSON object:
INIT ``{"MaThamChieu", "MaDoiTac", "UrlThanhToan", …}``, QUERY ``{"MaThamChieu", "TrangThaiGD"
(1 paid, 3 pending, 4 failed), "MaGiaoDich", …}``, GET_BILL the bill as the platform gives it.

Not public, so configurable (defaults documented here, used by ``sandbox.payment``):

* one endpoint (``url``) for the three operations, told apart by ``LoaiBanTin``;
* that QUERY and GET_BILL answer in the same envelope as INIT, and that their ``ThoiGianGD``
  is the time of the request;
* the values of ``LoaiHinhThanhToan``, ``MaKenhThanhToan``, ``MaThietBi``, ``MaNganHang``
  (default empty) and ``NgonNgu`` (default ``vi``): ``defaults``, a caller's value wins;
* the platform's error codes: ``success_codes`` (default ``0``/``00``, both seen at DVCQG),
  ``transient_codes`` (default ``96``, the platform busy); any other code is a refusal —
  wrong checksum, unknown partner, invalid field, duplicate reference — and permanent.

Errors: HTTP as the toolkit (5xx/408/425/429/timeouts transient, 401/403 and other 4xx
permanent); an answer that is not the envelope is permanent (``invalid_answer``). Digit runs
(ID numbers) in a partner's error text are masked; no exception quotes the payer's name or ID.
``check()`` resolves both secrets, then sends ``HEAD`` to the endpoint with the token, so a
refused token shows as ``auth: fail``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.http import (
    AUTH_SCHEMA,
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    auth_headers,
    make_session,
    mask_numbers,
    partner_codes,
    redact,
    resolve_secret,
    secret_properties,
    secret_rule,
    send_json,
    status_error,
    timeouts,
    url_property,
)
from connectors.http_check import http_checks, retarget
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import (
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = [
    "CALLBACK_FIELDS",
    "INIT_FIELDS",
    "OPERATIONS",
    "QUERY_FIELDS",
    "VIETNAM",
    "PaymentConnector",
    "callback_checksum",
    "checksum",
    "format_time",
    "init_checksum",
    "parse_time",
    "partner_secret",
    "query_checksum",
]

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
OPERATIONS = ("INIT", "QUERY", "GET_BILL")
INIT_FIELDS = (
    "LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "SoTien", "LoaiHinhThanhToan",
    "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaTienTe", "MaNganHang", "ThongTinGiaoDich",
    "ThoiGianGD", "Ip",
)  # fmt: skip
CALLBACK_FIELDS = (
    "LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "MaTienTe", "MaGiaoDich",
    "MaNganHang", "ThoiGianGD", "ThongTinGiaoDich",
)  # fmt: skip
QUERY_FIELDS = ("LoaiBanTin", "PhienBan", "MaDoiTac", "MaThamChieu", "ThoiGianGD")  # + GET_BILL
SET_BY_CONNECTOR = ("PhienBan", "MaDoiTac", "MaTienTe", "ThoiGianGD", "MaXacThuc")
DEFAULTED = ("LoaiHinhThanhToan", "MaKenhThanhToan", "MaThietBi", "NgonNgu", "MaNganHang")
MAX_REQUEST_BYTES = 256 * 1024
_24H = re.compile(r"[0-9]{14}")
_12H = re.compile(r"([0-9]{8})([0-9]{2})([0-9]{4}) ?(AM|PM|SA|CH)", re.IGNORECASE)
_DIGITS = re.compile(r"\d{9,}")


# --- the protocol's pure parts (shared with hub.payments) --------------------------------------
def checksum(fields: Sequence[str], values: Mapping[str, Any], secret: str) -> str:
    """``MaXacThuc``: SHA-256 of ``values[f1]|…|values[fn]|secret`` (absent = empty)."""
    joined = "|".join([*(_text(values.get(name)) for name in fields), secret])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def init_checksum(values: Mapping[str, Any], secret: str) -> str:
    return checksum(INIT_FIELDS, values, secret)


def callback_checksum(values: Mapping[str, Any], secret: str) -> str:
    return checksum(CALLBACK_FIELDS, values, secret)


def query_checksum(values: Mapping[str, Any], secret: str) -> str:
    """QUERY's and GET_BILL's ``MaXacThuc``."""
    return checksum(QUERY_FIELDS, values, secret)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"a checksum field must be a string or an integer, not {value!r}")
    return str(value)


def format_time(moment: datetime) -> str:
    """``ThoiGianGD`` as the protocol writes it: Vietnam time, 24-hour ``yyyyMMddHHmmss``."""
    return moment.astimezone(VIETNAM).strftime("%Y%m%d%H%M%S")


def parse_time(value: str) -> tuple[datetime, str | None]:
    """``ThoiGianGD`` read as a moment in Vietnam time, and a warning when the peer used a
    12-hour clock. Accepted: ``yyyyMMddHHmmss``; and ``yyyyMMddhhmmss`` (hour 01-12) followed by
    ``AM``/``PM`` or the Vietnamese ``SA`` (sáng)/``CH`` (chiều), any case, with or without one
    space. ``ValueError`` for anything else."""
    if _24H.fullmatch(value):
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=VIETNAM), None
    found = _12H.fullmatch(value)
    if not found or not 1 <= int(found[2]) <= 12:
        raise ValueError(f"{value[:40]!r} is not a ThoiGianGD (yyyyMMddHHmmss)")
    hour = int(found[2]) % 12 + (12 if found[4].upper() in ("PM", "CH") else 0)
    moment = datetime.strptime(f"{found[1]}{hour:02d}{found[3]}", "%Y%m%d%H%M%S")
    moment = moment.replace(tzinfo=VIETNAM)
    return moment, f"ThoiGianGD {value!r} uses a 12-hour clock; read as {moment.isoformat()}"


def partner_secret(config: Mapping[str, Any]) -> str:
    """The partner secret ``config`` references; ``PermanentDeliveryError`` when unset."""
    return resolve_secret(config, "secret")


# --- the connector -----------------------------------------------------------------------------
BEARER_AUTH = {"allOf": [AUTH_SCHEMA, {"properties": {"type": {"const": "bearer"}}}]}


class PaymentConnector(Connector):
    """INIT, QUERY and GET_BILL on the DVCQG payment platform; see the module docstring."""

    type_name = "payment"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "payment connector (DVCQG payment platform 1.0.6)",
        "type": "object",
        "required": ["url", "MaDoiTac", "auth"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            **HTTP_CLIENT_PROPERTIES,
            "url": url_property("the platform's endpoint (not public: one for all operations)"),
            "auth": BEARER_AUTH,
            "MaDoiTac": {"type": "string", "pattern": "^[^|\\s]{1,50}$"},
            "PhienBan": {"type": "string", "minLength": 1, "default": "1.0.6"},
            **secret_properties("secret", "the partner secret (MaXacThuc)"),
            "defaults": {
                "type": "object",
                "additionalProperties": False,
                "properties": {name: {"type": "string"} for name in DEFAULTED},
                "description": "INIT fields a caller need not know (not public)",
            },
            "success_codes": partner_codes(default=["0", "00"]),
            "transient_codes": partner_codes(default=["96"]),
            "timeout_seconds": TIMEOUT_SCHEMA,
        },
        **secret_rule("secret"),
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)
        # what the connector alone sets: a caller may repeat these values, never change them
        self._fixed = {
            "PhienBan": self.config.get("PhienBan", "1.0.6"),
            "MaDoiTac": self.config["MaDoiTac"],
            "MaTienTe": "VND",
        }
        self._success = set(self.config.get("success_codes", ("0", "00")))
        self._transient = set(self.config.get("transient_codes", ("96",)))

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        business = _business(message)
        secret = partner_secret(self.config)
        secrets = [secret]
        url = self.config["url"]
        request = self._request(business, secret)
        auth, tokens = auth_headers(self.config["auth"])
        secrets += tokens
        response, answer, _ = send_json(
            self._session,
            "POST",
            url,
            request,
            {**auth, "Idempotency-Key": message.id},
            name=self.name,
            timeout=timeouts(self.config, timeout),
            secrets=secrets,
        )
        if not 200 <= response.status_code < 300:
            raise status_error(response, answer, self.name, secrets)
        code, result = self._answer(request, answer, secrets)
        return DeliveryResult(
            remote_status=f"error_code:{code}",
            response=json.dumps(result, ensure_ascii=False).encode("utf-8"),
            content_type="application/json",
            details={"operation": request["LoaiBanTin"], "http_status": response.status_code},
        )

    def health(self) -> Health:
        results = {r.name: r for r in self.check()}
        probe = results.get("request") or results["check"]
        ok = probe.status == "ok" and results.get("auth", probe).status != "fail"
        return Health(ok, results.get("auth", probe).detail if ok else probe.detail)

    def check(self) -> list[CheckResult]:
        return http_checks(
            self.config,
            self._session,
            self.config["url"],
            extra_secrets=[("", self.config, "secret")],
        )

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url")

    def close(self) -> None:
        self._session.close()

    # --- building the request --------------------------------------------------------------
    def _request(self, business: dict[str, Any], secret: str) -> dict[str, Any]:
        operation = business.get("LoaiBanTin")
        if operation not in OPERATIONS:
            raise LocalDeliveryError(
                f"LoaiBanTin must be one of {', '.join(OPERATIONS)}", field="LoaiBanTin"
            )
        for name in SET_BY_CONNECTOR:
            if name in business and business[name] != self._fixed.get(name):
                raise LocalDeliveryError(f"{name} is set by the connector, not by the caller")
        reference = business.get("MaThamChieu")
        if not isinstance(reference, str) or not 0 < len(reference) <= 100:
            raise LocalDeliveryError("MaThamChieu must be a string of 1-100 characters")
        own = {
            "LoaiBanTin": operation,
            "PhienBan": self._fixed["PhienBan"],
            "MaDoiTac": self._fixed["MaDoiTac"],
            "MaThamChieu": reference,
            "ThoiGianGD": format_time(datetime.now(VIETNAM)),
        }
        if operation != "INIT":
            return {**own, "MaXacThuc": query_checksum(own, secret)}
        defaults = {"NgonNgu": "vi", **self.config.get("defaults", {})}
        request = {
            **{name: defaults.get(name, "") for name in DEFAULTED},
            **business,
            **own,
            "MaTienTe": self._fixed["MaTienTe"],
            "ThongTinBienLai": _receipt(business.get("ThongTinBienLai")),
        }
        _check_init(request)
        return {**request, "MaXacThuc": init_checksum(request, secret)}

    # --- reading the answer ----------------------------------------------------------------
    def _answer(
        self, request: Mapping[str, Any], answer: bytes, secrets: list[str]
    ) -> tuple[str, dict[str, Any]]:
        """The platform's code and the normalised answer; a refusal raised as its class."""
        operation = request["LoaiBanTin"]
        try:
            envelope = json.loads(answer)
            code = envelope["error_code"]
        except (ValueError, TypeError, KeyError):
            raise PermanentDeliveryError(
                f"{self.name}: the platform's answer to {operation} is not its envelope",
                remote_status="invalid_answer",
            ) from None
        code = str(code)
        if code not in self._success:
            said = _said(envelope.get("message"), secrets)
            error = TransientDeliveryError if code in self._transient else PermanentDeliveryError
            raise error(
                f"{self.name}: {operation} refused with error_code {code}: {said}",
                remote_status=f"error_code:{code}",
            )
        body = _decoded(envelope.get("message"))
        if body is None:
            raise PermanentDeliveryError(
                f"{self.name}: the {operation} answer's message is not a JSON object",
                remote_status="invalid_answer",
            )
        result = {
            **body,
            "LoaiBanTin": operation,
            "MaDoiTac": request["MaDoiTac"],
            "MaThamChieu": request["MaThamChieu"],
        }
        if operation == "INIT":
            url = body.get("UrlThanhToan")
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise PermanentDeliveryError(
                    f"{self.name}: the INIT answer carries no UrlThanhToan",
                    remote_status="invalid_answer",
                )
        elif operation == "QUERY":
            state = body.get("TrangThaiGD")
            if isinstance(state, str) and state.isdigit():
                state = int(state)
            if not isinstance(state, int) or isinstance(state, bool):
                raise PermanentDeliveryError(
                    f"{self.name}: the QUERY answer carries no TrangThaiGD",
                    remote_status="invalid_answer",
                )
            result.update(TrangThaiGD=state, MaGiaoDich=body.get("MaGiaoDich"))
        return code, result


def _business(message: OutboundMessage) -> dict[str, Any]:
    """The caller's JSON object, or ``LocalDeliveryError`` (nothing was sent)."""
    try:
        value = json.loads(message.payload.read(MAX_REQUEST_BYTES))
    except (ValueError, UnicodeDecodeError):
        raise LocalDeliveryError(
            f"a payment message is a JSON object of at most {MAX_REQUEST_BYTES} bytes"
        ) from None
    if not isinstance(value, dict):
        raise LocalDeliveryError("a payment message is a JSON object")
    return value


def _receipt(value: Any) -> dict[str, Any]:
    """``ThongTinBienLai`` with ``MaDVC`` = ``MaTTHC + ".01"`` filled in or checked."""
    if not isinstance(value, dict):
        raise LocalDeliveryError("INIT needs the receipt block ThongTinBienLai (an object)")
    procedure = value.get("MaTTHC")
    if not isinstance(procedure, str) or not procedure:
        raise LocalDeliveryError("ThongTinBienLai.MaTTHC is required (a string)")
    expected = procedure + ".01"
    given = value.get("MaDVC")
    if given is not None and given != expected:
        raise LocalDeliveryError(
            f"ThongTinBienLai.MaDVC {str(given)[:60]!r} contradicts MaTTHC: it must be "
            f"{expected!r}",
            field="ThongTinBienLai.MaDVC",
        )
    for name in ("PhiLePhi", "DSKhoanNop"):
        if name in value and not isinstance(value[name], list):
            raise LocalDeliveryError(f"ThongTinBienLai.{name} must be a list")
    return {**value, "MaDVC": expected}


def _check_init(request: Mapping[str, Any]) -> None:
    amount = request.get("SoTien")
    number = isinstance(amount, int | str) and not isinstance(amount, bool)
    text = str(amount) if number else ""
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise LocalDeliveryError("SoTien must be a positive whole number of VND")
    for name in INIT_FIELDS:
        if name != "SoTien" and not isinstance(request.get(name), str):
            raise LocalDeliveryError(f"{name} is required, as a string", field=name)


def _decoded(message: Any) -> dict[str, Any] | None:
    """The envelope's ``message``: a JSON string holding an object (decoded a second time)."""
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return None
    return message if isinstance(message, dict) else None


def _said(message: Any, secrets: list[str]) -> str:
    """The platform's explanation as one short line: digit runs masked, secrets scrubbed."""
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    text = mask_numbers(" ".join(text.split()), _DIGITS)
    return redact(text[:200], secrets)
