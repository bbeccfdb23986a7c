"""DVCQG connector: dossiers, progress and look-ups to the National Public Service Portal (Cổng
Dịch vụ công quốc gia) through its session API.

Protocol (REFERENCE.md): log in with ``POST {username, password}`` and the header ``dstcode`` →
``{error_code: 0, session}``; then every call is ``POST {session, madonvi, service, …}`` →
``{error_code, message, result}``. Success is ``0`` in some deployments and ``"00"`` in
others: both are accepted. Configuration::

    {"url": "https://portal.example/dvcqg/service",      # the service endpoint
     "login_url": "https://portal.example/dvcqg/login",  # the login endpoint
     "username": "lgsp-h57", "password_env": "DVCQG_PASSWORD",   # or password_file
     "dstcode": "H57", "madonvi": "000.00.00.H57",
     "service": "DongBoHoSoMC",                          # when a body names none
     "session_expired_codes": ["-2"], "retryable_codes": ["-1"],
     "timeout_seconds": {"connect": 5, "read": 60}}

The message body is the call body without ``session``/``madonvi`` (added here; a body carrying
them is refused): ``{"service": "DongBoHoSoMC", "data": [dossier, …]}`` — or ``data`` as one
dossier, as the shipped mappings write it, sent as a one-item list — and
``{"service": "CapNhatTienDoHoSoMC", "data": {…}}`` (likewise sent as a list, the form public
one-stop integration code sends). ``service`` comes from the body, else from the instance's
``service``; one this connector does not know is a ``LocalDeliveryError``.

* ``DongBoHoSoMC`` is sent as an insert (``isUpdating: false``, unless the body says ``true``);
  an answer ``error_code`` 3 or -3 (number or string) means "already exists": the same data is
  resent once with ``isUpdating: true``.
* ``TraCuuHoSo``, ``LayThuTuc``, ``LayDanhSachTTHC``, ``LayDanhMucCoQuan``,
  ``LayDanhMucLinhVuc`` (synchronous hub services) return the portal's JSON answer as
  ``DeliveryResult.response`` (``application/json``).
* The session is cached per instance (a lock: one login however many workers). A call refused
  with a ``session_expired_codes`` code logs in again and is repeated once; a second refusal is
  permanent.

Error classes, ``remote_status`` ``"error_code:<code>"`` (or the toolkit's ``"503"``,
``"timeout"`` …): login refused (wrong credentials or ``dstcode``, HTTP 4xx) → permanent; a
``retryable_codes`` code ("system error/busy") → transient; any other code (a validation
refusal) → permanent; HTTP 5xx/429/408, timeouts and connection failures → transient.

Not public, so configurable (defaults are this project's choice, matching ``sandbox.dvcqg``):
the two URLs (no default path); which codes mean "session expired" (default ``-2``) and
"busy, retry" (default ``-1``); the dossier portal's idempotency (none is documented: the
insert→update flow is its repeat protection; ``Idempotency-Key: <message id>`` is still sent
for a gateway in front that honours one). Optional ``auth`` (bearer/API key) is sent with every
request for such a gateway.

Personal data: a dossier carries the owner's name, ID numbers, phone and e-mail. Nothing of it
reaches an error, a ``remote_status``, ``details`` or a check result: text quoted from the portal
has this message's personal values, secrets and the session removed, then runs of 9-12 digits
(ID and phone numbers) masked to their last 3 and e-mail addresses hidden.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from connectors.http import (
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    auth_headers,
    header_value,
    make_session,
    mask_emails,
    mask_numbers,
    origin,
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
    SERVER_TROUBLE,
    address_checks,
    auth_check,
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

__all__ = ["LOOKUPS", "SERVICES", "DvcqgConnector", "mask_personal"]

SYNC, PROGRESS = "DongBoHoSoMC", "CapNhatTienDoHoSoMC"
LOOKUPS = ("TraCuuHoSo", "LayThuTuc", "LayDanhSachTTHC", "LayDanhMucCoQuan", "LayDanhMucLinhVuc")
SERVICES = (SYNC, PROGRESS, *LOOKUPS)
SUCCESS = frozenset({"0", "00"})
EXISTS = frozenset({"3", "-3"})
MAX_BODY_BYTES = 32 * 1024 * 1024  # a batch of dossiers is parsed whole
MAX_ANSWER_BYTES = 16 * 1024 * 1024  # a whole catalogue (LayDanhSachTTHC) is one answer
PERSONAL_FIELDS = ("ChuHoSo", "SoGiayToChuHoSo", "SoDienThoai", "Email", "EmailNguoiUyQuyen")
ERROR_CODE = "^-?[0-9A-Za-z_]{1,20}$"


def mask_personal(text: str) -> str:
    """``text`` with ID/phone-like digit runs (9-12 digits) cut to their last 3 and e-mail
    addresses hidden (connectors cannot use ``hub.security``)."""
    return mask_emails(mask_numbers(text))


@dataclass
class _Call:
    """One delivery: its credentials, what to scrub from quoted portal text, the time left."""

    password: str
    gateway: dict[str, str]  # optional ``auth`` headers for a gateway in front of the portal
    scrub: list[str]  # secrets and sessions
    deadline: float | None
    key: str
    data: Any = None

    @cached_property
    def personal(self) -> list[str]:
        """The owners' personal values in the dossiers sent, computed only for an error."""
        return _personal_values(self.data)

    def timeout(self, config: Mapping[str, Any]) -> tuple[float, float]:
        if self.deadline is None:
            return timeouts(config, None)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TransientDeliveryError(
                "DVCQG: the delivery ran out of time", remote_status="timeout"
            )
        return timeouts(config, left)


