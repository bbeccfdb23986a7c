"""The provincial reporting system (HTTT báo cáo) sending the province's periodic reports on to
the Government reporting system.

Public (REFERENCE.md, parties table): reports flow from the provincial reporting system to the
Government reporting system. Nothing more is: the contract below is our design, **not public:
configurable** where it could differ:

* The payload is one report as a JSON object: ``MaBaoCao`` (report code), ``KyBaoCao`` (period:
  ``2026``, ``2026-H1``, ``2026-Q3``, ``2026-10`` …), ``MaDonVi`` (the reporting agency's code;
  the sending agency's when absent — the hub authenticated it), ``ChiTieu[]`` (indicators:
  ``{Ma, GiaTri, DonViTinh}``) and whatever else the report carries (``NguoiLap``, ``NgayLap``,
  ``GhiChu`` …), sent as is. The connector checks only what names the report (the three codes
  are strings) and leaves the rules of periods and indicators to the partner.
* It is ``POST``\\ed as JSON to ``url`` (the submission endpoint: not public, configurable)
  with the credentials of ``auth`` (a bearer token by reference) and ``Idempotency-Key: <message
  id>``. A report is identified by (``MaBaoCao``, ``KyBaoCao``, ``MaDonVi``): submitting a
  period again replaces it, so a redelivery is harmless even where the key is ignored.
* Answers (invented): 2xx JSON ``{"status": "accepted", "replaced": bool, "version": n}``;
  errors ``{"error": {"code", "message", "errors": [{field, message}]}}`` under an HTTP status
  that carries the class.

Error mapping (``remote_status`` is ``"error:<code>"`` when the answer names one, else the HTTP
status): 2xx is delivered (details: ``report``, ``replaced``, ``version``); 401/403 (token
refused), 409 (period locked), 422 (validation refused: the partner's field list in
``details["errors"]``) and every other 4xx are permanent; 5xx, 408, 425, 429, timeouts and
connection failures transient; a payload that is not a JSON object or does not name its report
is local (nothing sent); an unset token reference permanent.

``check()`` is the toolkit's ``http_checks`` with a ``HEAD`` on ``url`` (credentials refused
show as ``auth: fail``); ``retarget()`` moves ``url`` for the conformance suite. Reports hold
aggregates, not personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.http import (
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    answer_result,
    auth_headers,
    json_object,
    make_session,
    redact,
    request_health,
    send_json,
    status_error,
    timeouts,
    url_property,
)
from connectors.http_check import http_checks, retarget
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import DeliveryError, LocalDeliveryError

__all__ = ["REPORT_KEY", "ReportingConnector", "report_key"]

REPORT_KEY = ("MaBaoCao", "KyBaoCao", "MaDonVi")
MAX_REPORT_BYTES = 16 * 1024 * 1024
MAX_PARTNER_ERRORS = 20  # what details keep of a validation refusal's field list


class ReportingConnector(Connector):
    """Submit one periodic report to the Government reporting system; see the module docstring."""

    type_name = "reporting"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "reporting connector",
        "type": "object",
        "required": ["url", "auth"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "url": url_property("not public: the Government reporting system's submission URL"),
            "timeout_seconds": TIMEOUT_SCHEMA,
            **HTTP_CLIENT_PROPERTIES,
        },
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        report = self._report(message)
        auth, secrets = auth_headers(self.config["auth"])
        response, answer, truncated = send_json(
            self._session,
            "POST",
            self.config["url"],
            report,
            {**auth, "Accept": "application/json", "Idempotency-Key": message.id},
            name=self.name,
            timeout=timeouts(self.config, timeout),
            secrets=secrets,
        )
        body = json_object(answer)
        if not 200 <= response.status_code < 300:
            error = status_error(response, answer, self.name, secrets)
            raise _refusal(error, body, report, secrets)
        details: dict[str, Any] = {
            "http_status": response.status_code,
            "report": report_key(report),
            "replaced": body.get("replaced") is True,
        }
        if "version" in body:
            details["version"] = body["version"]
        return answer_result(response, answer, truncated, details)

    def health(self) -> Health:
        return request_health(self.check())

    def check(self) -> list[CheckResult]:
        return http_checks(self.config, self._session, self.config["url"], "HEAD")

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "url")

    def close(self) -> None:
        self._session.close()

    def _report(self, message: OutboundMessage) -> dict[str, Any]:
        """The report to send; LocalDeliveryError (nothing sent) when it cannot be one."""
        where = f"{self.name}: report"
        try:
            report = json.loads(message.payload.read(MAX_REPORT_BYTES))
        except ValueError as exc:  # too large, not UTF-8, not JSON
            raise LocalDeliveryError(
                f"{where}: the payload is not a JSON report of at most "
                f"{MAX_REPORT_BYTES} bytes ({type(exc).__name__})",
                reason="not_json",
            ) from None
        if not isinstance(report, dict):
            raise LocalDeliveryError(f"{where}: the payload must be a JSON object", reason="shape")
        report.setdefault("MaDonVi", message.sender_agency)
        missing = [
            k for k in REPORT_KEY if not (isinstance(report.get(k), str) and report[k].strip())
        ]
        if missing:
            raise LocalDeliveryError(
                f"{where}: {', '.join(missing)} must name the report (non-empty strings)",
                reason="shape",
                fields=missing,
            )
        return report


def report_key(report: Mapping[str, Any]) -> str:
    """What identifies a report at the partner, as one string: ``code/period/agency``."""
    return "/".join(str(report.get(k)) for k in REPORT_KEY)


def _refusal(
    error: DeliveryError, body: Mapping[str, Any], report: Mapping[str, Any], secrets: list[str]
) -> DeliveryError:
    """``error`` (the HTTP class) with the partner's own code and field errors, when given."""
    partner = body.get("error")
    if not isinstance(partner, dict) or not isinstance(partner.get("code"), str):
        return error
    details = {**error.details, "report": report_key(report)}
    if isinstance(partner.get("errors"), list):
        details["errors"] = partner["errors"][:MAX_PARTNER_ERRORS]
    said = redact(str(partner.get("message") or "")[:300], secrets)
    message = f"{error.message}: {partner['code']}" + (f" ({said})" if said else "")
    return type(error)(message, remote_status=f"error:{partner['code']}", **details)
