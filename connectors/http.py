"""The HTTP toolkit every HTTP-based connector shares (``rest``, ``soap``, the national axes,
third-party packages): one way to build a session, resolve credentials, stream a body, read an
answer and map a failure to the hub's retry rules, so a partner module adds protocol details
only. It is public (``__all__`` is the supported surface) and, like every connector module,
depends only on the connector seam, the payload handle and the errors; "test connection" for
HTTP types is in :mod:`connectors.http_check`.

Sessions never retry, follow the environment's proxies or read ``.netrc`` (the hub retries with
backoff; configuration comes from the connector alone), and put the W3C trace of the work in
hand on every request (``traceparent``). Bodies are streamed with an explicit ``Content-Length``
(many partners refuse ``Transfer-Encoding: chunked``), answers are read up to a cap, and secrets
are resolved per request and scrubbed from every error message.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from opentelemetry import propagate
from requests.adapters import HTTPAdapter
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from hub.connector import CheckResult, DeliveryResult, Health
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.payload import CHUNK, Payload

__all__ = [
    "AUTH_SCHEMA",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "EMAIL",
    "ENV_NAME",
    "HEADER_NAME",
    "HTTP_CLIENT_PROPERTIES",
    "INLINE_BODY_BYTES",
    "JSON_CONTENT_TYPE",
    "MAX_ANSWER_BYTES",
    "PERSONAL_NUMBERS",
    "TIMEOUT_SCHEMA",
    "TRANSIENT_STATUSES",
    "URL_PATTERN",
    "SizedStream",
    "answer_result",
    "auth_headers",
    "excerpt",
    "header_value",
    "json_object",
    "keep_last3",
    "make_session",
    "mask_emails",
    "mask_error",
    "mask_numbers",
    "mask_values",
    "origin",
    "partner_codes",
    "payload_body",
    "read_answer",
    "redact",
    "request_health",
    "resolve_secret",
    "root_cause",
    "secret_properties",
    "secret_rule",
    "send_json",
    "status_error",
    "timeouts",
    "transport_error",
    "url_property",
]

HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
TRANSIENT_STATUSES = frozenset({408, 425, 429})
INLINE_BODY_BYTES = 1024 * 1024  # below this a body is sent from memory, above it streamed
MAX_ANSWER_BYTES = 1024 * 1024  # what is kept of a partner's answer
URL_PATTERN = "^https?://[^/\\s]+"  # a partner's URL: http(s) and a host
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
# ID numbers (9-digit CMND, 12-digit CCCD) and phone numbers: what a partner may echo of a citizen
PERSONAL_NUMBERS = re.compile(r"(?<![0-9])[0-9]{9,12}(?![0-9])")
EMAIL = re.compile(r"[^\s@'\"]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
FORBIDDEN: dict[str, Any] = {"not": {}}  # not `False`: jsonschema then omits the field's path
_SAFE_HEADER_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def _exactly_one(env: str, file: str) -> dict[str, Any]:
    """Schema: ``env`` or ``file``, not both; worded so errors name the field."""
    return {
        "if": {"required": [file]},
        "then": {"properties": {env: FORBIDDEN}},
        "else": {"required": [env]},
    }


AUTH_SCHEMA: dict[str, Any] = {
    "description": "Credentials, referenced by environment variable or file, never inline.",
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["bearer", "api_key"]},
        "token_env": {
            "type": "string",
            "pattern": ENV_NAME,
            "description": "bearer: environment variable holding the token",
        },
        "token_file": {
            "type": "string",
            "minLength": 1,
            "description": "bearer: file holding the token (re-read per request)",
        },
        "header": {
            "type": "string",
            "pattern": HEADER_NAME,
            "default": "X-API-Key",
            "description": "api_key: header that carries the key",
        },
        "key_env": {
            "type": "string",
            "pattern": ENV_NAME,
            "description": "api_key: environment variable holding the key",
        },
        "key_file": {
            "type": "string",
            "minLength": 1,
            "description": "api_key: file holding the key (re-read per request)",
        },
    },
    "allOf": [
        {
            "if": {"required": ["type"], "properties": {"type": {"const": "bearer"}}},
            "then": {
                "properties": {"header": FORBIDDEN, "key_env": FORBIDDEN, "key_file": FORBIDDEN},
                **_exactly_one("token_env", "token_file"),
            },
        },
        {
            "if": {"required": ["type"], "properties": {"type": {"const": "api_key"}}},
            "then": {
                "properties": {"token_env": FORBIDDEN, "token_file": FORBIDDEN},
                **_exactly_one("key_env", "key_file"),
            },
        },
    ],
}

HTTP_CLIENT_PROPERTIES: dict[str, Any] = {
    "auth": AUTH_SCHEMA,
    "verify": {
        "type": ["boolean", "string"],
        "minLength": 1,
        "default": True,
        "description": "true: check the partner's certificate against the bundled CAs; "
        "a path: against that PEM CA bundle; false: don't (dev only)",
    },
    "client_cert": {
        "type": "string",
        "minLength": 1,
        "description": "PEM certificate presented for mutual TLS",
    },
    "client_key": {
        "type": "string",
        "minLength": 1,
        "description": "unencrypted PEM key of client_cert (if not inside it)",
    },
    "proxy": {
        "type": "string",
        "pattern": "^https?://",
        "description": "HTTP(S) proxy URL; the environment's proxy settings are ignored",
    },
}

TIMEOUT_SCHEMA: dict[str, Any] = {
    "description": "Seconds: one number for connect and read, or {connect, read}; "
    f"default {DEFAULT_CONNECT_TIMEOUT:g}/{DEFAULT_READ_TIMEOUT:g}.",
    "type": ["number", "object"],
    "exclusiveMinimum": 0,
    "additionalProperties": False,
    "properties": {
        "connect": {"type": "number", "exclusiveMinimum": 0},
        "read": {"type": "number", "exclusiveMinimum": 0},
    },
}


def url_property(description: str) -> dict[str, Any]:
    """Schema of a partner URL in a configuration: http(s) with a host, so a typo is refused when
    the connector is registered rather than at the first delivery."""
    return {"type": "string", "pattern": URL_PATTERN, "description": description}


def secret_properties(kind: str, what: str) -> dict[str, Any]:
    """Schema properties of a secret reference ``<kind>_env``/``<kind>_file`` (what
    ``resolve_secret(config, kind)`` reads): a configuration names a secret, never holds it.
    Pair it with ``secret_rule(kind)``."""
    return {
        f"{kind}_env": {
            "type": "string",
            "pattern": ENV_NAME,
            "description": f"environment variable holding {what}",
        },
        f"{kind}_file": {
            "type": "string",
            "minLength": 1,
            "description": f"file holding {what} (re-read per message)",
        },
    }


def secret_rule(kind: str) -> dict[str, Any]:
    """The schema rule (``if``/``then``/``else``, to spread into the top level) that exactly one
    of ``<kind>_env`` and ``<kind>_file`` is given, worded so an error names the field."""
    return _exactly_one(f"{kind}_env", f"{kind}_file")


def partner_codes(pattern: str | None = None, **keywords: Any) -> dict[str, Any]:
    """Schema of a list of a partner's own answer codes (which mean success, retry …): distinct
    strings, each of ``pattern`` when given; ``keywords`` add a ``default``, a ``description``.
    Partners' codes are not public, so connectors let the province configure them."""
    code = {"type": "string", "pattern": pattern} if pattern else {"type": "string", "minLength": 1}
    return {"type": "array", "uniqueItems": True, "items": code, **keywords}


