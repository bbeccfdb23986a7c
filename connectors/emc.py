"""EMC, the national system that measures the use of online public services: the province
reports what happened to its dossiers as tracking records.

Public (REFERENCE.md, "Other provincial partners"): usage reporting to EMC is a POST of tracking
records carrying the province code, ``LOCATION``. Everything else is **not public:
configurable**, or invented and said so:

* The payload is a batch: a JSON array of records (one JSON object is a batch of one), e.g.
  ``{"LOCATION", "MaTTHC", "MaHoSo", "Kenh", "ThoiGian", "LoaiSuKien"}``; fields other than
  ``LOCATION`` are passed on as they are. A record without ``LOCATION`` (absent, null or empty)
  gets the province's ``location`` from the configuration; one that carries its own (an old
  code of a merged province, say) keeps it — the connector never corrects a code.
* A batch larger than ``max_batch`` (default 100: EMC's limit is not public) is refused before
  anything is sent (``LocalDeliveryError``): splitting it here would turn one message into
  several deliveries the hub could not trace or retry as one.
* It is ``POST``\\ed as a JSON array to ``url`` (not public: configurable) with the credentials
  of ``auth`` (a bearer token or an API-key header, by reference) and ``Idempotency-Key:
  <message id>`` so a redelivered batch is not counted twice where EMC honours it.
* Answers (invented): 2xx ``{"status": "success", "accepted": n}``; errors ``{"status":
  "error", "errorCode", "message"}`` under an HTTP status that carries the class.

Error mapping (``remote_status`` is ``"error:<errorCode>"`` when the answer names one, else
the HTTP status): 2xx delivered; 401/403 (token refused) and other 4xx (a record refused, a
batch over EMC's own limit) permanent; 5xx, 408, 425, 429, timeouts and connection failures
transient; a payload that is not a non-empty array of objects, or too large a batch, local; an
unset token reference permanent. ``check()`` is the toolkit's ``http_checks`` with a ``HEAD`` on
``url``; ``retarget()`` moves ``url`` for the conformance suite. Records carry procedure and
dossier codes, not personal data.
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

__all__ = ["DEFAULT_MAX_BATCH", "EmcConnector"]

DEFAULT_MAX_BATCH = 100
MAX_BATCH_BYTES = 16 * 1024 * 1024


class EmcConnector(Connector):
    """Send one batch of usage-tracking records to EMC; see the module docstring."""

    type_name = "emc"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "emc connector",
        "type": "object",
        "required": ["url", "auth", "location"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "url": url_property("not public: EMC's tracking-records URL"),
            "location": {
                "type": "string",
                "pattern": "^\\d{2}$",
                "description": "the province code, LOCATION of records that carry none",
            },
            "max_batch": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "default": DEFAULT_MAX_BATCH,
                "description": "not public: the most records one request may carry",
            },
            "timeout_seconds": TIMEOUT_SCHEMA,
            **HTTP_CLIENT_PROPERTIES,
        },
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._session = make_session(self.config)

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        records, filled = self._batch(message)
        auth, secrets = auth_headers(self.config["auth"])
        response, answer, truncated = send_json(
            self._session,
            "POST",
            self.config["url"],
            records,
            {**auth, "Accept": "application/json", "Idempotency-Key": message.id},
            name=self.name,
            timeout=timeouts(self.config, timeout),
            secrets=secrets,
        )
        body = json_object(answer)
        if not 200 <= response.status_code < 300:
            raise _refusal(status_error(response, answer, self.name, secrets), body, secrets)
        details: dict[str, Any] = {
            "http_status": response.status_code,
            "records": len(records),
            "location_filled": filled,
        }
        if "accepted" in body:
            details["accepted"] = body["accepted"]
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

    def _batch(self, message: OutboundMessage) -> tuple[list[dict[str, Any]], int]:
        """The records to send and how many got ``LOCATION`` from the configuration;
        LocalDeliveryError (nothing sent) for what is not a batch EMC may take."""
        where = f"{self.name}: EMC batch"
        try:
            batch = json.loads(message.payload.read(MAX_BATCH_BYTES))
        except ValueError as exc:  # too large, not UTF-8, not JSON
            raise LocalDeliveryError(
                f"{where}: the payload is not JSON of at most {MAX_BATCH_BYTES} bytes "
                f"({type(exc).__name__})",
                reason="not_json",
            ) from None
        records = [batch] if isinstance(batch, dict) else batch
        if not isinstance(records, list) or not records:
            raise LocalDeliveryError(
                f"{where}: the payload must be a record or a non-empty array of records",
                reason="shape",
            )
        limit = self.config.get("max_batch", DEFAULT_MAX_BATCH)
        if len(records) > limit:
            raise LocalDeliveryError(
                f"{where}: {len(records)} records, more than max_batch {limit}: "
                "split it before it reaches the hub",
                reason="batch_too_large",
                records=len(records),
                max_batch=limit,
            )
        filled = 0
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                raise LocalDeliveryError(
                    f"{where}: record {index} is not a JSON object", reason="shape", index=index
                )
            if record.get("LOCATION") in (None, ""):
                record["LOCATION"] = self.config["location"]
                filled += 1
        return records, filled


def _refusal(error: DeliveryError, body: Mapping[str, Any], secrets: list[str]) -> DeliveryError:
    """``error`` (the HTTP class) with EMC's own ``errorCode`` and message, when given."""
    code = body.get("errorCode")
    if not isinstance(code, str) or not code:
        return error
    said = redact(str(body.get("message") or "")[:300], secrets)
    message = f"{error.message}: {code}" + (f" ({said})" if said else "")
    return type(error)(message, remote_status=f"error:{code}", **error.details)
