"""Test connection for HTTP connector types (``Connector.check``) and pointing one at a stand-in
partner (``Connector.retarget``), shared by ``rest``, ``soap`` and third-party types.

``http_checks`` reports, in order: every secret reference resolves (``secret``) and every TLS
file is readable (``file``) — ``fail`` otherwise, nothing else can fix it; the address resolves
(``dns``: an unknown name is ``fail``, a resolver that does not answer ``warn``); it accepts a
TCP connection (``connect``: refused or timed out is ``warn``, the partner may be down); one
request answers (``request``: 5xx/429 ``warn``, a TLS failure ``fail``); and from that same
answer whether the credentials pass (``auth``: 401/403/407 ``fail``, a 2xx ``ok``, anything
else ``warn`` — a ``HEAD`` answered 405 tells nothing about credentials). Timeouts are the
connector's own, capped at 10 s; details name environment variables and files, never values.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.http import auth_headers, origin, resolve_secret, timeouts, transport_error
from hub.connector import CheckResult
from hub.errors import DeliveryError, TransientDeliveryError

__all__ = [
    "PROBE_TIMEOUT_CAP",
    "SERVER_TROUBLE",
    "SecretRef",
    "address_checks",
    "auth_check",
    "http_checks",
    "request_checks",
    "retarget",
    "secret_checks",
]

PROBE_TIMEOUT_CAP = 10.0
SERVER_TROUBLE = frozenset({408, 425, 429, *range(500, 600)})  # the partner is failing or busy
TLS_FILES = ("client_cert", "client_key", "verify")
# (where in the config, e.g. "auth.", the mapping holding <kind>_env / <kind>_file, kind)
SecretRef = tuple[str, Mapping[str, Any], str]


def http_checks(
    config: Mapping[str, Any],
    session: requests.Session,
    url: str,
    method: str = "HEAD",
    *,
    extra_secrets: Iterable[SecretRef] = (),
    unhealthy: frozenset[int] = SERVER_TROUBLE,
) -> list[CheckResult]:
    """Secrets, DNS, TCP, then one ``method`` request to ``url`` with the credentials."""
    try:
        results = secret_checks(config, extra_secrets)
        connect, read = timeouts(config, PROBE_TIMEOUT_CAP)
        results += address_checks(url, config, connect)
        if results[-1].status != "ok":
            return [
                *results,
                CheckResult("request", "warn", "not tried: no connection"),
                CheckResult("auth", "warn", "cannot be told: no connection"),
            ]
        try:
            headers, secrets = auth_headers(config.get("auth"))
        except DeliveryError:
            request, _ = request_checks(session, method, url, {}, (connect, read), [], unhealthy)
            unresolved = CheckResult("auth", "fail", "not tried: a secret does not resolve")
            return [*results, request, unresolved]
        credentials = bool(config.get("auth"))
        return results + request_checks(
            session, method, url, headers, (connect, read), secrets, unhealthy, credentials
        )
    except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
        return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]


def secret_checks(config: Mapping[str, Any], extra: Iterable[SecretRef] = ()) -> list[CheckResult]:
    """One result per secret reference (``auth`` and ``extra``) and per TLS file."""
    refs: list[SecretRef] = []
    auth = config.get("auth")
    if auth:
        refs.append(("auth.", auth, "token" if auth.get("type") == "bearer" else "key"))
    refs.extend(extra)
    results = []
    for prefix, holder, kind in refs:
        field = f"{kind}_env" if holder.get(f"{kind}_env") else f"{kind}_file"
        try:
            resolve_secret(holder, kind)
        except DeliveryError as exc:
            results.append(CheckResult("secret", "fail", f"{prefix}{field}: {exc.message}"))
            continue
        what = "environment variable" if field.endswith("_env") else "file"
        detail = f"{prefix}{field}: {what} {holder[field]} holds a value"
        results.append(CheckResult("secret", "ok", detail))
    for field in TLS_FILES:
        path = config.get(field)
        if isinstance(path, str):
            readable = os.path.exists(path) and os.access(path, os.R_OK)
            status, state = ("ok", "is readable") if readable else ("fail", "cannot be read")
            results.append(CheckResult("file", status, f"{field}: {path} {state}"))
    return results


def address_checks(url: str, config: Mapping[str, Any], timeout: float) -> list[CheckResult]:
    """``dns`` and ``connect`` for the host of ``url`` (of the proxy, when one is configured)."""
    proxy = config.get("proxy")
    target, via = (proxy, " (the proxy)") if proxy else (url, "")
    parts = urlsplit(target)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 0
    if not parts.hostname or not port:
        return [CheckResult("dns", "fail", f"{origin(target)}{via}: no host or no valid port")]
    host = parts.hostname
    status, detail, found = _resolve(host, port, timeout)
    results = [CheckResult("dns", status, f"{host}{via} {detail}")]
    if not found:
        return [*results, CheckResult("connect", "warn", "not tried: the name did not resolve")]
    started = time.monotonic()
    error: OSError | None = None
    for family, kind, proto, _, address in found:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
        except OSError as exc:
            error = exc
            continue
        ms = (time.monotonic() - started) * 1000
        results.append(
            CheckResult("connect", "ok", f"{host}:{port}{via} accepts connections ({ms:.0f} ms)")
        )
        return results
    reason = "timed out" if isinstance(error, TimeoutError) else _strerror(error)
    results.append(
        CheckResult("connect", "warn", f"{host}:{port}{via}: {reason} (is the partner down?)")
    )
    return results


def request_checks(
    session: requests.Session,
    method: str,
    url: str,
    headers: Mapping[str, str],
    timeout: tuple[float, float],
    secrets: Iterable[str] = (),
    unhealthy: frozenset[int] = SERVER_TROUBLE,
    credentials: bool = True,
) -> list[CheckResult]:
    """``request`` and ``auth`` from one request; the body of the answer is never read."""
    where = f"{method} {origin(url)}{urlsplit(url).path}"
    try:
        response = session.request(
            method, url, headers=headers, allow_redirects=False, stream=True, timeout=timeout
        )
        response.close()
    except Exception as exc:  # noqa: BLE001
        error = transport_error(exc, where, secrets)
        down = isinstance(error, TransientDeliveryError) and error.remote_status != "tls_error"
        return [
            CheckResult("request", "warn" if down else "fail", error.message),
            CheckResult("auth", "warn", "cannot be told: no answer"),
        ]
    code = response.status_code
    answered = f"{where} -> HTTP {code}"
    if code in unhealthy:
        request = CheckResult("request", "warn", f"{answered}: the partner is failing or busy")
    elif 300 <= code < 400:
        request = CheckResult("request", "warn", f"{answered}: deliveries are not redirected")
    else:
        request = CheckResult("request", "ok", answered)
    return [request, auth_check(code, answered, credentials)]


def auth_check(code: int, answered: str, credentials: bool) -> CheckResult:
    """What one HTTP status says about the credentials."""
    if code in (401, 403):
        why = "refused the credentials" if credentials else "wants credentials; none configured"
        return CheckResult("auth", "fail", f"{answered}: the partner {why}")
    if code == 407:
        return CheckResult("auth", "fail", f"{answered}: the proxy wants credentials")
    if 200 <= code < 300:
        return CheckResult("auth", "ok", answered + ("" if credentials else " (no credentials)"))
    return CheckResult("auth", "warn", f"cannot be told from {answered}")


def retarget(config: Mapping[str, Any], base_url: str, *url_fields: str) -> dict[str, Any]:
    """``config`` with the origin of each of ``url_fields`` replaced by ``base_url`` (path,
    query and placeholders kept) and no ``proxy`` (it could not reach the hub's loopback
    stand-in; TLS options are harmless on plain HTTP and kept): the usual body of a type's
    ``Connector.retarget``."""
    moved = {k: v for k, v in config.items() if k != "proxy"}
    for name in url_fields:
        if isinstance(moved.get(name), str):
            parts = urlsplit(moved[name])
            rest = parts.path + (f"?{parts.query}" if parts.query else "")
            moved[name] = base_url.rstrip("/") + (rest or "/")
    return moved


def _resolve(host: str, port: int, timeout: float) -> tuple[str, str, list[Any]]:
    """getaddrinfo with a deadline (it has none of its own): status, detail, addresses."""
    box: dict[str, Any] = {}

    def lookup() -> None:
        try:
            box["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=lookup, name="dns-check", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return "warn", f"did not resolve in {timeout:g} s (the resolver is not answering)", []
    if "error" in box:
        exc = box["error"]
        unknown = isinstance(exc, socket.gaierror) and exc.errno in (
            socket.EAI_NONAME,
            getattr(socket, "EAI_NODATA", socket.EAI_NONAME),
        )
        return ("fail" if unknown else "warn"), f"does not resolve ({_strerror(exc)})", []
    found = box["found"]
    addresses = sorted({str(entry[4][0]) for entry in found})
    return "ok", f"resolves to {', '.join(addresses[:3])}", found


def _strerror(exc: BaseException | None) -> str:
    return (getattr(exc, "strerror", None) or type(exc).__name__) if exc else "no address"