# --- sessions and credentials ------------------------------------------------------------------
def make_session(config: Mapping[str, Any]) -> requests.Session:
    """A session whose TLS, proxy and retry behaviour come from ``config`` alone: no retries
    (the hub retries with backoff), no environment proxies, ``.netrc`` or CA variables."""
    session = requests.Session()
    session.trust_env = False
    adapter = _TracedAdapter(max_retries=0, pool_connections=4, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = config.get("verify", True)
    if "client_cert" in config:
        session.cert = (
            (config["client_cert"], config["client_key"])
            if "client_key" in config
            else config["client_cert"]
        )
    if "proxy" in config:
        session.proxies = {"http": config["proxy"], "https": config["proxy"]}
    return session


class _TracedAdapter(HTTPAdapter):
    """Every request carries the trace of the work in hand — W3C ``traceparent`` (and
    ``tracestate``) of the delivery attempt's span, which the hub makes the current span of the
    OpenTelemetry context — so the partner's logs and the hub's meet on one trace-id. Added as
    the request goes out, in the thread that sends it, whatever built it (``requests`` or
    zeep); with no trace bound (a scheduled poll) nothing is added."""

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        propagate.inject(request.headers)


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
            raise PermanentDeliveryError(
                f"cannot read secret {where}: {exc.strerror}", reason="config"
            ) from None
    value = value.strip()
    if not value or "\n" in value or "\r" in value:
        raise PermanentDeliveryError(
            f"secret {where} is unset, empty or not one line", reason="config"
        )
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


def header_value(value: str) -> str:
    """HTTP/1.1 header values are Latin-1 at best: keep ASCII, percent-encode the rest."""
    return value if value.isascii() and value.isprintable() else quote(value, _SAFE_HEADER_CHARS)


# --- bodies and answers ------------------------------------------------------------------------
class SizedStream:
    """A request body of known length made of chunks: requests sends it with
    ``Content-Length: <length>`` (because of ``__len__``) and urllib3 writes the chunks as they
    come, so memory stays at one chunk. If the chunks do not add up to ``length`` the request is
    abandoned with ``LocalDeliveryError`` rather than leaving the partner waiting for bytes."""

    def __init__(self, length: int, chunks: Iterable[bytes]) -> None:
        self.length = length
        self._chunks: Iterable[bytes] | None = chunks

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        chunks, self._chunks = self._chunks, None
        if chunks is None:
            raise LocalDeliveryError("a streamed body can be sent only once")
        sent = 0
        for chunk in chunks:
            sent += len(chunk)
            if sent > self.length:
                break
            yield chunk
        if sent != self.length:
            raise LocalDeliveryError(
                f"body is {'over' if sent > self.length else 'only'} "
                f"{sent} bytes, {self.length} were announced",
                reason="payload_size",
            )


@contextmanager
def payload_body(payload: Payload) -> Iterator[bytes | SizedStream]:
    """The request body for ``payload``: bytes when small, else a stream of its chunks with
    ``Content-Length`` = ``payload.size``; the file is closed when the block ends."""
    if payload.in_memory or payload.size <= INLINE_BODY_BYTES:
        yield payload.read()
        return
    with payload.open() as fh:
        yield SizedStream(payload.size, iter(lambda: fh.read(CHUNK), b""))


def read_answer(response: requests.Response, limit: int = MAX_ANSWER_BYTES) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a streamed (``stream=True``) answer, decoded, and whether it
    was cut; the connection is released either way. A partner cannot fill the worker's memory
    with an endless or compressed-bomb answer."""
    parts: list[bytes] = []
    kept, truncated = 0, False
    try:
        for chunk in response.iter_content(64 * 1024):
            if kept + len(chunk) > limit:
                parts.append(chunk[: limit - kept])
                truncated = True
                break
            parts.append(chunk)
            kept += len(chunk)
    finally:
        response.close()
    return b"".join(parts), truncated


def excerpt(
    body: bytes, response: requests.Response, secrets: Iterable[str], length: int = 300
) -> str:
    """The start of an answer as text for an error message, secrets scrubbed."""
    text = body[: length * 4].decode(response.encoding or "utf-8", errors="replace")
    return redact(text[:length], secrets)


def send_json(
    session: requests.Session,
    method: str,
    url: str,
    body: Any,
    headers: Mapping[str, str],
    *,
    name: str,
    timeout: tuple[float, float],
    secrets: Iterable[str] = (),
    params: Mapping[str, Any] | None = None,
    limit: int = MAX_ANSWER_BYTES,
) -> tuple[requests.Response, bytes, bool]:
    """One call to a JSON API as every such partner type makes it: ``body`` (``None``: none)
    sent as UTF-8 JSON, redirects not followed, at most ``limit`` bytes of the answer read; the
    response, those bytes and whether they were cut. A failure to talk is raised as
    ``transport_error`` (secrets scrubbed); judging the status is the caller's
    (``status_error``), as partners put their own codes in error answers."""
    try:
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {**headers, "Content-Type": JSON_CONTENT_TYPE}
        response = session.request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=timeout,
        )
        answer, truncated = read_answer(response, limit)
    except DeliveryError:
        raise
    except Exception as exc:  # noqa: BLE001 - the seam: nothing from requests escapes
        raise transport_error(exc, f"{name}: {origin(url)}", secrets) from None
    return response, answer, truncated


def answer_result(
    response: requests.Response,
    answer: bytes,
    truncated: bool,
    details: dict[str, Any],
    remote_status: str | None = None,
) -> DeliveryResult:
    """The result of a delivery the partner accepted, its answer kept as it came: with its
    content type (JSON when it names none), ``remote_status`` (default: the HTTP status) and
    ``details``, plus ``response_truncated`` when ``read_answer`` cut the answer."""
    if truncated:
        details["response_truncated"] = True
    return DeliveryResult(
        remote_status=remote_status or str(response.status_code),
        response=answer,
        content_type=response.headers.get("Content-Type", "application/json"),
        details=details,
    )


def json_object(answer: bytes) -> dict[str, Any]:
    """``answer`` as a JSON object, or ``{}`` when it is not one (an HTML error page, a proxy's
    text): the fields a partner's answer may carry are then simply absent."""
    try:
        body = json.loads(answer)
    except (ValueError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


# --- failures ----------------------------------------------------------------------------------
def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def transport_error(exc: BaseException, where: str, secrets: Iterable[str] = ()) -> DeliveryError:
    """Map an exception raised while talking HTTP to a delivery error (see ``connectors.rest``):
    timeouts, connection and TLS failures are transient, local problems permanent."""
    cause = root_cause(exc)
    reason = redact(
        f"{type(cause).__name__}: {getattr(cause, 'strerror', None) or cause}"[:300], secrets
    )
    exc_type = type(exc).__name__
    rex = requests.exceptions
    if isinstance(exc, rex.SSLError):
        return TransientDeliveryError(
            f"{where}: TLS failure ({reason})", remote_status="tls_error", cause=exc_type
        )
    if isinstance(exc, rex.Timeout) or isinstance(cause, TimeoutError | Urllib3Timeout):
        return TransientDeliveryError(
            f"{where}: timed out ({exc_type})", remote_status="timeout", cause=exc_type
        )
    if isinstance(exc, rex.ConnectionError | rex.ChunkedEncodingError | rex.ContentDecodingError):
        return TransientDeliveryError(
            f"{where}: connection failed ({reason})",
            remote_status="connection_error",
            cause=exc_type,
        )
    if isinstance(exc, OSError):  # missing CA bundle / client certificate file, invalid URL …
        return PermanentDeliveryError(
            f"{where}: local configuration problem ({reason})", reason="config", cause=exc_type
        )
    return PermanentDeliveryError(f"{where}: unexpected {exc_type} ({reason})", cause=exc_type)


def status_error(
    response: requests.Response, body: bytes, name: str, secrets: Iterable[str]
) -> DeliveryError:
    """Map a non-success HTTP answer (``body``: what was read of it) to a delivery error:
    5xx/408/425/429 transient, 3xx and other 4xx permanent."""
    code = response.status_code
    details: dict[str, Any] = {
        "http_status": code,
        "response_excerpt": excerpt(body, response, secrets),
    }
    if "Retry-After" in response.headers:
        details["retry_after"] = response.headers["Retry-After"]
    message = f"{name}: partner answered HTTP {code} {response.reason or ''}".rstrip()
    if code >= 500 or code in TRANSIENT_STATUSES:
        return TransientDeliveryError(message, remote_status=str(code), **details)
    if 300 <= code < 400:
        details["location"] = response.headers.get("Location")
        message += " (redirects are not followed: update the connector's url)"
    return PermanentDeliveryError(message, remote_status=str(code), **details)


def root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nested = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        nxt = (
            getattr(exc, "reason", None)
            if isinstance(getattr(exc, "reason", None), BaseException)
            else None
        )
        nxt = nxt or nested or exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: enough to say where, without path, query or userinfo."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def request_health(checks: Iterable[CheckResult]) -> Health:
    """``health()`` from ``check()``'s results: up when its ``request`` (or, if the check itself
    failed, that) is ``ok`` — one meaning of "reachable" for the breaker and for admins."""
    request = next(r for r in checks if r.name in ("request", "check"))
    return Health(request.status == "ok", request.detail)


# --- personal data -----------------------------------------------------------------------------
def keep_last3(value: str) -> str:
    """``value`` masked but for its last 3 characters (at least 3 stars): enough for a person to
    tell which number it was, too little to use it."""
    return "*" * max(len(value) - 3, 3) + value[-3:] if len(value) > 3 else "***"


def mask_numbers(text: str, numbers: re.Pattern[str] = PERSONAL_NUMBERS) -> str:
    """``text`` with every ID- or phone-like digit run (``numbers``) cut to its last 3: a partner
    may echo a citizen's number in any form, not only the one that was sent."""
    return numbers.sub(lambda m: keep_last3(m[0]), text)


def mask_emails(text: str) -> str:
    """``text`` with every e-mail address hidden (``***@***``)."""
    return EMAIL.sub("***@***", text)


def mask_values(text: str, masks: Mapping[str, str]) -> str:
    """``text`` with each of a message's personal values (the keys of ``masks``) replaced by its
    mask, longest first, so a value inside another (a number in an address) is not half-masked."""
    for value in sorted(masks, key=len, reverse=True):
        if value:
            text = text.replace(value, masks[value])
    return text


def mask_error(error: DeliveryError, mask: Callable[[str], str]) -> DeliveryError:
    """The same error (class, status, details) with ``mask`` applied to every text in it —
    message, ``remote_status`` and details, nested ones too — since errors reach traces and
    admins, and a partner's answer may quote personal data."""

    def masked(value: Any) -> Any:
        if isinstance(value, str):
            return mask(value)
        if isinstance(value, Mapping):
            return {k: masked(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [masked(v) for v in value]
        return value

    details = {key: masked(value) for key, value in error.details.items()}
    return type(error)(mask(error.message), remote_status=masked(error.remote_status), **details)
