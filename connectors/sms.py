"""The SMS brandname gateway: tell a citizen, by SMS, where their dossier stands.

REFERENCE.md names the SMS gateway as a provincial partner and says nothing of its API: each
Vietnamese gateway (carriers' and resellers') has its own. Everything below is therefore **not
public: configurable**, with invented defaults the sandbox (``sandbox.sms.SmsGateway``) follows:

* ``POST {url}{paths.send}`` (default ``/sms/send``), HTTP Basic ``username`` + the password
  ``password_env``/``password_file`` references (resolved per message), JSON body
  ``{brandname, phone, text, unicode, request_id}``: ``phone`` in the gateway's form
  ``84xxxxxxxxx``, ``unicode`` true when the text needs UCS-2, ``request_id`` = ``message.id``
  (the gateway is idempotent on it: a redelivery is not a second SMS). The answer is JSON
  ``{code, description, message_id, segments}``. Every field name can be renamed (``fields``).
* ``GET {url}{paths.balance}`` (default ``/account/balance``): ``check()``'s probe — cheap, real,
  and refused 401 for wrong credentials.
* Gateway codes (invented): ``success_codes`` (default ``["100"]``) and ``retryable_codes``
  (default ``99`` system busy, ``103`` quota exceeded: the message is valid and a quota window
  resets, and repeated failures open the circuit rather than hammer the gateway); every other
  code is permanent (``101`` authentication, ``102`` account locked, ``104`` brandname not
  registered or blocked, ``105`` invalid number, ``106`` invalid content, ``108`` request_id
  reused for another message).

The message the hub hands over is ``{"phone": "0912345678", "template": "dossier-done",
"params": {"MaHoSo": …, "TrangThaiTen": …}}``. The text comes only from ``templates`` (brandname
contracts allow registered templates, never free text): ``{Name}`` placeholders (``{{``/``}}``
for braces), ``template`` defaulting to ``default_template``. ``ascii_only`` (many brandname
contracts want Vietnamese without diacritics) strips marks, đ→d, and typographic punctuation to
ASCII. The length is counted as the network does (GSM-7: 160 characters, 153 per concatenated
segment, extension characters count twice; UCS-2: 70, 67 per segment) and capped at
``max_segments``: the gateway's own count, when it answers one, is reported instead.

Error mapping (the HTTP status decides the class when it is not 2xx; ``remote_status`` is the
gateway's code when its answer carries one, else the HTTP status):

==============================================  ==========  ============================
outcome                                         raises      ``remote_status``
==============================================  ==========  ============================
2xx, code in ``success_codes``                  (result)    ``"code:100"``
2xx, code in ``retryable_codes``                Transient   ``"code:<code>"``
2xx, any other code                             Permanent   ``"code:<code>"``
2xx without a readable code                     Permanent   the HTTP status
401/403 (credentials refused), other 4xx        Permanent   ``"code:<code>"`` or the status
5xx, 408, 425, 429, timeout, connection failed  Transient   as in ``rest``
invalid phone, unknown template, missing        Local       None (nothing is sent)
placeholder, too long, not ASCII-able
password reference unset or unreadable          Permanent   None
==============================================  ==========  ============================

The phone number is personal data: every exception text, ``remote_status``, ``details`` and the
kept answer show it masked (``*******678``: last 3 digits) in any of its forms, with the values
of ``personal_params`` and the rendered text (it names the citizen); errors also mask any other
phone- or ID-like digit run a gateway may echo (an accepted SMS keeps a numeric message id).
The connector keeps no session state beyond the HTTP pool, so one instance serves several
worker threads without a lock.
"""

from __future__ import annotations

import base64
import json
import math
import re
import unicodedata
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
    mask_values,
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
    SchemaViolation,
    TransientDeliveryError,
)

__all__ = [
    "DEFAULT_FIELDS",
    "DEFAULT_PATHS",
    "SmsConnector",
    "mask_phone",
    "normalise_phone",
    "render",
    "segments",
    "to_ascii",
]

