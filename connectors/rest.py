"""Generic REST connector: one message = one HTTP ``POST``/``PUT`` to a partner (requests).

A new partner with a plain HTTP API needs configuration only::

    {"url": "https://partner.example/api/documents", "method": "POST",
     "timeout_seconds": {"connect": 5, "read": 30},
     "auth": {"type": "bearer", "token_env": "PARTNER_TOKEN"},
     "verify": "/etc/lgsp/ca/partner-ca.pem",
     "client_cert": "/etc/lgsp/tls/hub.crt", "client_key": "/etc/lgsp/tls/hub.key"}

What is sent: the payload bytes as the body, ``Content-Type`` = the message's content type, and
``Idempotency-Key: <message id>`` (so a partner that honours it absorbs the duplicates
at-least-once delivery produces), ``X-Correlation-Id``, ``X-LGSP-Sender: <agency>/<system>``,
``X-LGSP-Service``/``X-LGSP-Recipient`` when set, ``X-LGSP-Attempt``. Static ``headers`` from the
config and envelope headers named in ``forward_headers`` are added; neither may set those headers,
nor ``Authorization``/``Cookie``: credentials come from ``auth`` only. Non-ASCII header values are
percent-encoded (UTF-8). The ``url`` may contain ``{message_id}``, ``{correlation_id}``,
``{service}``, ``{recipient}``, ``{sender_agency}`` (URL-quoted), e.g. for ``PUT /documents/{id}``.

Secrets are never in the config: ``auth`` names an environment variable (``token_env``/
``key_env``) or a file (``token_file``/``key_file``, re-read on every request so rotating it needs
no restart). They are resolved per request and scrubbed from every error message.

Error mapping (the retry rules, cf. Airflow's HTTP hook; the hub retries, the session never does):

====================================================  ==============  ====================
outcome                                               raises          ``remote_status``
====================================================  ==============  ====================
2xx, or a status listed in ``accept_statuses``        (result)        ``"201"`` …
connect or read timeout                               Transient       ``"timeout"``
refused / reset / aborted connection, DNS failure     Transient       ``"connection_error"``
TLS handshake or certificate verification failure     Transient       ``"tls_error"``
408, 425, 429, any 5xx (``Retry-After`` → details)    Transient       the code
3xx (redirects are never followed: requests would     Permanent       the code
turn a POST into a GET and drop the body)
413 and every other 4xx                               Permanent       the code
local configuration (secret unset, cert file missing) Permanent       None
====================================================  ==============  ====================

TLS failures are transient on purpose: the usual causes (a partner's expired or rolled-over
certificate, a CA bundle being updated) are fixed on one side without touching the message, and
the retry budget bounds the cost; the distinct status lets monitoring tell them apart.

``health()`` probes ``health_url`` with ``GET`` (healthy = 2xx) if configured; otherwise it sends
``HEAD`` to the delivery URL (to the origin if the URL has placeholders). HEAD is safe by
definition (no side effect, no body) and proves DNS, TCP, TLS and credentials; any answer below
500 except 401/403/407/429 counts as healthy, because a POST-only endpoint legitimately answers
405 or 404 to HEAD.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from hub.connector import Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import (
    DeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
TRANSIENT_STATUSES = frozenset({408, 425, 429})
RESERVED_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "content-type", "content-length", "host",
    "transfer-encoding", "connection", "idempotency-key", "x-correlation-id"})
URL_PLACEHOLDER = re.compile(r"\{(message_id|correlation_id|service|recipient|sender_agency)\}")
FORBIDDEN: dict[str, Any] = {"not": {}}  # not `False`: jsonschema then omits the field's path
_SAFE_HEADER_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _exactly_one(env: str, file: str) -> dict[str, Any]:
    """Schema: ``env`` or ``file``, not both; worded so errors name the field."""
    return {"if": {"required": [file]}, "then": {"properties": {env: FORBIDDEN}},
            "else": {"required": [env]}}


AUTH_SCHEMA: dict[str, Any] = {
    "description": "Credentials, referenced by environment variable or file, never inline.",
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["bearer", "api_key"]},
        "token_env": {"type": "string", "pattern": ENV_NAME,
                      "description": "bearer: environment variable holding the token"},
        "token_file": {"type": "string", "minLength": 1,
                       "description": "bearer: file holding the token (re-read per request)"},
        "header": {"type": "string", "pattern": HEADER_NAME, "default": "X-API-Key",
                   "description": "api_key: header that carries the key"},
        "key_env": {"type": "string", "pattern": ENV_NAME,
                    "description": "api_key: environment variable holding the key"},
        "key_file": {"type": "string", "minLength": 1,
                     "description": "api_key: file holding the key (re-read per request)"},
    },
    "allOf": [
        {"if": {"required": ["type"], "properties": {"type": {"const": "bearer"}}},
         "then": {"properties": {"header": FORBIDDEN, "key_env": FORBIDDEN, "key_file": FORBIDDEN},
                  **_exactly_one("token_env", "token_file")}},
        {"if": {"required": ["type"], "properties": {"type": {"const": "api_key"}}},
         "then": {"properties": {"token_env": FORBIDDEN, "token_file": FORBIDDEN},
                  **_exactly_one("key_env", "key_file")}},
    ],
}

HTTP_CLIENT_PROPERTIES: dict[str, Any] = {
    "auth": AUTH_SCHEMA,
    "verify": {"type": ["boolean", "string"], "minLength": 1, "default": True,
               "description": "true: check the partner's certificate against the bundled CAs; "
                              "a path: against that PEM CA bundle; false: don't (dev only)"},
    "client_cert": {"type": "string", "minLength": 1,
                    "description": "PEM certificate presented for mutual TLS"},
    "client_key": {"type": "string", "minLength": 1,
                   "description": "unencrypted PEM key of client_cert (if not inside it)"},
    "proxy": {"type": "string", "pattern": "^https?://",
              "description": "HTTP(S) proxy URL; the environment's proxy settings are ignored"},
}

TIMEOUT_SCHEMA: dict[str, Any] = {
    "description": "Seconds: one number for connect and read, or {connect, read}; "
                   f"default {DEFAULT_CONNECT_TIMEOUT:g}/{DEFAULT_READ_TIMEOUT:g}.",
    "type": ["number", "object"],
    "exclusiveMinimum": 0,
    "additionalProperties": False,
    "properties": {"connect": {"type": "number", "exclusiveMinimum": 0},
                   "read": {"type": "number", "exclusiveMinimum": 0}},
}


class RestConnector(Connector):
    """Deliver to a partner's HTTP API. Idempotent on ``message.id`` when the partner honours
    ``Idempotency-Key``; raises only ``TransientDeliveryError``/``PermanentDeliveryError``."""

    type_name = "rest"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "rest connector",
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "url": {"type": "string", "pattern": "^https?://[^/\\s]+",
                    "description": "delivery URL; may contain {message_id} etc."},
            "method": {"enum": ["POST", "PUT"], "default": "POST"},
            "timeout_seconds": TIMEOUT_SCHEMA,
            "headers": {"type": "object", "propertyNames": {"pattern": HEADER_NAME},
                        "additionalProperties": {"type": "string", "pattern": "^[^\\r\\n]*$"},
                        "description": "static headers added to every request"},
            "forward_headers": {"type": "array", "uniqueItems": True,
                                "items": {"type": "string", "pattern": HEADER_NAME},
                                "description": "envelope headers copied to the request"},
            "accept_statuses": {"type": "array", "items": {"type": "integer", "minimum": 300,
                                                           "maximum": 499},
                                "description": "extra statuses meaning delivered, e.g. 409 "
                                               "from partners that answer a repeat that way"},
            "health_url": {"type": "string", "pattern": "^https?://",
                           "description": "GET probe for health(); default HEAD on url"},
            **HTTP_CLIENT_PROPERTIES,
        },
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        check_header_names(self.config)
        self._session = make_session(self.config)

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        url = expand_url(self.config["url"], message)
        secrets: list[str] = []
        try:
            auth, secrets = auth_headers(self.config.get("auth"))
            response = self._session.request(
                self.config.get("method", "POST"), url, data=message.payload,
                headers={**self._headers(message), **auth}, timeout=timeouts(self.config, timeout),
                allow_redirects=False)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the seam: nothing from requests escapes
            raise transport_error(exc, f"{self.name}: {_origin(url)}", secrets) from None
        code = response.status_code
        if 200 <= code < 300 or code in self.config.get("accept_statuses", ()):
            details = {"http_status": code}
            if "Location" in response.headers:
                details["location"] = response.headers["Location"]
            return DeliveryResult(remote_status=str(code), response=response.content,
                                  content_type=response.headers.get(
                                      "Content-Type", "application/octet-stream"),
                                  details=details)
        raise status_error(response, self.name, secrets)

    def health(self) -> Health:
        url = self.config.get("health_url")
        method = "GET" if url else "HEAD"
        if url is None:
            url = self.config["url"]
            if URL_PLACEHOLDER.search(url):
                url = _origin(url) + "/"
        secrets: list[str] = []
        try:
            auth, secrets = auth_headers(self.config.get("auth"))
            response = self._session.request(method, url, headers=auth, allow_redirects=False,
                                             timeout=timeouts(self.config, 10.0))
        except DeliveryError as exc:
            return Health(False, exc.message)
        except Exception as exc:  # noqa: BLE001
            return Health(False, transport_error(exc, _origin(url), secrets).message)
        code = response.status_code
        ok = (200 <= code < 300) if method == "GET" else (
            code < 500 and code not in (401, 403, 407, 429))
        return Health(ok, f"{method} {url} -> HTTP {code}")

    def close(self) -> None:
        self._session.close()

    def _headers(self, message: OutboundMessage) -> dict[str, str]:
        headers = dict(self.config.get("headers", {}))
        envelope = {k.lower(): v for k, v in message.headers.items()}
        for name in self.config.get("forward_headers", ()):
            if name.lower() in envelope:
                headers[name] = envelope[name.lower()]
        headers.update({
            "Content-Type": message.content_type,
            "Idempotency-Key": message.id,
            "X-Correlation-Id": message.correlation_id,
            "X-LGSP-Sender": f"{message.sender_agency}/{message.sender_system}",
            "X-LGSP-Attempt": str(message.attempt),
        })
        if message.service:
            headers["X-LGSP-Service"] = message.service
        if message.recipient:
            headers["X-LGSP-Recipient"] = message.recipient
        return {name: header_value(value) for name, value in headers.items()}


# --- helpers shared with the soap connector ----------------------------------------------------
def make_session(config: Mapping[str, Any]) -> requests.Session:
    """A session whose TLS, proxy and retry behaviour come from ``config`` alone: no retries
    (the hub retries with backoff), no environment proxies, ``.netrc`` or CA variables."""
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = config.get("verify", True)
    if "client_cert" in config:
        session.cert = ((config["client_cert"], config["client_key"])
                        if "client_key" in config else config["client_cert"])
    if "proxy" in config:
        session.proxies = {"http": config["proxy"], "https": config["proxy"]}
    return session


def check_header_names(config: Mapping[str, Any]) -> None:
    """Refuse config headers that would carry credentials or override the hub's own headers."""
    reserved = set(RESERVED_HEADERS)
    auth = config.get("auth") or {}
    if auth.get("type") == "api_key":
        reserved.add(auth.get("header", "X-API-Key").lower())
    errors = [{"path": f"/{field}/{name}" if field == "headers" else f"/{field}/{i}",
               "message": f"header {name!r} is set by the connector or by auth, not by config"}
              for field in ("headers", "forward_headers")
              for i, name in enumerate(config.get(field, ()))
              if name.lower() in reserved or name.lower().startswith("x-lgsp-")]
    if errors:
        raise SchemaViolation("invalid configuration: reserved header names", errors=errors)


