"""NDXP connector: calls to national services through the national data sharing platform (Nền
tảng tích hợp, chia sẻ dữ liệu quốc gia, formerly NGSP), and the base of every connector that
reaches a service behind such an API gateway (NDOP, the population database).

Protocol (REFERENCE.md, "How provincial LGSPs are exposed in practice" and "VDXP through a
provincial LGSP (WSO2 API Manager style)"): an OAuth2 client-credentials token
(:mod:`connectors.oauth2`), then a Bearer REST call under a versioned context,
``POST {url}/{context}/{version}/{resource}``, answered in the envelope ``{code, status,
correlationId, response}``. Configuration::

    {"url": "https://ndxp.example",                     # the gateway base
     "token_url": "https://ndxp.example/token",         # default: <origin of url>/token
     "consumer_key": "lgsp-h57", "consumer_secret_env": "NDXP_SECRET",  # or _file
     "context": "danhmuc", "version": "1.0", "resource": "donvihanhchinh",
     "method": "POST",                                   # or PUT
     "timeout_seconds": {"connect": 5, "read": 30}}

The message payload (JSON) is the body, sent as it is. Success (an envelope ``code`` among
``success_codes``, HTTP 2xx) → ``DeliveryResult.response`` = the envelope's ``response`` as
JSON, ``remote_status`` = the envelope code, ``details`` = its ``status`` and
``correlationId``. ``message.correlation_id`` goes in ``correlation_header`` and ``message.id``
in ``idempotency_header``.

Error classes: a code among ``transient_codes`` (the upstream service unavailable or timing
out, the gateway throttling) or an HTTP 5xx/408/425/429 → transient; any other code
(authentication, permission, validation, unknown resource) → permanent, ``remote_status``
``"code:<code>"``. A 401 gets one new token; a second 401 is permanent (the consumer is not
subscribed to this API). Token refusals, timeouts and connection failures: see
:mod:`connectors.oauth2`.

Not public, so configurable (defaults are this project's choice, matching ``sandbox.ndxp``):
the real envelope codes (``success_codes`` default ``0``, ``00``, ``200``; ``transient_codes``
default ``408``, ``425``, ``429``, ``500``, ``502``, ``503``, ``504``), the header names
(``X-Correlation-ID``, ``Idempotency-Key``) and whether the platform honours an idempotency key
(none is documented; it is sent for a gateway that does).

Personal data: national services answer about citizens. No text quoted from the gateway
reaches an error unmasked: runs of 9-12 digits (ID and phone numbers) keep their last 3.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from connectors.http import (
    HEADER_NAME,
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    TRANSIENT_STATUSES,
    excerpt,
    header_value,
    make_session,
    origin,
    read_answer,
    status_error,
    timeouts,
    transport_error,
)
from connectors.http_check import retarget
from connectors.oauth2 import OAUTH2_PROPERTIES, OAUTH2_SECRET_RULE, TokenClient
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

__all__ = [
    "DEFAULT_SUCCESS_CODES",
    "DEFAULT_TRANSIENT_CODES",
    "GATEWAY_PROPERTIES",
    "GatewayConnector",
    "SEGMENT_SCHEMA",
    "NdxpConnector",
    "mask_digits",
    "masked",
    "parse_envelope",
    "read_json",
]

DEFAULT_SUCCESS_CODES = ("0", "00", "200")
DEFAULT_TRANSIENT_CODES = ("408", "425", "429", "500", "502", "503", "504")
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a national-service request is parsed whole
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a whole catalogue is one answer
SEGMENT_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$"}
_CODES = {"type": "array", "items": {"type": ["string", "integer"]}, "uniqueItems": True}
_ID_DIGITS = re.compile(r"(?<![0-9])[0-9]{9,12}(?![0-9])")

# What every gateway connector configures: where, who (OAuth2) and how codes are read.
# ``auth`` (a static bearer/API key) is left out: the gateway's credential is the OAuth2 token.
GATEWAY_PROPERTIES: dict[str, Any] = {
    "url": {"type": "string", "pattern": "^https?://", "description": "the gateway base"},
    "context": {**SEGMENT_SCHEMA, "description": "the API's context, e.g. danhmuc"},
    "version": {**SEGMENT_SCHEMA, "description": "the API's version, e.g. 1.0"},
    "correlation_header": {"type": "string", "pattern": HEADER_NAME, "default": "X-Correlation-ID"},
    "idempotency_header": {"type": "string", "pattern": HEADER_NAME, "default": "Idempotency-Key"},
    "success_codes": {**_CODES, "description": f"default {list(DEFAULT_SUCCESS_CODES)}"},
    "transient_codes": {**_CODES, "description": f"default {list(DEFAULT_TRANSIENT_CODES)}"},
    "timeout_seconds": TIMEOUT_SCHEMA,
    **OAUTH2_PROPERTIES,
    **{k: v for k, v in HTTP_CLIENT_PROPERTIES.items() if k != "auth"},
}


def mask_digits(text: str) -> str:
    """``text`` with ID/phone-like digit runs (9-12 digits) cut to their last 3."""
    return _ID_DIGITS.sub(lambda m: "*" * (len(m[0]) - 3) + m[0][-3:], text)


def masked(error: DeliveryError, personal: Iterable[str] = ()) -> DeliveryError:
    """``error`` with ``personal`` values hidden (a number keeps its last 3 digits, a name
    goes) and every other 9-12 digit run masked, in its message, status and details."""
    values = sorted({v for v in personal if v and len(v) > 2}, key=len, reverse=True)

    def hide(value: str) -> str:
        return "*" * (len(value) - 3) + value[-3:] if value.isdigit() else "***"

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            for known in values:
                value = value.replace(known, hide(known))
            return mask_digits(value)
        if isinstance(value, list | tuple):
            return [mask(v) for v in value]
        if isinstance(value, Mapping):
            return {k: mask(v) for k, v in value.items()}
        return value

    details = {key: mask(value) for key, value in error.details.items()}
    return type(error)(mask(error.message), remote_status=mask(error.remote_status), **details)


class GatewayConnector(Connector):
    """What NDXP-style connectors share: the session, the token, one authorised POST, the
    envelope's codes, ``check()`` on the token endpoint, ``retarget()``."""

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)
        self._tokens = TokenClient(name, self.config, self._session)
        self._success = {str(c) for c in self.config.get("success_codes", DEFAULT_SUCCESS_CODES)}
        self._transient = {
            str(c) for c in self.config.get("transient_codes", DEFAULT_TRANSIENT_CODES)
        }

    def service_url(self, resource: str) -> str:
        """``{url}/{context}/{version}/{resource}``."""
        parts = (self.config["context"], self.config["version"], resource)
        return "/".join([self.config["url"].rstrip("/"), *(quote(p.strip("/")) for p in parts)])

    def post(
        self,
        message: OutboundMessage,
        url: str,
        body: bytes,
        content_type: str,
        timeout: float | None,
        personal: Iterable[str] = (),
        headers: Mapping[str, str] | None = None,
        method: str = "POST",
    ) -> tuple[requests.Response, bytes]:
        """One authorised call (a new token and one repeat on 401); the answer, at most
        ``MAX_ANSWER_BYTES``. Raises the hub's errors only, personal data masked."""
        limits = timeouts(self.config, timeout)
        sent = {
            **(headers or {}),
            "Content-Type": content_type,
            "Accept": "application/json, text/xml;q=0.9, */*;q=0.1",
            self.config.get("correlation_header", "X-Correlation-ID"): header_value(
                message.correlation_id
            ),
            self.config.get("idempotency_header", "Idempotency-Key"): header_value(message.id),
        }

        def request(auth: dict[str, str]) -> requests.Response:
            return self._session.request(
                method,
                url,
                data=body,
                headers={**sent, **auth},
                allow_redirects=False,
                stream=True,
                timeout=limits,
            )

        try:
            response = self._tokens.send(request, limits)
            answer, _ = read_answer(response, MAX_ANSWER_BYTES)
        except DeliveryError as exc:
            raise masked(exc, personal) from None
        except Exception as exc:  # nothing from requests escapes the seam
            where = f"{self.name}: {origin(url)}"
            raise masked(transport_error(exc, where, self._tokens.secrets()), personal) from None
        if response.status_code == 401:
            raise PermanentDeliveryError(
                f"{self.name}: the gateway refused a new token for {self._path(url)}: "
                "is the consumer subscribed to this API?",
                remote_status="401",
                http_status=401,
            )
        return response, answer

    def envelope_error(
        self,
        response: requests.Response,
        envelope: Mapping[str, Any] | None,
        answer: bytes,
        personal: Iterable[str] = (),
    ) -> DeliveryError | None:
        """None when the gateway's envelope says success, else the error it means; a non-JSON
        error answer is classed by its HTTP status."""
        http_status = response.status_code
        if envelope is None:
            if 200 <= http_status < 300:
                return masked(
                    PermanentDeliveryError(
                        f"{self.name}: HTTP {http_status} without the gateway's "
                        "{code, status, correlationId, response} envelope (check context/version)",
                        remote_status=str(http_status),
                        response_excerpt=excerpt(answer, response, self._tokens.secrets()),
                    ),
                    personal,
                )
            return masked(
                status_error(response, answer, self.name, self._tokens.secrets()), personal
            )
        code = str(envelope.get("code"))
        if code in self._success and 200 <= http_status < 300:
            return None
        transient = code in self._transient or (
            http_status >= 500 or http_status in TRANSIENT_STATUSES
        )
        status = str(envelope.get("status", ""))[:200]
        cls = TransientDeliveryError if transient else PermanentDeliveryError
        error = cls(
            f"{self.name}: the gateway answered code {code} ({status})",
            remote_status=f"code:{code}",
            http_status=http_status,
            correlation_id=envelope.get("correlationId"),
            response_excerpt=excerpt(answer, response, self._tokens.secrets()),
        )
        return masked(error, personal)

    def health(self) -> Health:
        results = {r.name: r for r in self.check()}
        request = results.get("request") or results.get("check")
        auth = results.get("auth")
        ok = request is not None and request.status == "ok" and (auth and auth.status) != "fail"
        return Health(ok, request.detail if request else "")

    def check(self) -> list[CheckResult]:
        """Secrets, DNS, TCP, then one real token request: wrong credentials are ``auth: fail``."""
        try:
            return self._tokens.checks(self.config["url"])
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url", "token_url")

    def close(self) -> None:
        self._session.close()

    def _path(self, url: str) -> str:
        return url[len(origin(url)) :] or "/"


