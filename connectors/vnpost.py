"""VNPost, the public postal service, through the provincial LGSP: pickup orders (thu gom hồ sơ:
collect a dossier at a citizen's address), return orders (trả kết quả: deliver the result) and
order tracking.

Public (REFERENCE.md, "Other provincial partners"): every call carries the header
``access_token``; success is ``Status: "100"``. Old district codes stay alive in VNPost orders
(``SenderDistrict``, ``ReceiverDistrict``) after the 2025 reform. Everything else below is
**not public: configurable**, or invented and said so:

* ``url`` is the base of VNPost's API on the LGSP and one instance does one ``operation``:
  ``pickup``, ``return`` (create an order) or ``status`` (tracking, answered synchronously).
  The paths appended to ``url`` are invented — ``/order/pickup``, ``/order/return``,
  ``/order/status`` — and configurable (``paths``).
* The payload is the order as a JSON object in VNPost's style (our design): ``OrderNumber``
  (the dossier code; VNPost is taken to be idempotent on it), ``SenderName``, ``SenderPhone``,
  ``SenderAddress``, ``SenderProvince``, ``SenderDistrict``, ``SenderWard``, the same
  ``Receiver…`` fields, ``Weight`` (grams), ``CodAmount`` (VND), ``Note``, ``CustomerCode``
  (filled from ``customer_code`` when absent). A tracking query is ``{"OrderNumber"}`` or
  ``{"ItemCode"}``. It goes as the JSON body of a ``POST`` with ``access_token: <token>``; the
  token is a reference (``access_token_env``/``access_token_file``), resolved per message.
* The answer is HTTP 200 with ``Status``; ``"100"`` carries the tracking code under
  ``tracking_field`` (default ``ItemCode``, invented). ``Status`` is a string in the reference;
  an integer ``100`` is accepted as success too (liberal on input: a partner whose JSON
  serialiser types the field as a number means the same thing, and refusing a created order
  would dead-letter a dossier VNPost is already collecting).
* Any other ``Status`` is VNPost's refusal of this order. The codes' meanings are not public:
  every one is permanent (dead-lettered at once) unless listed in ``retryable_statuses`` (say,
  a "system busy" code the province learns from VNPost).

Administrative codes are passed on exactly as given — a four-level address (2-digit province,
old 3-digit district, 5-digit ward) and a two-tier one (2-digit province, 5-digit commune, no
district) alike; the connector never rewrites one. It checks their shape only, before anything
is sent (``LocalDeliveryError`` naming the field: e.g. a code sent as a JSON number has lost its
leading zeros). ``ward_codes`` (optional) maps a commune code to the code VNPost wants, for
``SenderWard``/``ReceiverWard``; what it changed is listed in the result's details.

Error mapping:

=================================================  ==========  ============================
outcome                                            raises      ``remote_status``
=================================================  ==========  ============================
HTTP 200, ``Status`` "100" (or 100)                (result)    ``"Status:100"``
HTTP 200, ``Status`` in ``retryable_statuses``     Transient   ``"Status:<code>"``
HTTP 200, any other ``Status``                     Permanent   ``"Status:<code>"``
HTTP 200 without a readable ``Status`` (the order  Permanent   ``"200"``
may exist: an admin checks before replaying)
401/403 (``access_token`` refused), other 4xx      Permanent   the code
5xx, 408, 425, 429, timeout, connection failure    Transient   as in ``rest``
not a JSON object, no ``OrderNumber``, a code of   Local       None
the wrong shape (nothing is sent)
``access_token`` reference unset or unreadable     Permanent   None
=================================================  ==========  ============================

Names, phone numbers and addresses are personal data: every error message, ``remote_status``
and detail has the order's values masked (phones keep their last 3 digits) and every other
phone- or ID-like digit run masked too, whatever the partner echoed. ``check()`` sends one
tracking query without an order (cheap, real, and refused 401 for a wrong token) after the
secret, DNS and TCP checks; ``retarget()`` moves ``url`` for the conformance suite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from connectors.http import (
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    answer_result,
    excerpt,
    json_object,
    keep_last3,
    make_session,
    mask_error,
    mask_numbers,
    partner_codes,
    redact,
    request_health,
    resolve_secret,
    secret_properties,
    secret_rule,
    send_json,
    status_error,
    timeouts,
    url_property,
)
from connectors.http_check import (
    PROBE_TIMEOUT_CAP,
    address_checks,
    request_checks,
    retarget,
    secret_checks,
)
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = [
    "DEFAULT_PATHS",
    "OPERATIONS",
    "PERSONAL_FIELDS",
    "VnpostConnector",
    "mask_personal",
    "masked_error",
]

OPERATIONS = ("pickup", "return", "status")
DEFAULT_PATHS = {"pickup": "/order/pickup", "return": "/order/return", "status": "/order/status"}
SUCCESS = "100"
MAX_ORDER_BYTES = 1024 * 1024
SIDES = ("Sender", "Receiver")
PERSONAL_FIELDS = tuple(side + what for side in SIDES for what in ("Name", "Phone", "Address"))
PHONE_FIELDS = frozenset({"SenderPhone", "ReceiverPhone"})
# (level, shape, what it is) — checked for the Sender and the Receiver side
CODE_SHAPES = (
    ("Province", re.compile(r"\d{2}"), "a 2-digit province code"),
    ("District", re.compile(r"\d{3}"), "an old 3-digit district code (or empty: none since 2025)"),
    ("Ward", re.compile(r"\d{5}"), "a 5-digit ward/commune code"),
)
WARD_FIELDS = ("SenderWard", "ReceiverWard")
STATUS_CODE = "^[0-9A-Za-z_-]{1,20}$"
_DIGITS = re.compile(r"(?<![\w.])(?:\+84\d{9}|\d{9,12})(?!\w)")


class VnpostConnector(Connector):
    """Create VNPost pickup/return orders or track one; see the module docstring."""

    type_name = "vnpost"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "vnpost connector",
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "url": url_property("base URL of VNPost's API on the LGSP (paths are appended)"),
            "operation": {"enum": list(OPERATIONS), "default": "pickup"},
            "paths": {
                "type": "object",
                "additionalProperties": False,
                "properties": {op: {"type": "string", "pattern": "^/\\S*$"} for op in OPERATIONS},
                "description": "not public: the path of each operation under url",
            },
            **secret_properties("access_token", "the access_token"),
            "customer_code": {
                "type": "string",
                "minLength": 1,
                "maxLength": 50,
                "description": "the province's VNPost customer code, CustomerCode when absent",
            },
            "retryable_statuses": partner_codes(
                STATUS_CODE, description="VNPost Status codes worth retrying (default: none)"
            ),
            "tracking_field": {
                "type": "string",
                "minLength": 1,
                "default": "ItemCode",
                "description": "not public: where the success answer carries the tracking code",
            },
            "ward_codes": {
                "type": "object",
                "propertyNames": {"pattern": "^\\d{5}$"},
                "additionalProperties": {"type": "string", "pattern": "^[0-9A-Za-z.-]{1,20}$"},
                "description": "commune code -> the code VNPost wants (SenderWard/ReceiverWard)",
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
            # the credential is the access_token header: no second one through `auth`
            **{k: v for k, v in HTTP_CLIENT_PROPERTIES.items() if k != "auth"},
        },
        **secret_rule("access_token"),
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)

    @property
    def operation(self) -> str:
        return self.config.get("operation", "pickup")

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        order: dict[str, Any] = {}
        try:
            order, mapped = self._order(message)
            return self._send(order, mapped, timeout)
        except DeliveryError as exc:
            raise masked_error(exc, order) from None

    def health(self) -> Health:
        return request_health(self.check())

    def check(self) -> list[CheckResult]:
        """``http_checks`` with VNPost's own credential header: secrets, DNS, TCP, then one
        tracking query without an order (401 for a refused token)."""
        url = self._url("status")
        try:
            results = secret_checks(self.config, [("", self.config, "access_token")])
            connect, read = timeouts(self.config, PROBE_TIMEOUT_CAP)
            results += address_checks(url, self.config, connect)
            if results[-1].status != "ok":
                return [
                    *results,
                    CheckResult("request", "warn", "not tried: no connection"),
                    CheckResult("auth", "warn", "cannot be told: no connection"),
                ]
            try:
                token = resolve_secret(self.config, "access_token")
            except DeliveryError:
                request, _ = request_checks(self._session, "POST", url, {}, (connect, read))
                unresolved = CheckResult("auth", "fail", "not tried: access_token does not resolve")
                return [*results, request, unresolved]
            headers = {"access_token": token, "Content-Type": "application/json"}
            return results + request_checks(
                self._session, "POST", url, headers, (connect, read), [token]
            )
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url")

    def close(self) -> None:
        self._session.close()

    # --- one order ----------------------------------------------------------------------------
    def _order(self, message: OutboundMessage) -> tuple[dict[str, Any], list[str]]:
        """The order to send and the ward fields ``ward_codes`` changed; LocalDeliveryError
        (nothing sent) for what VNPost could not take."""
        where = f"{self.name}: VNPost {self.operation}"
        try:
            data = message.payload.read(MAX_ORDER_BYTES)
        except ValueError:
            raise LocalDeliveryError(
                f"{where}: an order is at most {MAX_ORDER_BYTES} bytes of JSON, "
                f"this payload has {message.payload.size}",
                reason="payload_size",
            ) from None
        try:
            order = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise LocalDeliveryError(
                f"{where}: the payload is not JSON", reason="not_json"
            ) from None
        if not isinstance(order, dict):
            raise LocalDeliveryError(f"{where}: the payload must be a JSON object", reason="shape")
        if self.operation == "status":
            if not any(_text(order.get(k)) for k in ("OrderNumber", "ItemCode")):
                raise LocalDeliveryError(
                    f"{where}: a tracking query needs OrderNumber or ItemCode", reason="shape"
                )
            return order, []
        if not _text(order.get("OrderNumber")):
            raise LocalDeliveryError(
                f"{where}: OrderNumber (the dossier code) is required", reason="shape"
            )
        for side in SIDES:
            for level, shape, what in CODE_SHAPES:
                field, value = side + level, order.get(side + level)
                if value is None or (level == "District" and value == ""):
                    continue
                if not isinstance(value, str) or not shape.fullmatch(value):
                    raise LocalDeliveryError(
                        f"{where}: {field} {value!r} is not {what}",
                        reason="code_shape",
                        field=field,
                    )
        if "customer_code" in self.config:
            order.setdefault("CustomerCode", self.config["customer_code"])
        wards, mapped = self.config.get("ward_codes", {}), []
        for field in WARD_FIELDS:
            if order.get(field) in wards:
                order[field] = wards[order[field]]
                mapped.append(field)
        return order, mapped

    def _send(
        self, order: dict[str, Any], mapped: list[str], timeout: float | None
    ) -> DeliveryResult:
        token = resolve_secret(self.config, "access_token")
        secrets = [token]
        response, answer, truncated = send_json(
            self._session,
            "POST",
            self._url(self.operation),
            order,
            {"access_token": token, "Accept": "application/json"},
            name=self.name,
            timeout=timeouts(self.config, timeout),
            secrets=secrets,
        )
        if not 200 <= response.status_code < 300:
            raise status_error(response, answer, self.name, secrets)
        code, body = response.status_code, json_object(answer)
        status = _status(body)
        key = order.get("OrderNumber") or order.get("ItemCode")
        where = f"{self.name}: VNPost {self.operation} {key}"
        if status is None:
            raise PermanentDeliveryError(
                f"{where}: HTTP {code} without a readable Status (the order may exist: "
                "check with VNPost before replaying)",
                remote_status=str(code),
                http_status=code,
                response_excerpt=excerpt(answer, response, secrets),
            )
        if status != SUCCESS:
            said = redact(str(body.get("Message") or "")[:300], secrets)
            retryable = status in self.config.get("retryable_statuses", ())
            error = TransientDeliveryError if retryable else PermanentDeliveryError
            raise error(
                f"{where}: refused, Status {status}" + (f": {said}" if said else ""),
                remote_status=f"Status:{status}",
                http_status=code,
                partner_message=said,
            )
        details: dict[str, Any] = {"http_status": code, "operation": self.operation}
        details["OrderNumber"] = order.get("OrderNumber") or body.get("OrderNumber")
        if self.operation != "status":
            details["tracking_code"] = body.get(self.config.get("tracking_field", "ItemCode"))
        if mapped:
            details["ward_codes_mapped"] = mapped
        return answer_result(response, answer, truncated, details, f"Status:{SUCCESS}")

    def _url(self, operation: str) -> str:
        path = self.config.get("paths", {}).get(operation, DEFAULT_PATHS[operation])
        return self.config["url"].rstrip("/") + path


# --- personal data ----------------------------------------------------------------------------
def mask_personal(text: str, order: Mapping[str, Any]) -> str:
    """``text`` with the order's names, phones and addresses masked (a phone keeps its last 3
    digits, the rest become ``***``), then any phone- or ID-like digit run a partner echoed in
    another form."""
    values = {
        field: value.strip()
        for field in PERSONAL_FIELDS
        if isinstance(value := order.get(field), str) and value.strip()
    }
    for field, value in sorted(values.items(), key=lambda kv: -len(kv[1])):
        mask = keep_last3(value) if field in PHONE_FIELDS else "***"
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", mask, text)
    return mask_numbers(text, _DIGITS)


def masked_error(error: DeliveryError, order: Mapping[str, Any]) -> DeliveryError:
    """The same error with personal data masked in its message, status and details."""
    return mask_error(error, lambda text: mask_personal(text, order))


# --- answers ------------------------------------------------------------------------------------
def _status(body: Mapping[str, Any]) -> str | None:
    """VNPost's ``Status`` as a string: the reference's ``"100"``, or an integer taken as its
    decimal text; None when absent or of another type."""
    status = body.get("Status")
    if isinstance(status, bool):
        return None
    if isinstance(status, int):
        return str(status)
    if isinstance(status, str) and status.strip():
        return status.strip()[:40]
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
