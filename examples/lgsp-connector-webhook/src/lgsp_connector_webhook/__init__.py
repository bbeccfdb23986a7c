"""``webhook``: deliver each message as one HMAC-signed ``POST`` — an example of a third-party
connector type for LGSP Hub, discovered through the ``lgsp.connectors`` entry point.

Configuration::

    {"url": "https://partner.example/hooks/lgsp", "secret_env": "PARTNER_WEBHOOK_SECRET",
     "timeout_seconds": {"connect": 5, "read": 30}}

What is sent: the payload as the body, ``Content-Type`` = the message's,
``X-Signature: sha256=<hex HMAC-SHA256 of the body>`` keyed with the secret that ``secret_env``
or ``secret_file`` names (never the secret itself in the configuration), ``Idempotency-Key:
<message id>`` and ``X-Correlation-Id``. The receiver recomputes the HMAC over the raw body and
compares it in constant time. The signature is computed over the payload's chunks and the body
streamed after, so a large payload costs one chunk of memory.

Everything else comes from the hub's public HTTP toolkit (``connectors.http``): the session
(no retries, no environment proxies), TLS and proxy options, optional ``auth`` headers,
timeouts, the answer read up to a cap, and the error classes — 5xx/408/425/429, timeouts and
connection failures retryable, other statuses permanent, secrets scrubbed from every message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.http import (
    ENV_NAME,
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    auth_headers,
    header_value,
    make_session,
    origin,
    payload_body,
    read_answer,
    resolve_secret,
    status_error,
    timeouts,
    transport_error,
)
from connectors.http_check import http_checks, retarget
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import DeliveryError

__all__ = ["WebhookConnector", "signature"]


class WebhookConnector(Connector):
    """POST the payload, signed with HMAC-SHA256, to ``url``."""

    type_name = "webhook"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "webhook connector",
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "oneOf": [{"required": ["secret_env"]}, {"required": ["secret_file"]}],
        "properties": {
            "url": {"type": "string", "pattern": "^https?://[^/\\s]+"},
            "secret_env": {
                "type": "string",
                "pattern": ENV_NAME,
                "description": "environment variable holding the signing secret",
            },
            "secret_file": {
                "type": "string",
                "minLength": 1,
                "description": "file holding the signing secret (re-read per message)",
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
            **HTTP_CLIENT_PROPERTIES,
        },
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        url = self.config["url"]
        secrets: list[str] = []
        try:
            key = resolve_secret(self.config, "secret")
            auth, secrets = auth_headers(self.config.get("auth"))
            secrets.append(key)
            headers = {
                **auth,
                "Content-Type": header_value(message.content_type),
                "X-Signature": f"sha256={signature(key, message.payload.chunks())}",
                "Idempotency-Key": message.id,
                "X-Correlation-Id": header_value(message.correlation_id),
            }
            with payload_body(message.payload) as body:
                response = self._session.post(
                    url,
                    data=body,
                    headers=headers,
                    stream=True,
                    timeout=timeouts(self.config, timeout),
                    allow_redirects=False,
                )
                answer, truncated = read_answer(response)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the seam: nothing from requests escapes
            raise transport_error(exc, f"{self.name}: {origin(url)}", secrets) from None
        if not 200 <= response.status_code < 300:
            raise status_error(response, answer, self.name, secrets)
        return DeliveryResult(
            remote_status=str(response.status_code),
            response=answer,
            content_type=response.headers.get("Content-Type", "application/octet-stream"),
            details={"response_truncated": True} if truncated else {},
        )

    def health(self) -> Health:
        """HEAD on the URL: any answer below 500 but 401/403/407/429 proves it is there."""
        secrets: list[str] = []
        try:
            auth, secrets = auth_headers(self.config.get("auth"))
            response = self._session.head(
                self.config["url"], headers=auth, timeout=timeouts(self.config, 10.0)
            )
        except DeliveryError as exc:
            return Health(False, exc.message)
        except Exception as exc:  # noqa: BLE001
            return Health(False, transport_error(exc, origin(self.config["url"]), secrets).message)
        code = response.status_code
        return Health(code < 500 and code not in (401, 403, 407, 429), f"HEAD -> HTTP {code}")

    def check(self) -> list[CheckResult]:
        """The signing secret and ``auth`` resolve, the URL resolves and answers a HEAD."""
        return http_checks(
            self.config,
            self._session,
            self.config["url"],
            "HEAD",
            extra_secrets=[("", self.config, "secret")],
        )

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url")

    def close(self) -> None:
        self._session.close()


def signature(key: str, chunks: Iterable[bytes]) -> str:
    """Hex HMAC-SHA256 of the concatenated ``chunks`` (an iterable of bytes) under ``key``."""
    mac = hmac.new(key.encode(), digestmod=hashlib.sha256)
    for chunk in chunks:
        mac.update(chunk)
    return mac.hexdigest()
