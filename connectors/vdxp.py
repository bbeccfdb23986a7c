"""VDXP connector: edXML documents and status messages to and from the national document
exchange axis (Trục liên thông văn bản quốc gia, run by the Government Office), in the two styles
a province meets it. Simulated by :mod:`sandbox.vdxp`.

Protocol (REFERENCE.md, "Transports seen in the field" and "VDXP through a provincial LGSP"):

* ``style: vnpt`` (default) — the VNPT client's calls, each ``POST {base_url}/<operation>``
  signed with the system's id and secret; ``sendEdoc`` is multipart: part ``header`` =
  ``{from, to: [agency], servicetype: "eDoc", messagetype: "edoc"|"status"}``, part ``file`` = the
  edXML. Every request carries ``X-VDXP-System`` (the system id), ``X-VDXP-Timestamp`` (Unix
  seconds), ``X-VDXP-Nonce`` (random, once), ``X-VDXP-Content-SHA256`` (hex SHA-256 of the
  body as sent) and ``X-VDXP-Signature`` = hex HMAC-SHA256 with the secret over
  ``METHOD \\n PATH[?QUERY] \\n TIMESTAMP \\n NONCE \\n CONTENT-SHA256``. A streamed body is read
  twice (hashed, then sent), never held.
* ``style: wso2`` — a provincial LGSP's WSO2 API Manager: a client-credentials token
  (``token_url``, default ``{base_url}/token``), then REST under ``context`` (default
  ``/truclienthong/v1.0.0``): ``POST /documents {from, to, kind, content: <base64 edXML>}``
  streamed (:mod:`connectors.vdxp_wso2`), ``GET /documents?status=initial&agency=``,
  ``GET /documents/{id}/content``, ``PUT /documents/{id}/status {status: PROCESSING|DONE|FAIL}``,
  ``GET|POST /agencies``.

Configuration::

    {"base_url": "https://vdxp.example", "style": "vnpt",
     "system_id": "lgsp-h57", "secret_env": "VDXP_SECRET",              # vnpt (or secret_file)
     "consumer_key": "lgsp-h57", "consumer_secret_env": "LGSP_SECRET",  # wso2 (or _file)
     "agency_credentials": {"000.00.01.H57": {"system_id": "…", "secret_env": "…"}},
     "timeout_seconds": {"connect": 5, "read": 120}}

``agency_credentials`` (optional) is "one secret per agency": an agency's own system (vnpt) or
OAuth2 client (wso2), used when it sends (``message.sender_agency``) and for the pull calls
given its code; every other call uses the instance's credentials.

``deliver(message)``: ``message.payload`` is one edXML, sent as ``from`` =
``message.sender_agency`` to ``message.recipient`` (the hub fans out: one delivery per
recipient; without one the axis reads ``To/OrganId`` from the edXML). The kind is the
``edxml-kind`` header (``edoc``/``status``), else sniffed from the first 64 KiB (a
``StatusCode`` element is a status message). ``X-Idempotency-Key`` is ``<message id>/<recipient>``
(one key per delivery, so the fan-out of one message is not taken for repeats), so a retried
delivery is not a second document. Result: ``remote_status`` ``"OK"`` (vnpt) or the HTTP status
(wso2), ``details`` ``{vdxp_id, vdxp_ids: {agency: record id}, document_id, duplicate, kind}``.

Pull side (the hub's inbound job; plain methods, not ``poll()``): ``received(agency_code)`` →
records of documents waiting (``initial``), ``fetch(edoc_id, into)`` streams one into a binary
file and checks its ``contentLength`` and ``contentSha256`` (a mismatch: a
``TransientDeliveryError`` with ``reason: "integrity"``, ``into`` cut back to where it was when
it is seekable — the record stays ``initial``, so it is fetched again later),
``update_status(edoc_id, "processing"|"done"|"fail")``, ``sent()``, ``agencies()``,
``register_agency(code, name, pcode)``.

Error classes: HTTP 5xx/408/425/429, an axis code in ``transient_codes`` (default
``SYSTEM_BUSY``, ``SYSTEM_ERROR``, ``TIMEOUT``), timeouts and connection failures → transient;
401 or ``AUTH_FAILED`` (a wrong secret, a skewed clock, a replayed nonce) → permanent,
``reason: "auth"``; 403 or ``FORBIDDEN`` (the system does not own the sending agency) →
permanent; ``UNKNOWN_AGENCY`` → permanent, naming the codes; any other refusal → permanent.
``remote_status`` is ``code:<axis code>`` when the axis gave one, else the HTTP status.

Not public, so this project's choice (matching ``sandbox.vdxp``): the header names and canonical
string, the error codes, the WSO2 paths, the ``X-VDXP-Record`` header of a fetched document.
Secrets are resolved per call and never in an error; text quoted from the axis has ID- and
phone-like numbers and e-mail addresses masked (an edXML names officials and their phones).

Where each part lives: this module is the type (its configuration schema and "test
connection"); :mod:`connectors.vdxp_operations` the push and pull operations on one call;
:mod:`connectors.vdxp_vnpt` the VNPT request signing and multipart body;
:mod:`connectors.vdxp_wso2` the WSO2 paths, tokens and base64 body;
:mod:`connectors.vdxp_records` the records and the integrity check of a fetched document;
:mod:`connectors.vdxp_refusals` the error classes above.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from connectors.http import (
    FORBIDDEN,
    HEADER_NAME,
    HTTP_CLIENT_PROPERTIES,
    TIMEOUT_SCHEMA,
    origin,
    partner_codes,
    secret_properties,
    secret_rule,
    timeouts,
    url_property,
)
from connectors.http_check import PROBE_TIMEOUT_CAP, address_checks, retarget, secret_checks
from connectors.oauth2 import OAUTH2_PROPERTIES, OAUTH2_SECRET_RULE
from connectors.vdxp_operations import AxisConnector, sniff_kind
from connectors.vdxp_records import EDOC_STATUSES, ReceivedEdoc
from connectors.vdxp_refusals import DEFAULT_TRANSIENT_CODES
from connectors.vdxp_vnpt import SYSTEM_ID, VNPT_SYSTEM, multipart_document
from connectors.vdxp_wso2 import DEFAULT_CONTEXT, WSO2_ONLY, Wso2Transport
from hub.connector import CheckResult, Health
from hub.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["EDOC_STATUSES", "ReceivedEdoc", "VdxpConnector", "multipart_document", "sniff_kind"]

AGENCY_CODE = r"^[\x21-\x7e]{1,64}$"
WSO2_CLIENT = {  # an agency's own OAuth2 client in agency_credentials
    "type": "object",
    "required": ["consumer_key"],
    "additionalProperties": False,
    "properties": {
        k: OAUTH2_PROPERTIES[k]
        for k in ("consumer_key", "consumer_secret_env", "consumer_secret_file")
    },
    **OAUTH2_SECRET_RULE,
}


class VdxpConnector(AxisConnector):
    """Documents and status messages through the national document axis (see the module doc)."""

    type_name = "vdxp"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "vdxp connector",
        "type": "object",
        "required": ["base_url"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "base_url": url_property("the axis (vnpt) or the LGSP's API gateway (wso2)"),
            "style": {"enum": ["vnpt", "wso2"], "default": "vnpt"},
            "system_id": {**SYSTEM_ID, "description": "vnpt: the system id the axis issued"},
            **secret_properties("secret", "vnpt: the system's secret (the HMAC key)"),
            **OAUTH2_PROPERTIES,
            "context": {
                "type": "string",
                "pattern": r"^/?[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*/?$",
                "default": DEFAULT_CONTEXT,
                "description": "wso2: the API's versioned context",
            },
            "agency_credentials": {
                "type": "object",
                "propertyNames": {"pattern": AGENCY_CODE},
                "additionalProperties": {"type": "object"},
                "description": "an agency's own system (vnpt) or OAuth2 client (wso2)",
            },
            "transient_codes": partner_codes(
                default=list(DEFAULT_TRANSIENT_CODES),
                description="axis error codes that mean busy or failing: retry later",
            ),
            "idempotency_header": {
                "type": "string",
                "pattern": HEADER_NAME,
                "default": "X-Idempotency-Key",
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
            **{k: v for k, v in HTTP_CLIENT_PROPERTIES.items() if k != "auth"},
        },
        "if": {"required": ["style"], "properties": {"style": {"const": "wso2"}}},
        "then": {
            "required": ["consumer_key"],
            "properties": {
                "system_id": FORBIDDEN,
                "secret_env": FORBIDDEN,
                "secret_file": FORBIDDEN,
                "agency_credentials": {"additionalProperties": WSO2_CLIENT},
            },
            **OAUTH2_SECRET_RULE,
        },
        "else": {
            "required": ["system_id"],
            "properties": {
                **{k: FORBIDDEN for k in WSO2_ONLY},
                "agency_credentials": {"additionalProperties": VNPT_SYSTEM},
            },
            **secret_rule("secret"),
        },
    }

    # --- test connection -----------------------------------------------------------------------
    def health(self) -> Health:
        results = self.check()
        request = next((r for r in results if r.name in ("request", "check")), None)
        refused = any(r.status == "fail" for r in results if r.name in ("auth", "api"))
        ok = request is not None and request.status == "ok" and not refused
        return Health(ok, request.detail if request else "")

    def check(self) -> list[CheckResult]:
        """Secrets, DNS, TCP, then credentials with one cheap real call (the agency list,
        limit 1): a wrong secret is ``auth: fail``, the axis down ``warn``."""
        try:
            if isinstance(self._transport, Wso2Transport):
                _, path, query, _ = self._route("getAgenciesList", {"limit": 1})
                return self._transport.checks(f"{self._base}{path}?{urlencode(query or {})}")
            return self._vnpt_checks()
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("check", "fail", f"the check itself failed: {type(exc).__name__}")]

    def _vnpt_checks(self) -> list[CheckResult]:
        agencies = self.config.get("agency_credentials", {})
        refs = [("", self.config, "secret")]
        refs += [(f"agency_credentials.{code}.", held, "secret") for code, held in agencies.items()]
        results = secret_checks(self.config, refs)
        connect, _ = timeouts(self.config, PROBE_TIMEOUT_CAP)
        results += address_checks(self._base, self.config, connect)
        if any(r.name in ("dns", "connect") and r.status != "ok" for r in results):
            return [
                *results,
                CheckResult("request", "warn", "not tried: no connection"),
                CheckResult("auth", "warn", "cannot be told: no connection"),
            ]
        results += self._probe(None)
        for code in agencies:
            auth = self._probe(code)[-1]
            results.append(CheckResult("auth", auth.status, f"agency {code}: {auth.detail}"))
        return results

    def _probe(self, agency: str | None) -> list[CheckResult]:
        """``request`` and ``auth`` from one signed agency-list call."""
        where = f"POST {origin(self._base)}/getAgenciesList"
        try:
            self._call("getAgenciesList", {"limit": 1}, None, {}, agency, PROBE_TIMEOUT_CAP)
        except TransientDeliveryError as exc:
            return [
                CheckResult("request", "warn", exc.message),
                CheckResult("auth", "warn", "cannot be told: the axis did not answer"),
            ]
        except PermanentDeliveryError as exc:
            reason, http = exc.details.get("reason"), exc.details.get("http_status")
            if reason == "config":  # a secret that does not resolve: nothing was sent
                return [
                    CheckResult("request", "warn", "not tried: a secret does not resolve"),
                    CheckResult("auth", "fail", exc.message),
                ]
            if reason in ("auth", "forbidden"):
                return [
                    CheckResult("request", "ok", f"{where} -> HTTP {http}"),
                    CheckResult("auth", "fail", exc.message),
                ]
            return [
                CheckResult("request", "fail", f"{exc.message} (check base_url)"),
                CheckResult("auth", "warn", "cannot be told from that answer"),
            ]
        system = self._transport.credentials(agency)[0]
        return [
            CheckResult("request", "ok", f"{where} -> HTTP 200"),
            CheckResult("auth", "ok", f"the axis accepted system {system}"),
        ]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        return retarget(config, base_url, "base_url", "token_url")
