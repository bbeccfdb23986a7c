"""OAuth2 client credentials for the national gateways (NDXP, NDOP, a provincial LGSP in the WSO2
API Manager style) — one token client every gateway connector shares, so each renews, caches and
classifies tokens the same way.

Protocol (REFERENCE.md, "VDXP through a provincial LGSP (WSO2 API Manager style)"; RFC 6749
§4.4): ``POST {token_url}`` with ``Authorization: Basic base64(consumer_key:secret)`` and the
form body ``grant_type=client_credentials`` (plus ``scope`` when configured) →
``{"access_token", "token_type": "Bearer", "expires_in"}``; every API call then carries
``Authorization: Bearer <access_token>``. A connector spreads :data:`OAUTH2_PROPERTIES` into its
``config_schema`` properties and puts :data:`OAUTH2_SECRET_RULE` in its ``allOf``::

    {"token_url": "https://gateway.example/token",     # default: <origin of url>/token
     "consumer_key": "lgsp-h57",                       # an identifier, not a secret
     "consumer_secret_env": "NDXP_SECRET",             # or consumer_secret_file
     "scope": "default", "token_renew_margin_seconds": 30}

Behaviour:

* The token is cached per connector instance until ``expires_in`` minus the margin (and at
  90% of its life at most, so a short-lived token is still reused), behind a lock: however
  many workers deliver at once, one token request is made. Without ``expires_in`` a token is
  kept 300 s.
* :meth:`TokenClient.send` renews it once when the API answers 401 (the gateway revoked or
  expired it early); what a second 401 means is the caller's to say.
* The secret is resolved per message (a rotated file needs no restart); it, the Basic
  credentials and the token are scrubbed from every error text (:meth:`TokenClient.secrets`).

Error classes: the token endpoint refusing the client (HTTP 400/401/403 ``invalid_client``,
``unauthorized_client`` …) → ``PermanentDeliveryError`` (``reason: "auth"``, ``remote_status``
``"token:<error>"``); any other 4xx or an answer without a Bearer ``access_token`` (a wrong
``token_url``) → permanent (``reason: "config"``); HTTP 5xx/408/425/429, timeouts and
connection failures → ``TransientDeliveryError``. :meth:`TokenClient.checks` is "test
connection": secrets, DNS and TCP, then one real token request (a refused client is ``auth:
fail``).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from connectors.http import (
    ENV_NAME,
    FORBIDDEN,
    TRANSIENT_STATUSES,
    excerpt,
    origin,
    read_answer,
    redact,
    resolve_secret,
    timeouts,
    transport_error,
)
from connectors.http_check import (
    PROBE_TIMEOUT_CAP,
    address_checks,
    request_checks,
    secret_checks,
)
from hub.connector import CheckResult
from hub.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = [
    "DEFAULT_TOKEN_SECONDS",
    "OAUTH2_PROPERTIES",
    "OAUTH2_SECRET_RULE",
    "Token",
    "TokenClient",
]

DEFAULT_TOKEN_SECONDS = 300.0  # a token answer without expires_in
DEFAULT_MARGIN_SECONDS = 30.0
MAX_TOKEN_ANSWER = 64 * 1024
_SCOPE_TOKEN = "[\\x21\\x23-\\x5b\\x5d-\\x7e]+"  # RFC 6749 §3.3 scope-token

OAUTH2_PROPERTIES: dict[str, Any] = {
    "token_url": {
        "type": "string",
        "pattern": "^https?://[^/\\s]+",
        "description": "OAuth2 token endpoint (client credentials); default <origin of url>/token",
    },
    "consumer_key": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": "^[^:\\s]+$",
        "description": "the application's consumer key (client id; not a secret)",
    },
    "consumer_secret_env": {
        "type": "string",
        "pattern": ENV_NAME,
        "description": "environment variable holding the consumer secret",
    },
    "consumer_secret_file": {
        "type": "string",
        "minLength": 1,
        "description": "file holding the consumer secret (re-read per message)",
    },
    "scope": {
        "type": "string",
        "pattern": f"^{_SCOPE_TOKEN}( {_SCOPE_TOKEN})*$",
        "description": "scopes asked for with the token (space-separated); default none",
    },
    "token_renew_margin_seconds": {
        "type": "number",
        "minimum": 0,
        "default": DEFAULT_MARGIN_SECONDS,
        "description": "renew a token this long before it expires",
    },
}
OAUTH2_SECRET_RULE: dict[str, Any] = {
    "if": {"required": ["consumer_secret_file"]},
    "then": {"properties": {"consumer_secret_env": FORBIDDEN}},
    "else": {"required": ["consumer_secret_env"]},
}


@dataclass(frozen=True)
class Token:
    value: str
    renew_at: float  # time.monotonic() after which a new one is asked for
    expires_in: float


class TokenClient:
    """Client-credentials tokens for one connector instance (thread-safe)."""

    def __init__(self, name: str, config: Mapping[str, Any], session: requests.Session) -> None:
        self.name = name
        self.config = config
        self._http = session
        self._lock = threading.Lock()
        self._token: Token | None = None

    @property
    def token_url(self) -> str:
        return self.config.get("token_url") or origin(self.config["url"]) + "/token"

    def secret(self) -> str:
        """The consumer secret, resolved now; ``PermanentDeliveryError`` when unset."""
        return resolve_secret(self.config, "consumer_secret")

    def secrets(self) -> list[str]:
        """What to scrub from error texts: the secret (when it resolves) and the token."""
        found: list[str] = []
        try:
            found.append(self.secret())
        except DeliveryError:
            pass
        with self._lock:
            if self._token is not None:
                found.append(self._token.value)
        return found

    def send(
        self,
        request: Callable[[dict[str, str]], requests.Response],
        limits: tuple[float, float],
    ) -> requests.Response:
        """``request(auth headers)`` with the cached token; when the answer is 401, once more
        with a new token. Token failures raise the hub's errors; ``request``'s own exceptions
        are the caller's to map."""
        secret = self.secret()
        value = self.token(secret, limits)
        response = request({"Authorization": f"Bearer {value}"})
        if response.status_code != 401:
            return response
        response.close()
        self.forget(value)
        return request({"Authorization": f"Bearer {self.token(secret, limits)}"})

    def token(self, secret: str, limits: tuple[float, float]) -> str:
        """The cached token, or a new one (one request however many threads ask)."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._token.renew_at:
                self._token = self.request_token(secret, limits)
            return self._token.value

    def forget(self, value: str) -> None:
        """Drop ``value`` if it is still the cached token (another thread may have renewed)."""
        with self._lock:
            if self._token is not None and self._token.value == value:
                self._token = None

    def request_token(self, secret: str, limits: tuple[float, float]) -> Token:
        """One token request, not cached."""
        url = self.token_url
        basic = base64.b64encode(f"{self.config['consumer_key']}:{secret}".encode()).decode()
        scrub = [secret, basic]
        form = {"grant_type": "client_credentials"}
        if "scope" in self.config:
            form["scope"] = self.config["scope"]
        try:
            response = self._http.post(
                url,
                data=form,
                headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
                timeout=limits,
                stream=True,
                allow_redirects=False,
            )
            raw, _ = read_answer(response, MAX_TOKEN_ANSWER)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the seam: nothing from requests escapes
            raise transport_error(exc, f"{self.name}: token {origin(url)}", scrub) from None
        answer = _json_object(raw)
        if response.status_code != 200:
            raise self._refusal(response, raw, answer, scrub)
        value = answer.get("access_token")
        kind = str(answer.get("token_type") or "bearer").lower()
        if not isinstance(value, str) or not value.strip() or kind != "bearer":
            raise PermanentDeliveryError(
                f"{self.name}: token {origin(url)} answered HTTP 200 without a Bearer "
                "access_token: check token_url",
                remote_status="token:no_access_token",
                reason="config",
            )
        margin = float(self.config.get("token_renew_margin_seconds", DEFAULT_MARGIN_SECONDS))
        return _token(value.strip(), answer.get("expires_in"), margin)

    def _refusal(
        self,
        response: requests.Response,
        raw: bytes,
        answer: Mapping[str, Any],
        scrub: Iterable[str],
    ) -> DeliveryError:
        code = response.status_code
        details: dict[str, Any] = {
            "http_status": code,
            "response_excerpt": excerpt(raw, response, scrub),
        }
        where = f"{self.name}: token {origin(self.token_url)}"
        if code >= 500 or code in TRANSIENT_STATUSES:
            if "Retry-After" in response.headers:
                details["retry_after"] = response.headers["Retry-After"]
            return TransientDeliveryError(
                f"{where} answered HTTP {code}: the token endpoint is failing or busy",
                remote_status=str(code),
                **details,
            )
        error = str(answer.get("error") or code)[:60]
        if code not in (400, 401, 403):  # not a refusal of the client: the wrong endpoint
            return PermanentDeliveryError(
                f"{where} answered HTTP {code}: check token_url",
                remote_status=f"token:{code}",
                reason="config",
                **details,
            )
        described = redact(str(answer.get("error_description") or "")[:200], scrub)
        return PermanentDeliveryError(
            f"{where} refused the client (HTTP {code} {error}"
            + (f": {described}" if described else "")
            + "): check consumer_key and the consumer secret",
            remote_status=f"token:{error}",
            reason="auth",
            **details,
        )

    # --- test connection -------------------------------------------------------------------------
    def checks(self, *other_urls: str) -> list[CheckResult]:
        """Secrets, TLS files, DNS and TCP of the token endpoint (and of ``other_urls`` on other
        origins), then one real token request: ``request`` and ``auth``."""
        try:
            config, url = self.config, self.token_url
            results = secret_checks(config, [("", config, "consumer_secret")])
            connect, read = timeouts(config, PROBE_TIMEOUT_CAP)
            origins = {origin(url)}
            results += address_checks(url, config, connect)
            for other in other_urls:
                if origin(other) not in origins:
                    origins.add(origin(other))
                    results += address_checks(other, config, connect)
            if any(r.name in ("dns", "connect") and r.status != "ok" for r in results):
                return [
                    *results,
                    CheckResult("request", "warn", "not tried: no connection"),
                    CheckResult("auth", "warn", "cannot be told: no connection"),
                ]
            return results + self._token_checks(url, (connect, read))
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]

    def _token_checks(self, url: str, limits: tuple[float, float]) -> list[CheckResult]:
        where = f"token {origin(url)}"
        try:
            secret = self.secret()
        except DeliveryError:
            request, _ = request_checks(self._http, "HEAD", url, {}, limits)
            return [request, CheckResult("auth", "fail", "not tried: a secret does not resolve")]
        try:
            token = self.request_token(secret, limits)
        except TransientDeliveryError as exc:
            return [
                CheckResult("request", "warn", exc.message),
                CheckResult("auth", "warn", "cannot be told: the token endpoint did not answer"),
            ]
        except PermanentDeliveryError as exc:
            if exc.details.get("reason") == "auth":
                answered = f"{where} -> HTTP {exc.details.get('http_status')}"
                return [
                    CheckResult("request", "ok", answered),
                    CheckResult("auth", "fail", exc.message),
                ]
            return [
                CheckResult("request", "fail", exc.message),
                CheckResult("auth", "warn", "cannot be told from that answer"),
            ]
        return [
            CheckResult("request", "ok", f"{where} -> HTTP 200"),
            CheckResult("auth", "ok", f"{where}: token granted for {token.expires_in:g} s"),
        ]


def _token(value: str, expires_in: Any, margin: float) -> Token:
    """A token renewed ``margin`` seconds before it expires, and at 90% of its life at most."""
    try:
        life = max(float(expires_in), 0.0)
    except (TypeError, ValueError):
        life = DEFAULT_TOKEN_SECONDS
    keep = max(0.0, min(life - margin, life * 0.9))
    return Token(value, time.monotonic() + keep, life)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