DEFAULT_PATHS = {"send": "/sms/send", "balance": "/account/balance"}
DEFAULT_FIELDS = {
    "brandname": "brandname",
    "phone": "phone",
    "text": "text",
    "unicode": "unicode",
    "request_id": "request_id",
    "code": "code",
    "description": "description",
    "message_id": "message_id",
    "segments": "segments",
}
DEFAULT_PERSONAL_PARAMS = ("ChuHoSo", "HoVaTen", "SoDinhDanh", "SoDienThoai", "Email", "DiaChi")
MAX_MESSAGE_BYTES = 64 * 1024
MIN_MASKED = 4  # shorter values are not searched for: masking "A" would mask every A
GATEWAY_CODE = "^[0-9A-Za-z_-]{1,20}$"
TEMPLATE = r"^(?:[^{}]|\{\{|\}\}|\{[A-Za-z_][A-Za-z0-9_]*\})+$"
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MOBILE = re.compile(r"[35789]\d{8}")  # after the country code: 03x 05x 07x 08x 09x numbers
_SEPARATORS = re.compile(r"[\s.\-()]")
_DIGITS = re.compile(r"(?<![\w.-])(?:\+84\d{9}|\d{9,12})(?![\w-])")
GSM7 = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"  # two septets each
_TYPOGRAPHY = str.maketrans(
    {"đ": "d", "Đ": "D", "“": '"', "”": '"', "‘": "'", "’": "'", "`": "'", "–": "-", "—": "-"}
    | {"…": "...", "\u00a0": " "}
)