class DvcqgConnector(Connector):
    """Send dossiers and progress to DVCQG and look things up there (see the module doc)."""

    type_name = "dvcqg"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dvcqg connector",
        "type": "object",
        "required": ["url", "login_url", "username", "dstcode", "madonvi"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "url": url_property("service endpoint every call is POSTed to (not public)"),
            "login_url": url_property("session login endpoint (not public)"),
            "username": {"type": "string", "minLength": 1, "maxLength": 200},
            **secret_properties("password", "the portal account's password"),
            "dstcode": {
                "type": "string",
                "minLength": 1,
                "pattern": "^[\\x21-\\x7e]+$",
                "description": "sent in the dstcode header of the login",
            },
            "madonvi": {"type": "string", "minLength": 1, "maxLength": 64},
            "service": {"enum": list(SERVICES), "description": "when a body names none"},
            "session_expired_codes": partner_codes(
                ERROR_CODE,
                default=["-2"],
                description="error_code values meaning the session expired: log in again",
            ),
            "retryable_codes": partner_codes(
                ERROR_CODE,
                default=["-1"],
                description="error_code values meaning system error/busy: retry later",
            ),
            "timeout_seconds": TIMEOUT_SCHEMA,
            **HTTP_CLIENT_PROPERTIES,
        },
        **secret_rule("password"),
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._http = make_session(self.config)
        self._lock = threading.Lock()
        self._session: str | None = None
        self._expired = frozenset(self.config.get("session_expired_codes", ["-2"]))
        self._retryable = frozenset(self.config.get("retryable_codes", ["-1"]))

    # --- delivery ----------------------------------------------------------------------------
    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        service, body = self._body(message)
        call = self._begin(message.id, timeout, body.get("data"))
        details: dict[str, Any] = {"service": service}
        if service == SYNC:
            body = {**body, "isUpdating": body.get("isUpdating") is True}
            details["dossiers"] = len(body["data"])
        answer, raw, code = self._call(body, call)
        if service == SYNC and code in EXISTS and not body["isUpdating"]:
            answer, raw, code = self._call({**body, "isUpdating": True}, call)
            details["resent_as_update"] = True
        if code not in SUCCESS:
            raise self._refusal(service, code, answer, call)
        return DeliveryResult(
            remote_status=f"error_code:{code}",
            response=raw,
            content_type="application/json",
            details=details,
        )

    def _begin(self, key: str, timeout: float | None, data: Any = None) -> _Call:
        """Resolve the secrets (per message: a rotated file needs no restart)."""
        password = resolve_secret(self.config, "password")
        gateway, secrets = auth_headers(self.config.get("auth"))
        deadline = None if timeout is None else time.monotonic() + timeout
        return _Call(password, gateway, [password, *secrets], deadline, key, data)

    def _body(self, message: OutboundMessage) -> tuple[str, dict[str, Any]]:
        """The call body of ``message`` and its service; LocalDeliveryError before sending."""
        try:
            body = json.loads(message.payload.read(MAX_BODY_BYTES))
        except ValueError as exc:  # too large, not UTF-8, not JSON
            raise LocalDeliveryError(f"{self.name}: the body is not a JSON call: {exc}") from None
        if not isinstance(body, dict):
            raise LocalDeliveryError(f"{self.name}: the body must be a JSON object")
        if {"session", "madonvi"} & body.keys():
            raise LocalDeliveryError(
                f"{self.name}: the body must not carry session/madonvi: the connector adds them"
            )
        service = body.get("service") or self.config.get("service")
        if service not in SERVICES:
            known = ", ".join(SERVICES)
            raise LocalDeliveryError(
                f"{self.name}: unknown DVCQG service {str(service)[:40]!r} (known: {known})"
            )
        body = {**body, "service": service}
        if service in (SYNC, PROGRESS):
            data = body.get("data")
            data = [data] if isinstance(data, dict) else data
            if not (isinstance(data, list) and data and all(isinstance(d, dict) for d in data)):
                raise LocalDeliveryError(
                    f"{self.name}: {service} needs data: an object or a non-empty list of them"
                )
            body["data"] = data
        return service, body

    def _call(self, body: dict[str, Any], call: _Call) -> tuple[dict[str, Any], bytes, str]:
        """One service call, logging in first if needed and once more if the session expired."""
        session = self._current_session(call)
        answer, raw, code = self._post_service(session, body, call)
        if code in self._expired:
            self._forget(session)
            session = self._current_session(call)
            answer, raw, code = self._post_service(session, body, call)
            if code in self._expired:
                raise PermanentDeliveryError(
                    f"{self.name}: the portal refused a new session too (error_code {code}): "
                    "check the account's rights",
                    remote_status=f"error_code:{code}",
                    reason="auth",
                )
        return answer, raw, code

    def _post_service(
        self, session: str, body: dict[str, Any], call: _Call
    ) -> tuple[dict[str, Any], bytes, str]:
        call.scrub.append(session)
        payload = {"session": session, "madonvi": self.config["madonvi"], **body}
        return self._post(self.config["url"], payload, {"Idempotency-Key": call.key}, call)

    def _current_session(self, call: _Call) -> str:
        with self._lock:
            if self._session is None:
                self._session = self._login(call)
            return self._session

    def _forget(self, session: str) -> None:
        with self._lock:
            if self._session == session:  # another worker may have logged in already
                self._session = None

    def _login(self, call: _Call) -> str:
        credentials = {"username": self.config["username"], "password": call.password}
        headers = {"dstcode": header_value(self.config["dstcode"])}
        answer, _, code = self._post(self.config["login_url"], credentials, headers, call)
        session = answer.get("session")
        if code in SUCCESS and isinstance(session, str) and session:
            return session
        status = f"error_code:{code}"
        if code in self._retryable:
            text = self._quote(answer, call)
            raise TransientDeliveryError(
                f"{self.name}: the portal could not log in now ({status}): {text}",
                remote_status=status,
            )
        raise PermanentDeliveryError(
            f"{self.name}: the portal refused the login ({status}): check username, "
            "password and dstcode",
            remote_status=status,
            reason="auth",
        )

    def _post(
        self, url: str, payload: dict[str, Any], headers: dict[str, str], call: _Call
    ) -> tuple[dict[str, Any], bytes, str]:
        """POST JSON, read the answer: (the JSON object, its bytes, its error_code as text)."""
        response, raw, truncated = send_json(
            self._http,
            "POST",
            url,
            payload,
            {"Accept": "application/json", **headers, **call.gateway},
            name=self.name,
            timeout=call.timeout(self.config),
            secrets=call.scrub,
            limit=MAX_ANSWER_BYTES,
        )
        if not 200 <= response.status_code < 300:
            error = status_error(response, raw, self.name, call.scrub)
            excerpt = error.details.get("response_excerpt")
            if excerpt:
                error.details["response_excerpt"] = self._clean(excerpt, call)
            raise error
        if truncated:
            raise PermanentDeliveryError(
                f"{self.name}: {origin(url)} answered over {MAX_ANSWER_BYTES >> 20} MiB",
                remote_status=str(response.status_code),
            )
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "error_code" not in answer:
            raise PermanentDeliveryError(
                f"{self.name}: {origin(url)} answered HTTP {response.status_code} without "
                "a DVCQG answer ({error_code, …})",
                remote_status=str(response.status_code),
            )
        return answer, raw, str(answer["error_code"]).strip()

    def _refusal(
        self, service: str, code: str, answer: dict[str, Any], call: _Call
    ) -> DeliveryError:
        status, text = f"error_code:{code}", self._quote(answer, call)
        if code in self._retryable:
            return TransientDeliveryError(
                f"{self.name}: the portal could not take {service} now ({status}): {text}",
                remote_status=status,
                service=service,
                portal_message=text,
            )
        return PermanentDeliveryError(
            f"{self.name}: the portal refused {service} ({status}): {text}",
            remote_status=status,
            service=service,
            portal_message=text,
        )

    def _quote(self, answer: dict[str, Any], call: _Call) -> str:
        return self._clean(str(answer.get("message") or "")[:300], call)

    @staticmethod
    def _clean(text: str, call: _Call) -> str:
        """Portal text safe to show: secrets, session and this message's personal values
        removed, then ID/phone-like numbers and e-mail addresses masked."""
        return mask_personal(redact(redact(text, call.scrub), call.personal))

    # --- test connection -----------------------------------------------------------------------
    def health(self) -> Health:
        return request_health(self.check())

    def check(self) -> list[CheckResult]:
        """Secrets, TLS files, DNS and TCP of both endpoints, then one real login (``request``
        and ``auth``: a wrong password or ``dstcode`` is ``auth: fail``)."""
        try:
            results = secret_checks(self.config, [("", self.config, "password")])
            connect, read = timeouts(self.config, PROBE_TIMEOUT_CAP)
            login_url, url = self.config["login_url"], self.config["url"]
            results += address_checks(login_url, self.config, connect)
            if origin(url) != origin(login_url):  # the service endpoint is elsewhere
                results += address_checks(url, self.config, connect)
            if any(r.name == "connect" and r.status != "ok" for r in results):
                return [
                    *results,
                    CheckResult("request", "warn", "not tried: no connection"),
                    CheckResult("auth", "warn", "cannot be told: no connection"),
                ]
            return results + self._login_checks(login_url, (connect, read))
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]

    def _login_checks(self, url: str, timeout: tuple[float, float]) -> list[CheckResult]:
        where = f"login {origin(url)}"
        try:
            call = self._begin("check", PROBE_TIMEOUT_CAP)
        except DeliveryError:
            request, _ = request_checks(self._http, "HEAD", url, {}, timeout)
            return [request, CheckResult("auth", "fail", "not tried: a secret does not resolve")]
        try:
            self._login(call)
        except TransientDeliveryError as exc:
            detail = f"{where}: {exc.message}"
            return [
                CheckResult("request", "warn", detail),
                CheckResult("auth", "warn", "cannot be told: the portal did not answer"),
            ]
        except PermanentDeliveryError as exc:
            code = exc.details.get("http_status")
            if isinstance(code, int):  # refused at the HTTP level
                answered = f"{where} -> HTTP {code}"
                status = "warn" if code in SERVER_TROUBLE or code < 400 else "ok"
                return [CheckResult("request", status, answered), auth_check(code, answered, True)]
            if exc.details.get("reason") == "auth":
                return [
                    CheckResult("request", "ok", f"{where} answered {exc.remote_status}"),
                    CheckResult("auth", "fail", exc.message),
                ]
            return [
                CheckResult("request", "fail", exc.message),
                CheckResult("auth", "warn", "cannot be told from that answer"),
            ]
        return [
            CheckResult("request", "ok", f"{where} answered"),
            CheckResult("auth", "ok", f"{where}: the portal accepted the login"),
        ]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url", "login_url")

    def close(self) -> None:
        self._http.close()


def _personal_values(data: Any) -> list[str]:
    """The owner's personal values in dossiers (``data``), longest first, to scrub from text."""
    found: set[str] = set()
    for dossier in data if isinstance(data, list) else []:
        if not isinstance(dossier, dict):
            continue
        values: Iterable[Any] = [dossier.get(f) for f in PERSONAL_FIELDS]
        identities = dossier.get("DinhDanhCHS")
        if isinstance(identities, list):
            values = [*values, *(i.get("SoDinhDanh") for i in identities if isinstance(i, dict))]
        found.update(
            str(v)
            for v in values
            if isinstance(v, str | int) and not isinstance(v, bool) and len(str(v)) >= 4
        )
    return sorted(found, key=len, reverse=True)