def resolve_secret(auth: Mapping[str, Any], kind: str) -> str:
    """Read the secret ``auth`` points at (``<kind>_env`` or ``<kind>_file``); a missing or empty
    one is a configuration error (PermanentDeliveryError) that names where it looked."""
    env, path = auth.get(f"{kind}_env"), auth.get(f"{kind}_file")
    if env:
        value, where = os.environ.get(env, ""), f"environment variable {env}"
    else:
        where = f"file {path}"
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PermanentDeliveryError(f"cannot read secret {where}: {exc.strerror}",
                                         reason="config") from None
    value = value.strip()
    if not value or "\n" in value or "\r" in value:
        raise PermanentDeliveryError(f"secret {where} is unset, empty or not one line",
                                     reason="config")
    return value


def auth_headers(auth: Mapping[str, Any] | None) -> tuple[dict[str, str], list[str]]:
    """The credential headers for ``auth`` and the secret values to scrub from errors."""
    if not auth:
        return {}, []
    if auth["type"] == "bearer":
        token = resolve_secret(auth, "token")
        return {"Authorization": f"Bearer {token}"}, [token]
    key = resolve_secret(auth, "key")
    return {auth.get("header", "X-API-Key"): key}, [key]


def timeouts(config: Mapping[str, Any], cap: float | None) -> tuple[float, float]:
    """``(connect, read)`` from ``timeout_seconds``, each capped by the caller's ``cap``."""
    value = config.get("timeout_seconds", {})
    if isinstance(value, int | float):
        connect = read = float(value)
    else:
        connect = value.get("connect", DEFAULT_CONNECT_TIMEOUT)
        read = value.get("read", DEFAULT_READ_TIMEOUT)
    if cap is not None:
        connect, read = min(connect, cap), min(read, cap)
    return connect, read