class SmsConnector(Connector):
    """Send one templated SMS through the brandname gateway; see the module docstring."""

    type_name = "sms"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sms connector",
        "type": "object",
        "required": ["url", "username", "brandname", "templates"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "url": url_property("not public: the gateway's API base (paths are appended)"),
            "paths": {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: {"type": "string", "pattern": "^/\\S*$"} for k in DEFAULT_PATHS},
                "description": "not public: the gateway's send and balance paths under url",
            },
            "username": {"type": "string", "minLength": 1, "maxLength": 100},
            **secret_properties("password", "the gateway account's password"),
            "brandname": {
                "type": "string",
                "pattern": "^[A-Za-z0-9 ._-]{1,11}$",
                "description": "the registered sender name (alphanumeric, at most 11)",
            },
            "templates": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": "^[A-Za-z0-9_.-]{1,64}$"},
                "additionalProperties": {"type": "string", "pattern": TEMPLATE, "maxLength": 1000},
                "description": "name -> text with {Placeholder}s ({{ and }} for braces)",
            },
            "default_template": {"type": "string", "minLength": 1},
            "ascii_only": {
                "type": "boolean",
                "default": False,
                "description": "send Vietnamese without diacritics (đ->d), as many contracts want",
            },
            "max_segments": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
            "success_codes": partner_codes(GATEWAY_CODE, default=["100"]),
            "retryable_codes": partner_codes(GATEWAY_CODE, default=["99", "103"]),
            "personal_params": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "description": "params masked in errors (default: owner name, ID, phone …)",
            },
            "fields": {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: {"type": "string", "minLength": 1} for k in DEFAULT_FIELDS},
                "description": "not public: the gateway's names for the request/answer fields",
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
            **{k: v for k, v in HTTP_CLIENT_PROPERTIES.items() if k != "auth"},
        },
        **secret_rule("password"),
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        default = self.config.get("default_template")
        if default is not None and default not in self.config["templates"]:
            raise SchemaViolation(
                f"invalid configuration for connector type {self.type_name!r}",
                errors=[{"path": "/default_template", "message": f"{default!r} is not a template"}],
            )
        self._fields = {**DEFAULT_FIELDS, **self.config.get("fields", {})}
        self._session = make_session(self.config)

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        sms = _Sms(self.config.get("personal_params", DEFAULT_PERSONAL_PARAMS))
        try:
            self._prepare(message, sms)
            return sms.masked_result(self._send(message, sms, timeout))
        except DeliveryError as exc:
            raise sms.masked_error(exc) from None

    def health(self) -> Health:
        return request_health(self.check())

    def check(self) -> list[CheckResult]:
        """Secrets, DNS, TCP, then the balance query with the credentials (401: ``auth`` fail)."""
        url = self._url("balance")
        try:
            results = secret_checks(self.config, [("", self.config, "password")])
            connect, read = timeouts(self.config, PROBE_TIMEOUT_CAP)
            results += address_checks(url, self.config, connect)
            if results[-1].status != "ok":
                return [
                    *results,
                    CheckResult("request", "warn", "not tried: no connection"),
                    CheckResult("auth", "warn", "cannot be told: no connection"),
                ]
            try:
                headers, secrets = self._credentials()
            except DeliveryError:
                request, _ = request_checks(self._session, "GET", url, {}, (connect, read))
                unresolved = CheckResult("auth", "fail", "not tried: the password does not resolve")
                return [*results, request, unresolved]
            return results + request_checks(
                self._session, "GET", url, headers, (connect, read), secrets
            )
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url")

    def close(self) -> None:
        self._session.close()

    # --- one SMS ------------------------------------------------------------------------------
    def _prepare(self, message: OutboundMessage, sms: _Sms) -> None:
        """Fill ``sms`` (phone, template, text, length); LocalDeliveryError, nothing sent, for
        what the gateway could not take."""
        where = f"{self.name}: SMS"
        body = _message_body(message, where)
        sms.raw_phone = body.get("phone") if isinstance(body.get("phone"), str) else None
        params = body.get("params", {})
        if not isinstance(params, dict):
            raise LocalDeliveryError(f"{where}: params must be a JSON object", reason="shape")
        sms.params = params
        sms.phone = normalise_phone(sms.raw_phone)
        if sms.phone is None:
            raise LocalDeliveryError(
                f"{where}: phone {mask_phone(sms.raw_phone)} is not a Vietnamese mobile number",
                reason="invalid_phone",
            )
        name = body.get("template", self.config.get("default_template"))
        sms.template = name if isinstance(name, str) else None
        if sms.template not in self.config["templates"]:
            raise LocalDeliveryError(
                f"{where}: no template {name!r} (configured: {sorted(self.config['templates'])})"
                if name is not None
                else f"{where}: no template given and no default_template",
                reason="unknown_template",
            )
        text = render(self.config["templates"][sms.template], params, where)
        if self.config.get("ascii_only", False):
            text = to_ascii(text, where)
        sms.text = text
        sms.encoding, count = segments(text)
        if count > self.config.get("max_segments", 3):
            raise LocalDeliveryError(
                f"{where}: the text needs {count} SMS segments ({sms.encoding}), "
                f"max_segments is {self.config.get('max_segments', 3)}",
                reason="too_long",
                segments=count,
            )
        sms.segments = count

    def _send(self, message: OutboundMessage, sms: _Sms, timeout: float | None) -> DeliveryResult:
        url, f = self._url("send"), self._fields
        request = {
            f["brandname"]: self.config["brandname"],
            f["phone"]: sms.phone,
            f["text"]: sms.text,
            f["unicode"]: sms.encoding == "ucs2",
            f["request_id"]: message.id,
        }
        headers, secrets = self._credentials()
        response, answer, truncated = send_json(
            self._session,
            "POST",
            url,
            request,
            headers,
            name=self.name,
            timeout=timeouts(self.config, timeout),
            secrets=secrets,
        )
        body, http = json_object(answer), response.status_code
        code = _code(body.get(f["code"]))
        if not 200 <= http < 300:
            error = status_error(response, answer, self.name, secrets)
            error.remote_status = f"code:{code}" if code else error.remote_status
            raise error
        where = f"{self.name}: SMS to {mask_phone(sms.phone)}"
        if code is None:
            raise PermanentDeliveryError(
                f"{where}: HTTP {http} without a readable {f['code']} (was it sent? check with "
                "the gateway before replaying)",
                remote_status=str(http),
                http_status=http,
                response_excerpt=excerpt(answer, response, secrets),
            )
        if code not in self.config.get("success_codes", ["100"]):
            said = redact(str(body.get(f["description"]) or "")[:300], secrets)
            retryable = code in self.config.get("retryable_codes", ["99", "103"])
            raise (TransientDeliveryError if retryable else PermanentDeliveryError)(
                f"{where}: refused, {f['code']} {code}" + (f": {said}" if said else ""),
                remote_status=f"code:{code}",
                http_status=http,
                partner_message=said,
            )
        counted = body.get(f["segments"])
        details: dict[str, Any] = {
            "http_status": http,
            "message_id": body.get(f["message_id"]),
            "segments": counted if isinstance(counted, int) else sms.segments,
            "encoding": sms.encoding,
        }
        return answer_result(response, answer, truncated, details, f"code:{code}")

    def _credentials(self) -> tuple[dict[str, str], list[str]]:
        """The Basic header and the values to scrub (the password and the encoded pair)."""
        password = resolve_secret(self.config, "password")
        pair = base64.b64encode(f"{self.config['username']}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}, [password, pair]

    def _url(self, name: str) -> str:
        path = self.config.get("paths", {}).get(name, DEFAULT_PATHS[name])
        return self.config["url"].rstrip("/") + path


class _Sms:
    """One SMS being prepared and sent, and what must be masked wherever it is reported."""

    def __init__(self, personal_params: Any) -> None:
        self.personal_params = tuple(personal_params)
        self.raw_phone: str | None = None
        self.phone: str | None = None
        self.params: Mapping[str, Any] = {}
        self.template: str | None = None
        self.text = ""
        self.encoding = ""
        self.segments = 0

    def mask(self, text: str, *, any_digits: bool = True) -> str:
        """``text`` with this SMS's phone (every form), text and personal params masked, then
        (``any_digits``) any other phone- or ID-like digit run."""
        masked = mask_phone(self.phone or self.raw_phone)
        forms = {self.raw_phone, self.phone}
        if self.phone:
            forms |= {"+" + self.phone, "0" + self.phone[2:]}
        values = {v: masked for v in forms if v}
        values.update({self.text: "[SMS text]"} if len(self.text) >= MIN_MASKED else {})
        for key in self.personal_params:
            value = self.params.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool):
                if len(str(value).strip()) >= MIN_MASKED:
                    values[str(value).strip()] = "***"
        text = mask_values(text, values)
        return mask_numbers(text, _DIGITS) if any_digits else text

    def _context(self) -> dict[str, Any]:
        return {"to": mask_phone(self.phone or self.raw_phone), "template": self.template}

    def masked_error(self, error: DeliveryError) -> DeliveryError:
        error.details = {**self._context(), **error.details}
        return mask_error(error, self.mask)

    def masked_result(self, result: DeliveryResult) -> DeliveryResult:
        """An accepted SMS: the answer may echo the number; a numeric message id is kept."""
        text = result.response.decode("utf-8", errors="replace")
        details = {**self._context(), **result.details}
        if isinstance(details.get("message_id"), str):
            details["message_id"] = self.mask(details["message_id"], any_digits=False)
        return DeliveryResult(
            remote_status=result.remote_status,
            response=self.mask(text, any_digits=False).encode("utf-8"),
            content_type=result.content_type,
            details=details,
        )


