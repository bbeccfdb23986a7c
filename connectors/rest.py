"""Generic REST connector: one message = one HTTP ``POST``/``PUT`` to a partner (requests).

A new partner with a plain HTTP API needs configuration only::

    {"url": "https://partner.example/api/documents", "method": "POST",
     "timeout_seconds": {"connect": 5, "read": 30},
     "auth": {"type": "bearer", "token_env": "PARTNER_TOKEN"},
     "verify": "/etc/lgsp/ca/partner-ca.pem",
     "client_cert": "/etc/lgsp/tls/hub.crt", "client_key": "/etc/lgsp/tls/hub.key"}

What is sent: the payload as the body, ``Content-Type`` = the message's content type, and
``Idempotency-Key: <message id>`` (so a partner that honours it absorbs the duplicates
at-least-once delivery produces), ``X-Correlation-Id``, ``X-LGSP-Sender: <agency>/<system>``,
``X-LGSP-Service``/``X-LGSP-Recipient`` when set, ``X-LGSP-Attempt``. Static ``headers`` from the
config and envelope headers named in ``forward_headers`` are added; neither may set those headers,
nor ``Authorization``/``Cookie``: credentials come from ``auth`` only. Non-ASCII header values are
percent-encoded (UTF-8). The ``url`` may contain ``{message_id}``, ``{correlation_id}``,
``{service}``, ``{recipient}``, ``{sender_agency}`` (URL-quoted), e.g. for ``PUT /documents/{id}``.

The body always goes with a ``Content-Length`` (never ``Transfer-Encoding: chunked``, which many
partners refuse): a payload up to 1 MiB is sent from memory, a larger one is streamed from its
file chunk by chunk, so a 1 GB document costs one chunk of memory. Of the answer at most 1 MiB
is kept (``details["response_truncated"]`` when cut); an error quotes its first 300 characters.

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
stored payload shorter/longer than its recorded size  Local           None
====================================================  ==============  ====================

TLS failures are transient on purpose: the usual causes (a partner's expired or rolled-over
certificate, a CA bundle being updated) are fixed on one side without touching the message, and
the retry budget bounds the cost; the distinct status lets monitoring tell them apart.

``health()`` probes ``health_url`` with ``GET`` (healthy = 2xx) if configured; otherwise it sends
``HEAD`` to the delivery URL (to the origin if the URL has placeholders). HEAD is safe by
definition (no side effect, no body) and proves DNS, TCP, TLS and credentials; any answer below
500 except 401/403/407/429 counts as healthy, because a POST-only endpoint legitimately answers
405 or 404 to HEAD. ``check()`` (test connection) sends that same probe once, after checking the
secret references, DNS and TCP (``connectors.http_check``); ``retarget()`` moves ``url`` and
``health_url`` to another origin for the conformance suite.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from connectors.http import (
    HEADER_NAME,
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    auth_headers,
    header_value,
    make_session,
    origin,
    payload_body,
    read_answer,
    status_error,
    timeouts,
    transport_error,
)
from connectors.http_check import http_checks, retarget
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import DeliveryError, SchemaViolation

RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "content-type",
        "content-length",
        "host",
        "transfer-encoding",
        "connection",
        "idempotency-key",
        "x-correlation-id",
        "traceparent",  # set from the message's trace at send time (connectors/http.py)
        "tracestate",
    }
)
URL_PLACEHOLDER = re.compile(r"\{(message_id|correlation_id|service|recipient|sender_agency)\}")


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
            "url": {
                "type": "string",
                "pattern": "^https?://[^/\\s]+",
                "description": "delivery URL; may contain {message_id} etc.",
            },
            "method": {"enum": ["POST", "PUT"], "default": "POST"},
            "timeout_seconds": TIMEOUT_SCHEMA,
            "headers": {
                "type": "object",
                "propertyNames": {"pattern": HEADER_NAME},
                "additionalProperties": {"type": "string", "pattern": "^[^\\r\\n]*$"},
                "description": "static headers added to every request",
            },
            "forward_headers": {
                "type": "array",
                "uniqueItems": True,
                "items": {"type": "string", "pattern": HEADER_NAME},
                "description": "envelope headers copied to the request",
            },
            "accept_statuses": {
                "type": "array",
                "items": {"type": "integer", "minimum": 300, "maximum": 499},
                "description": "extra statuses meaning delivered, e.g. 409 "
                "from partners that answer a repeat that way",
            },
            "health_url": {
                "type": "string",
                "pattern": "^https?://",
                "description": "GET probe for health(); default HEAD on url",
            },
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
            with payload_body(message.payload) as body:
                response = self._session.request(
                    self.config.get("method", "POST"),
                    url,
                    data=body,
                    stream=True,
                    headers={**self._headers(message), **auth},
                    timeout=timeouts(self.config, timeout),
                    allow_redirects=False,
                )
                answer, truncated = read_answer(response)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the seam: nothing from requests escapes
            raise transport_error(exc, f"{self.name}: {origin(url)}", secrets) from None
        code = response.status_code
        if not (200 <= code < 300 or code in self.config.get("accept_statuses", ())):
            raise status_error(response, answer, self.name, secrets)
        details: dict[str, Any] = {"http_status": code}
        if "Location" in response.headers:
            details["location"] = response.headers["Location"]
        if truncated:
            details["response_truncated"] = True
        return DeliveryResult(
            remote_status=str(code),
            response=answer,
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            details=details,
        )

    def health(self) -> Health:
        method, url = self._probe()
        secrets: list[str] = []
        try:
            auth, secrets = auth_headers(self.config.get("auth"))
            response = self._session.request(
                method,
                url,
                headers=auth,
                allow_redirects=False,
                stream=True,
                timeout=timeouts(self.config, 10.0),
            )
            response.close()  # the status is the answer; a probe never downloads a body
        except DeliveryError as exc:
            return Health(False, exc.message)
        except Exception as exc:  # noqa: BLE001
            return Health(False, transport_error(exc, origin(url), secrets).message)
        code = response.status_code
        ok = (
            (200 <= code < 300)
            if method == "GET"
            else (code < 500 and code not in (401, 403, 407, 429))
        )
        return Health(ok, f"{method} {url} -> HTTP {code}")

    def check(self) -> list[CheckResult]:
        method, url = self._probe()
        return http_checks(self.config, self._session, url, method)

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url", "health_url")

    def close(self) -> None:
        self._session.close()

    def _probe(self) -> tuple[str, str]:
        """``health_url`` with GET, else HEAD on the delivery URL (its origin if it has
        placeholders)."""
        if "health_url" in self.config:
            return "GET", self.config["health_url"]
        url = self.config["url"]
        return "HEAD", origin(url) + "/" if URL_PLACEHOLDER.search(url) else url

    def _headers(self, message: OutboundMessage) -> dict[str, str]:
        headers = dict(self.config.get("headers", {}))
        envelope = {k.lower(): v for k, v in message.headers.items()}
        for name in self.config.get("forward_headers", ()):
            if name.lower() in envelope:
                headers[name] = envelope[name.lower()]
        headers.update(
            {
                "Content-Type": message.content_type,
                "Idempotency-Key": message.id,
                "X-Correlation-Id": message.correlation_id,
                "X-LGSP-Sender": f"{message.sender_agency}/{message.sender_system}",
                "X-LGSP-Attempt": str(message.attempt),
            }
        )
        if message.service:
            headers["X-LGSP-Service"] = message.service
        if message.recipient:
            headers["X-LGSP-Recipient"] = message.recipient
        return {name: header_value(value) for name, value in headers.items()}


# --- helpers ------------------------------------------------------------------------------------
def check_header_names(config: Mapping[str, Any]) -> None:
    """Refuse config headers that would carry credentials or override the hub's own headers."""
    reserved = set(RESERVED_HEADERS)
    auth = config.get("auth") or {}
    if auth.get("type") == "api_key":
        reserved.add(auth.get("header", "X-API-Key").lower())
    errors = [
        {
            "path": f"/{field}/{name}" if field == "headers" else f"/{field}/{i}",
            "message": f"header {name!r} is set by the connector or by auth, not by config",
        }
        for field in ("headers", "forward_headers")
        for i, name in enumerate(config.get(field, ()))
        if name.lower() in reserved or name.lower().startswith("x-lgsp-")
    ]
    if errors:
        raise SchemaViolation("invalid configuration: reserved header names", errors=errors)


def expand_url(template: str, message: OutboundMessage) -> str:
    values = {
        "message_id": message.id,
        "correlation_id": message.correlation_id,
        "service": message.service or "",
        "recipient": message.recipient or "",
        "sender_agency": message.sender_agency,
    }
    return URL_PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), template)