def expand_url(template: str, message: OutboundMessage) -> str:
    values = {"message_id": message.id, "correlation_id": message.correlation_id,
              "service": message.service or "", "recipient": message.recipient or "",
              "sender_agency": message.sender_agency}
    return URL_PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), template)


def header_value(value: str) -> str:
    """HTTP/1.1 header values are Latin-1 at best: keep ASCII, percent-encode the rest."""
    return value if value.isascii() and value.isprintable() else quote(value, _SAFE_HEADER_CHARS)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def transport_error(exc: BaseException, where: str, secrets: Iterable[str] = ()) -> DeliveryError:
    """Map an exception raised while talking HTTP to a delivery error (see the module table)."""
    cause = _root_cause(exc)
    reason = redact(f"{type(cause).__name__}: {getattr(cause, 'strerror', None) or cause}"[:300],
                    secrets)
    exc_type = type(exc).__name__
    rex = requests.exceptions
    if isinstance(exc, rex.SSLError):
        return TransientDeliveryError(f"{where}: TLS failure ({reason})",
                                      remote_status="tls_error", cause=exc_type)
    if isinstance(exc, rex.Timeout):
        return TransientDeliveryError(f"{where}: timed out ({exc_type})",
                                      remote_status="timeout", cause=exc_type)
    if isinstance(exc, rex.ConnectionError | rex.ChunkedEncodingError | rex.ContentDecodingError):
        return TransientDeliveryError(f"{where}: connection failed ({reason})",
                                      remote_status="connection_error", cause=exc_type)
    if isinstance(exc, OSError):  # missing CA bundle / client certificate file, invalid URL …
        return PermanentDeliveryError(f"{where}: local configuration problem ({reason})",
                                      reason="config", cause=exc_type)
    return PermanentDeliveryError(f"{where}: unexpected {exc_type} ({reason})", cause=exc_type)


def status_error(response: requests.Response, name: str, secrets: Iterable[str]) -> DeliveryError:
    """Map a non-success HTTP answer to a delivery error (see the module table)."""
    code = response.status_code
    details: dict[str, Any] = {"http_status": code,
                               "response_excerpt": redact(response.text[:300], secrets)}
    if "Retry-After" in response.headers:
        details["retry_after"] = response.headers["Retry-After"]
    message = f"{name}: partner answered HTTP {code} {response.reason or ''}".rstrip()
    if code >= 500 or code in TRANSIENT_STATUSES:
        return TransientDeliveryError(message, remote_status=str(code), **details)
    if 300 <= code < 400:
        details["location"] = response.headers.get("Location")
        message += " (redirects are not followed: update the connector's url)"
    return PermanentDeliveryError(message, remote_status=str(code), **details)


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nested = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        nxt = getattr(exc, "reason", None) if isinstance(getattr(exc, "reason", None),
                                                         BaseException) else None
        nxt = nxt or nested or exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: enough to say where, without path, query or userinfo."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}"