# --- text ---------------------------------------------------------------------------------------
def normalise_phone(value: str | None) -> str | None:
    """A Vietnamese mobile number in the gateway's form ``84xxxxxxxxx``, from ``0912345678``,
    ``+84 912 345 678``, ``84-912-345-678`` …; None when it is not one (a landline, a
    foreign or a truncated number)."""
    if not isinstance(value, str):
        return None
    compact = _SEPARATORS.sub("", value)
    for prefix in ("+84", "0084", "84", "0"):
        rest = compact[len(prefix) :]
        if compact.startswith(prefix) and _MOBILE.fullmatch(rest):
            return "84" + rest
    return None


def mask_phone(value: str | None) -> str:
    """A phone number for people to read in a trace: ``*******678`` (its national form masked,
    last 3 digits kept); something that is not a number becomes ``***``."""
    normal = normalise_phone(value)
    digits = "0" + normal[2:] if normal else re.sub(r"\D", "", value or "")
    return keep_last3(digits)


def render(template: str, params: Mapping[str, Any], where: str = "SMS") -> str:
    """``template`` with its ``{Name}`` placeholders filled from ``params``; LocalDeliveryError
    naming every placeholder without a usable value (absent, empty, not a string or number)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        value = params.get(match.group(1))
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            missing.append(match.group(1))
            return ""
        return str(value)

    text = _PLACEHOLDER.sub(fill, template)
    if missing:
        raise LocalDeliveryError(
            f"{where}: no value for placeholder(s) {', '.join(sorted(set(missing)))}",
            reason="missing_placeholder",
            placeholders=sorted(set(missing)),
        )
    return text


def to_ascii(text: str, where: str = "SMS") -> str:
    """Vietnamese without diacritics (``Hồ sơ đã trả`` → ``Ho so da tra``), typographic
    punctuation as ASCII; LocalDeliveryError for a character that has no ASCII form."""
    stripped = unicodedata.normalize("NFD", text.translate(_TYPOGRAPHY))
    text = "".join(c for c in stripped if not unicodedata.combining(c))
    if not text.isascii():
        bad = next(c for c in text if not c.isascii())
        raise LocalDeliveryError(
            f"{where}: ascii_only, and U+{ord(bad):04X} has no ASCII form", reason="not_ascii"
        )
    return text


def segments(text: str) -> tuple[str, int]:
    """The encoding (``gsm7`` or ``ucs2``) and how many SMS segments ``text`` takes."""
    if all(c in GSM7 or c in GSM7_EXTENSION for c in text):
        septets = len(text) + sum(c in GSM7_EXTENSION for c in text)
        return "gsm7", 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(text.encode("utf-16-le")) // 2
    return "ucs2", 1 if units <= 70 else math.ceil(units / 67)


# --- helpers ------------------------------------------------------------------------------------
def _message_body(message: OutboundMessage, where: str) -> dict[str, Any]:
    try:
        body = json.loads(message.payload.read(MAX_MESSAGE_BYTES))
    except ValueError:  # too large, not JSON, not UTF-8 (UnicodeDecodeError is a ValueError)
        raise LocalDeliveryError(
            f"{where}: the payload must be a JSON object of at most {MAX_MESSAGE_BYTES} bytes",
            reason="not_json",
        ) from None
    if not isinstance(body, dict):
        raise LocalDeliveryError(f"{where}: the payload must be a JSON object", reason="shape")
    return body


def _code(value: Any) -> str | None:
    """The gateway's code as text (an integer taken as its decimal form); None when absent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()[:40]
    return None