def read_json(message: OutboundMessage, name: str) -> Any:
    """The payload as JSON (national-service requests are small, parsed whole)."""
    if message.payload.size > MAX_REQUEST_BYTES:
        raise LocalDeliveryError(
            f"{name}: a request of {message.payload.size} bytes is over {MAX_REQUEST_BYTES}",
            reason="payload_size",
        )
    try:
        return json.loads(message.payload.read())
    except (ValueError, UnicodeDecodeError) as exc:
        where = f"line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else "encoding"
        raise LocalDeliveryError(f"{name}: the payload is not JSON ({where})") from None


def parse_envelope(answer: bytes) -> dict[str, Any] | None:
    """The gateway's ``{code, status, correlationId, response}``, or None when it is not one."""
    try:
        data = json.loads(answer)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and "code" in data and "status" in data else None


class NdxpConnector(GatewayConnector):
    """A national service through NDXP: POST the message's JSON, unwrap the envelope."""

    type_name = "ndxp"
    config_schema = {
        "type": "object",
        "required": ["url", "context", "version", "resource", "consumer_key"],
        "additionalProperties": False,
        "properties": {
            **GATEWAY_PROPERTIES,
            "resource": {
                **SEGMENT_SCHEMA,
                "description": "the service's resource, e.g. donvihanhchinh",
            },
            "method": {"enum": ["POST", "PUT"], "default": "POST"},
        },
        "allOf": [OAUTH2_SECRET_RULE],
    }

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        read_json(message, self.name)  # refused here, not by the national service
        url = self.service_url(self.config["resource"])
        response, answer = self.post(
            message,
            url,
            message.payload.read(),
            "application/json",
            timeout,
            method=self.config.get("method", "POST"),
        )
        envelope = parse_envelope(answer)
        if error := self.envelope_error(response, envelope, answer):
            raise error
        assert envelope is not None
        body = json.dumps(envelope.get("response"), ensure_ascii=False).encode()
        details = {
            "status": envelope.get("status"),
            "correlation_id": envelope.get("correlationId"),
        }
        return DeliveryResult(
            remote_status=str(envelope["code"]),
            response=body,
            content_type="application/json",
            details=details,
        )
