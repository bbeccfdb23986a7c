"""What the VDXP connector (:mod:`connectors.vdxp`) does on the national document axis, in either
style: the push (``deliver``: one edXML to one recipient) and the pull (the hub's inbound job:
``received``, ``fetch``, ``update_status``, ``sent``, ``agencies``, ``register_agency``), all on
one call that speaks the instance's style and classes a refusal.

The operations are written once, with the axis's VNPT names; :mod:`connectors.vdxp_vnpt` signs
them as ``POST /<operation>``, :mod:`connectors.vdxp_wso2` maps them to the LGSP's REST paths
and a token. The two styles differ after that only in where an answer keeps its data (``data``
and ``status: "OK"`` in the VNPT style, named fields and the HTTP status in the WSO2 style).
:mod:`connectors.vdxp` adds the configuration schema and "test connection".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, BinaryIO
from urllib.parse import urlencode

import requests

from connectors.http import (
    JSON_CONTENT_TYPE,
    MAX_ANSWER_BYTES,
    answer_result,
    header_value,
    json_object,
    make_session,
    origin,
    read_answer,
    timeouts,
    transport_error,
)
from connectors.vdxp_records import (
    EDOC_STATUSES,
    RECORD_HEADER,
    ReceivedEdoc,
    integrity_problem,
)
from connectors.vdxp_refusals import DEFAULT_TRANSIENT_CODES, refusal
from connectors.vdxp_vnpt import VnptTransport, multipart_document
from connectors.vdxp_wso2 import (
    DEFAULT_CONTEXT,
    Streamed,
    Wso2Transport,
    base64_document,
    wso2_operation,
)
from hub.connector import Connector, DeliveryResult, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.payload import CHUNK

__all__ = ["AxisConnector", "sniff_kind"]

SNIFF_BYTES = 64 * 1024
STATUS_CODE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?StatusCode[\s/>]")
MAX_LIST_BYTES = 16 * 1024 * 1024


def sniff_kind(message: OutboundMessage) -> str:
    """``edoc`` or ``status``: the ``edxml-kind`` header, else a ``StatusCode`` element in the
    first 64 KiB (status messages have one, documents do not)."""
    given = next((v for k, v in message.headers.items() if k.lower() == "edxml-kind"), None)
    if given is not None:
        if given not in ("edoc", "status"):
            raise LocalDeliveryError(f"edxml-kind header {given[:20]!r}: edoc or status")
        return given
    with message.payload.open() as fh:
        head = fh.read(SNIFF_BYTES)
    return "status" if STATUS_CODE.search(head) else "edoc"


class AxisConnector(Connector):
    """The axis's operations on one session, in the instance's style (``style``: ``vnpt`` or
    ``wso2``); the concrete type is :class:`connectors.vdxp.VdxpConnector`."""

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        self._http = make_session(self.config)
        self.wso2 = self.config.get("style", "vnpt") == "wso2"
        self._base = self.config["base_url"].rstrip("/")
        self._transport = (
            Wso2Transport(name, self.config, self._http)
            if self.wso2
            else VnptTransport(name, self.config, self._http)
        )
        self._transient = frozenset(self.config.get("transient_codes", DEFAULT_TRANSIENT_CODES))

    # --- delivery ----------------------------------------------------------------------------
    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        kind = sniff_kind(message)
        sender = message.sender_agency
        if not sender:
            raise LocalDeliveryError(f"{self.name}: the message names no sending agency")
        to = {"to": [message.recipient]} if message.recipient else {}
        key = f"{message.id}/{message.recipient}" if message.recipient else message.id
        headers = {self.config.get("idempotency_header", "X-Idempotency-Key"): header_value(key)}
        if self.wso2:
            body = base64_document({"from": sender, **to, "kind": kind}, message.payload)
        else:
            header = {"from": sender, **to, "servicetype": "eDoc", "messagetype": kind}
            body = multipart_document(header, message.payload, f"{message.id}.edxml")
        response, answer, truncated = self._call(
            "sendEdoc", {}, body, headers, sender, timeout, recipient=message.recipient
        )
        data = json_object(answer)
        records = data.get("documents" if self.wso2 else "data")
        ids = {
            str(r.get("to")): str(r.get("id"))
            for r in (records if isinstance(records, list) else [])
            if isinstance(r, dict)
        }
        document = data.get("documentId" if self.wso2 else "DocID")
        details = {
            "vdxp_id": ids.get(message.recipient or "") or next(iter(ids.values()), document),
            "vdxp_ids": ids,
            "document_id": document,
            "duplicate": data.get("duplicate") is True,
            "kind": kind,
        }
        status = None if self.wso2 else "OK"
        return answer_result(response, answer, truncated, details, remote_status=status)

    # --- the pull side -------------------------------------------------------------------------
    def received(
        self, agency_code: str | None = None, *, timeout: float | None = None
    ) -> list[ReceivedEdoc]:
        """Records waiting for this system's agencies (or for ``agency_code``), ``initial``."""
        args = {"servicetype": "eDoc", **({"agency": agency_code} if agency_code else {})}
        return self._records("getReceivedEdocList", args, agency_code, timeout)

    def sent(
        self, agency_code: str | None = None, *, timeout: float | None = None
    ) -> list[ReceivedEdoc]:
        """Records of what this system sent (from ``agency_code`` only), with their status."""
        args = {"servicetype": "eDoc", **({"agency": agency_code} if agency_code else {})}
        return self._records("getSentEdocList", args, agency_code, timeout)

    def fetch(
        self,
        edoc_id: str,
        into: BinaryIO,
        agency_code: str | None = None,
        *,
        timeout: float | None = None,
    ) -> ReceivedEdoc:
        """Stream a received document into ``into``; its record, once its length and SHA-256
        are those the axis listed. On any failure ``into`` is cut back (when seekable)."""
        response, _, _ = self._call(
            "getEdoc", {"docId": _id(edoc_id)}, None, {}, agency_code, timeout, stream=True
        )
        start = into.tell() if into.seekable() else None
        digest, size = hashlib.sha256(), 0
        try:
            raw = response.headers.get(RECORD_HEADER, "")
            record = ReceivedEdoc.from_record(json_object(raw.encode()), self.name)
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                if size > record.content_length:
                    break
                digest.update(chunk)
                into.write(chunk)
        except BaseException as exc:
            _rewind(into, start)
            if isinstance(exc, DeliveryError) or not isinstance(exc, Exception):
                raise
            where = f"{self.name}: {origin(self._base)}"
            raise transport_error(exc, where, self._transport.secrets(agency_code)) from None
        finally:
            response.close()
        problem = integrity_problem(record, edoc_id, size, digest.hexdigest())
        if problem:
            _rewind(into, start)
            raise TransientDeliveryError(
                f"{self.name}: edoc {edoc_id} arrived damaged ({problem}); not accepted",
                remote_status="integrity",
                reason="integrity",
                expected_length=record.content_length,
                received_length=size,
            )
        return record

    def update_status(
        self,
        edoc_id: str,
        status: str,
        agency_code: str | None = None,
        *,
        timeout: float | None = None,
    ) -> ReceivedEdoc:
        """Move a received record to ``processing``, ``done`` or ``fail``; the moved record."""
        if status not in EDOC_STATUSES:
            raise LocalDeliveryError(f"{self.name}: status {status!r}: one of {EDOC_STATUSES}")
        args = {"docId": _id(edoc_id), "status": status}
        _, answer, _ = self._call("updateStatus", args, None, {}, agency_code, timeout)
        data = json_object(answer)
        return ReceivedEdoc.from_record(data if self.wso2 else data.get("data"), self.name)

    def agencies(
        self, limit: int | None = None, *, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """The axis's directory of exchange agencies: ``{code, pcode, name, …}``."""
        args = {"limit": limit} if limit is not None else {}
        _, answer, truncated = self._call(
            "getAgenciesList", args, None, {}, None, timeout, limit=MAX_LIST_BYTES
        )
        items = self._items(answer, truncated, "agencies")
        return [dict(item) for item in items if isinstance(item, dict)]

    def register_agency(
        self, code: str, name: str, pcode: str | None = None, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Register ``code`` as an agency of this system (its own credentials when configured)."""
        args = {"code": code, "name": name, "pcode": pcode}
        _, answer, _ = self._call("registerAgency", args, None, {}, code, timeout)
        data = json_object(answer)
        agency = data if self.wso2 else data.get("data")
        return dict(agency) if isinstance(agency, dict) else {}

    def _records(
        self, operation: str, args: dict[str, Any], agency: str | None, timeout: float | None
    ) -> list[ReceivedEdoc]:
        _, answer, truncated = self._call(
            operation, args, None, {}, agency, timeout, limit=MAX_LIST_BYTES
        )
        items = self._items(answer, truncated, "documents")
        return [ReceivedEdoc.from_record(item, self.name) for item in items]

    def _items(self, answer: bytes, truncated: bool, key: str) -> list[Any]:
        items = json_object(answer).get(key if self.wso2 else "data")
        if truncated or not isinstance(items, list):
            raise PermanentDeliveryError(
                f"{self.name}: the axis answered without a list of {key}"
                + (f" within {MAX_LIST_BYTES >> 20} MiB" if truncated else ""),
                remote_status="malformed_answer",
            )
        return items

    # --- one call ------------------------------------------------------------------------------
    def _call(
        self,
        operation: str,
        args: dict[str, Any],
        body: Streamed | None,
        headers: Mapping[str, str],
        agency: str | None,
        timeout: float | None,
        *,
        recipient: str | None = None,
        stream: bool = False,
        limit: int = MAX_ANSWER_BYTES,
    ) -> tuple[requests.Response, bytes, bool]:
        """One call in this instance's style; the response (unread when ``stream``), the answer
        and whether it was cut. A refusal is raised as the hub's error."""
        method, path, query, document = self._route(operation, args)
        url = self._base + path + (f"?{urlencode(query)}" if query else "")
        data: bytes | Streamed | None = body
        sent = {"Accept": "application/json", **headers}
        if body is not None:
            sent["Content-Type"] = body.content_type
        elif document is not None:
            data = json.dumps(document, ensure_ascii=False).encode("utf-8")
            sent["Content-Type"] = JSON_CONTENT_TYPE
        try:
            response = self._transport.request(
                method, url, data, sent, timeouts(self.config, timeout), agency
            )
            ok = 200 <= response.status_code < 300
            if stream and ok and RECORD_HEADER in response.headers:
                return response, b"", False
            answer, truncated = read_answer(response, limit)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the seam: nothing from requests escapes
            where = f"{self.name}: {origin(url)}"
            raise transport_error(exc, where, self._transport.secrets(agency)) from None
        if not ok or (not self.wso2 and json_object(answer).get("status") != "OK"):
            raise refusal(
                self.name,
                operation,
                response,
                answer,
                scrub=self._transport.secrets(agency),
                transient=self._transient,
                wso2=self.wso2,
                recipient=recipient,
            )
        return response, answer, truncated

    def _route(
        self, operation: str, args: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]:
        """(method, path, query, JSON body) of ``operation`` in this instance's style."""
        if self.wso2:
            context = self.config.get("context", DEFAULT_CONTEXT)
            return wso2_operation(operation, context, args)
        return "POST", f"/{operation}", None, (None if operation == "sendEdoc" else args)

    def close(self) -> None:
        self._http.close()


def _id(edoc_id: Any) -> str:
    if not isinstance(edoc_id, str) or not edoc_id or len(edoc_id) > 200:
        raise LocalDeliveryError("an edoc id: 1-200 characters")
    return edoc_id


def _rewind(into: BinaryIO, start: int | None) -> None:
    if start is not None:
        into.seek(start)
        into.truncate()
