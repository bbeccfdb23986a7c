"""A simulator of the national document exchange axis (VDXP, Trục liên thông văn bản quốc gia)
as a provincial hub meets it, in both styles seen in the field: the VNPT client's calls signed
with a system id and a secret (HMAC-SHA256), and a provincial LGSP's WSO2 API Manager front
(OAuth2 client credentials, REST under a versioned context). One server serves both, on one
state (:mod:`sandbox.vdxp_mailbox` has the rules: agencies owned by systems, mailboxes,
statuses, idempotency; :mod:`sandbox.vdxp_keys` who may call; :mod:`sandbox.vdxp_bodies` how a
document is read from a request at flat memory).

VNPT style (REFERENCE.md, "Transports seen in the field"): paths at the root, every call a
``POST`` signed with a system's secret (the ``X-VDXP-*`` headers, :mod:`sandbox.vdxp_keys`;
any of them wrong → ``401 AUTH_FAILED``). Calls: ``sendEdoc`` (multipart: part ``header`` =
``{from, to: […], servicetype: "eDoc", messagetype: "edoc"|"status"}``, part ``file`` = the
edXML; ``to`` may be left out: the edXML names the recipients), ``getReceivedEdocList {agency?}``,
``getEdoc {docId}`` (the edXML itself, the record in the ``X-VDXP-Record`` header),
``updateStatus {docId, status}``, ``getSentEdocList {agency?}``, ``getAgenciesList {limit?}``,
``registerAgency {code, name, pcode?}``. Answers ``{status: "OK", ErrorCode: "0", ErrorDesc: "",
data}`` (``sendEdoc`` adds ``DocID`` and ``duplicate``); refusals ``{status: "FAIL", ErrorCode,
ErrorDesc, …}`` with the HTTP status of the code (``sandbox.vdxp_mailbox.ERRORS``).

WSO2 style (REFERENCE.md, "VDXP through a provincial LGSP (WSO2 API Manager style)"):
``POST /token`` (HTTP Basic ``consumer_key:secret``, ``grant_type=client_credentials``); a client
acts as the system it was added for. Then, with ``Authorization: Bearer`` (refused: ``401
{"fault": {"code": 900901, …}}`` as WSO2 API Manager answers), under ``context``:
``POST /documents {from, to, kind, content: <base64 edXML>}`` (201; 200 for an idempotent
repeat), ``GET /documents?status=initial&agency=…`` (``direction=sent``: what was sent),
``GET /documents/{id}``, ``GET /documents/{id}/content``, ``PUT /documents/{id}/status
{status: INITIAL|PROCESSING|DONE|FAIL}``, ``GET /agencies?limit=…``, ``POST /agencies``.
Refusals ``{code, message, …}``; records spell their status in capitals.

Both styles take the idempotency key in ``X-Idempotency-Key``. Every authenticated call is
recorded in the ledger under the VNPT operation name (``sendEdoc`` …), a send with its key and
``argument_digests["file"]`` = (size, SHA-256) of the document; bodies over ``keep_body_bytes``
(1 MiB) are kept by digest only. Documents are stored once on disk, in a temporary directory of
this server (removed when it is garbage collected or its ``with`` block ends); a body of
hundreds of MB is read, stored, hashed and served at flat memory (served from a memory map,
since the base server writes an answer from one buffer).

Faults (:mod:`sandbox.server`): ``fail_status`` and ``partner_error(code)`` answer in the shape
of the style the request used (``SYSTEM_BUSY`` for 503, ``SYSTEM_ERROR`` for 500). An error
code the axis does not list is answered HTTP 200 ``FAIL`` in the VNPT style (as its client
reports business errors), HTTP 400 in the WSO2 style.

Invented, because REFERENCE.md does not say: the header names and canonical string, the error
codes, the answer fields beyond the record, the WSO2 paths and the ``X-VDXP-Record`` header.

Python API for tests: ``add_system(id, secret)``, ``add_client(key, secret, system)``,
``add_agency(code, name, pcode, system)``, ``mailbox(agency)``, ``sent_by(system)``,
``stored_path(record_id)``, ``expire_tokens()``, ``token_requests``, ``clock`` (the axis's time).
"""

from __future__ import annotations

import json
import mmap
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer
from sandbox.vdxp_bodies import read_send
from sandbox.vdxp_keys import SIGNED_HEADERS, AxisKeys
from sandbox.vdxp_mailbox import ERRORS, AxisError, Mailbox, Upload

__all__ = ["DEFAULT_CONTEXT", "SIGNED_HEADERS", "VNPT_OPERATIONS", "VdxpAxis"]

DEFAULT_CONTEXT = "/truclienthong/v1.0.0"
VNPT_OPERATIONS = (
    "sendEdoc",
    "getReceivedEdocList",
    "getEdoc",
    "updateStatus",
    "getSentEdocList",
    "getAgenciesList",
    "registerAgency",
)
SMALL_JSON = 64 * 1024
WSO2_FAULT = {
    "code": 900901,
    "message": "Invalid Credentials",
    "description": "Invalid Credentials. Make sure you have given the correct access token",
}
# (code, name, parent, system): the sandbox's own directory, so the demo has someone to write to
SAMPLE_AGENCIES = (
    ("000.00.00.G22", "Văn phòng Chính phủ", None, "vpcp-sandbox"),
    ("000.00.00.H57", "UBND thành phố Huế", None, "lgsp-sandbox"),
    ("000.00.01.H57", "Văn phòng UBND thành phố Huế (thử nghiệm)", "000.00.00.H57", "lgsp-sandbox"),
)


class VdxpAxis(SandboxServer):
    kind = "vdxp-axis"
    spool_bodies = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        system_id: str = "lgsp-sandbox",
        secret: str = "vdxp-sandbox-secret",
        consumer_key: str = "lgsp-sandbox",
        consumer_secret: str = "vdxp-sandbox-consumer-secret",
        seed: bool = True,
        context: str = DEFAULT_CONTEXT,
        token_ttl: float = 3600.0,
        max_skew: float = 300.0,
        max_body_bytes: int = 4 * 1024**3,
        keep_body_bytes: int = 1024 * 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            host, port, max_body_bytes=max_body_bytes, keep_body_bytes=keep_body_bytes, **kwargs
        )
        self.system_id, self.secret = system_id, secret
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.context = "/" + context.strip("/")
        self.token_ttl, self.max_skew = token_ttl, max_skew
        self.clock: Callable[[], float] = time.time
        self._directory = tempfile.TemporaryDirectory(prefix="vdxp-axis-")
        self.store = Mailbox(Path(self._directory.name))
        self.keys = AxisKeys()
        self._style = threading.local()
        self.add_system(system_id, secret)
        self.add_client(consumer_key, consumer_secret, system_id)
        if seed:
            self.add_system("vpcp-sandbox", "vpcp-sandbox-secret")
            for code, name, pcode, system in SAMPLE_AGENCIES:
                self.add_agency(code, name, pcode, system)

    # --- state and inspection ---------------------------------------------------------------
    def add_system(self, system_id: str, secret: str) -> None:
        self.keys.add_system(system_id, secret)

    def add_client(self, consumer_key: str, consumer_secret: str, system: str) -> None:
        """An OAuth2 client (WSO2 style) acting as ``system``."""
        self.keys.add_client(consumer_key, consumer_secret, system)

    def add_agency(self, code: str, name: str, pcode: str | None, system: str) -> None:
        if not self.keys.knows(system):
            raise ValueError(f"unknown system {system!r}")
        self.store.register(system, code, name, pcode)

    def mailbox(self, agency: str) -> list[dict[str, Any]]:
        """Every record addressed to ``agency``, whatever its status."""
        return [r.as_dict() for r in self.store.mailbox(agency)]

    def sent_by(self, system: str) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.store.sent_by(system)]

    def stored_path(self, record_id: str) -> Path:
        """Where the body of a record is stored (a test may damage it there)."""
        return self.store.stored_path(record_id)

    @property
    def token_requests(self) -> int:
        return self.keys.token_requests

    def expire_tokens(self) -> None:
        self.keys.expire_tokens()

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self._directory.cleanup()

    # --- dispatch ---------------------------------------------------------------------------
    def dispatch(self, request: SandboxRequest) -> SandboxResponse | None:
        wso2 = request.path == "/token" or request.path.startswith(self.context + "/")
        self._style.wso2 = wso2  # so that an injected fault answers in this style
        return super().dispatch(request)

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        try:
            if request.path == "/token":
                return self._token(request)
            if request.path.startswith(self.context + "/"):
                return self._wso2(request, request.path[len(self.context) :])
            return self._vnpt(request, request.path.strip("/"))
        except AxisError as exc:
            return self._refusal(exc)

    def fault_response(self, status: int) -> SandboxResponse:
        code = {500: "SYSTEM_ERROR", 503: "SYSTEM_BUSY"}.get(status, f"HTTP_{status}")
        headers = {"Retry-After": "1"} if status in (429, 503) else {}
        return self._refusal(AxisError(code, "injected fault"), status, **headers)

    def partner_error(self, code: str) -> SandboxResponse:
        wso2 = getattr(self._style, "wso2", False)
        status = ERRORS.get(code, 400 if wso2 else 200)
        return self._refusal(AxisError(code, "injected error"), status)

    def _refusal(
        self, exc: AxisError, status: int | None = None, **headers: str
    ) -> SandboxResponse:
        status = status or exc.status
        if getattr(self._style, "wso2", False):
            body = {"code": exc.code, "message": exc.message, **exc.details}
        else:
            body = {"status": "FAIL", "ErrorCode": exc.code, "ErrorDesc": exc.message}
            body.update(exc.details)
        return SandboxResponse.json(status, body, **headers)

    # --- VNPT style ---------------------------------------------------------------------------
    def _vnpt(self, request: SandboxRequest, operation: str) -> SandboxResponse:
        if operation not in VNPT_OPERATIONS:
            raise AxisError("NOT_FOUND", f"no operation {operation[:60]!r}")
        system = self.keys.verify(request, self.clock(), self.max_skew)
        if request.method != "POST":
            raise AxisError("METHOD_NOT_ALLOWED", f"{operation} takes POST")
        if operation == "sendEdoc":
            return self._send(request, system, multipart=True)
        args = self._json(request) if request.size else {}
        if operation == "getEdoc":
            answer = self._content(system, args.get("docId"))
        else:
            data = self._call(operation, system, args)
            ok = {"status": "OK", "ErrorCode": "0", "ErrorDesc": ""}
            answer = SandboxResponse.json(200, {**ok, "data": data})
        self.record(request, operation=operation, arguments=args)
        return answer

    def _call(self, operation: str, system: str, args: dict[str, Any]) -> Any:
        """The answer's ``data`` for every call but the two that carry a document."""
        upper = getattr(self._style, "wso2", False)
        if operation == "getReceivedEdocList":
            found = self.store.received(system, _text(args.get("agency")))
            return [r.as_dict(upper) for r in found]
        if operation == "getSentEdocList":
            return [r.as_dict(upper) for r in self.store.sent(system, _text(args.get("agency")))]
        if operation == "updateStatus":
            return self.store.move(system, args.get("docId"), args.get("status")).as_dict(upper)
        if operation == "getAgenciesList":
            return [a.as_dict() for a in self.store.agencies(_limit(args.get("limit")))]
        assert operation == "registerAgency"
        agency = self.store.register(system, args.get("code"), args.get("name"), args.get("pcode"))
        return agency.as_dict()

    # --- WSO2 style ---------------------------------------------------------------------------
    def _wso2(self, request: SandboxRequest, route: str) -> SandboxResponse:
        system = self.keys.bearer(request.headers.get("authorization", ""))
        if system is None:
            return SandboxResponse.json(
                401, {"fault": WSO2_FAULT}, **{"WWW-Authenticate": 'Bearer realm="vdxp"'}
            )
        query = {k: v[-1] for k, v in parse_qs(request.query).items()}
        parts = route.strip("/").split("/")
        method = request.method
        if parts == ["documents"] and method == "POST":
            return self._send(request, system, multipart=False)
        if parts == ["documents"] and method == "GET":
            sent = query.get("direction") == "sent"
            status = query.get("status", "initial").lower()
            if not sent and status != "initial":
                raise AxisError("BAD_REQUEST", "status: only initial documents are listed")
            operation = "getSentEdocList" if sent else "getReceivedEdocList"
            return self._listing(request, operation, system, query, "documents")
        if len(parts) >= 2 and parts[0] == "documents":
            return self._document(request, system, parts[1], parts[2:])
        if parts == ["agencies"] and method == "GET":
            return self._listing(request, "getAgenciesList", system, query, "agencies")
        if parts == ["agencies"] and method == "POST":
            args = self._json(request)
            agency = self._call("registerAgency", system, args)
            self.record(request, operation="registerAgency", arguments=args)
            return SandboxResponse.json(201, agency)
        if parts[0] in ("documents", "agencies"):
            raise AxisError("METHOD_NOT_ALLOWED", f"{method} is not allowed here")
        raise AxisError("NOT_FOUND", f"no resource {route[:60]!r}")

    def _listing(
        self, request: SandboxRequest, operation: str, system: str, query: dict[str, str], key: str
    ) -> SandboxResponse:
        items = self._call(operation, system, query)
        self.record(request, operation=operation, arguments=query)
        return SandboxResponse.json(200, {"count": len(items), key: items})

    def _document(
        self, request: SandboxRequest, system: str, record_id: str, rest: list[str]
    ) -> SandboxResponse:
        if rest == [] and request.method == "GET":
            record, _ = self.store.readable(system, record_id)
            answer = SandboxResponse.json(200, record.as_dict(upper=True))
            operation, args = "getEdoc", {"docId": record_id}
        elif rest == ["content"] and request.method == "GET":
            answer = self._content(system, record_id)
            operation, args = "getEdoc", {"docId": record_id}
        elif rest == ["status"] and request.method == "PUT":
            args = {**self._json(request), "docId": record_id}
            answer = SandboxResponse.json(200, self._call("updateStatus", system, args))
            operation = "updateStatus"
        else:
            raise AxisError("NOT_FOUND", "no such document resource")
        self.record(request, operation=operation, arguments=args)
        return answer

    def _token(self, request: SandboxRequest) -> SandboxResponse:
        client = self.keys.token_client(request.headers.get("authorization", ""))
        if request.method != "POST" or client is None:
            return SandboxResponse.json(
                401,
                {"error": "invalid_client", "error_description": "client authentication failed"},
                **{"WWW-Authenticate": 'Basic realm="vdxp"'},
            )
        form = parse_qs(request.body.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return SandboxResponse.json(400, {"error": "unsupported_grant_type"})
        token = self.keys.grant(client, self.token_ttl)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        return SandboxResponse.json(200, body, **{"Cache-Control": "no-store"})

    # --- documents ----------------------------------------------------------------------------
    def _send(self, request: SandboxRequest, system: str, *, multipart: bool) -> SandboxResponse:
        """Store the document once, one record per recipient; the same key: the same records."""
        sent = read_send(request, self.store.new_upload_path(), multipart=multipart)
        key = request.headers.get("x-idempotency-key") or None
        document, records, duplicate = self.store.send(
            system, sent.fields.get("from"), sent.recipients, sent.kind, sent.upload, key
        )
        self._record_send(request, key, sent.fields, sent.upload)
        wso2 = not multipart
        listed = [r.as_dict(upper=wso2) for r in records]
        if wso2:
            body = {"documentId": document, "duplicate": duplicate, "documents": listed}
            return SandboxResponse.json(200 if duplicate else 201, body)
        answer = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "DocID": document}
        return SandboxResponse.json(200, {**answer, "duplicate": duplicate, "data": listed})

    def _record_send(
        self, request: SandboxRequest, key: str | None, fields: dict[str, Any], upload: Upload
    ) -> None:
        self.record(
            request,
            idempotency_key=key,
            operation="sendEdoc",
            arguments=fields,
            argument_digests={"file": (upload.size, upload.sha256)},
        )

    def _content(self, system: str, record_id: Any) -> SandboxResponse:
        """The stored edXML, mapped from its file rather than read into memory."""
        record, path = self.store.readable(system, record_id)
        upper = getattr(self._style, "wso2", False)
        meta = json.dumps(record.as_dict(upper), separators=(",", ":"))
        with path.open("rb") as fh:
            size = path.stat().st_size
            content: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        return SandboxResponse(200, content, "application/xml", {"X-VDXP-Record": meta})

    def _json(self, request: SandboxRequest) -> dict[str, Any]:
        if request.size > SMALL_JSON:
            raise AxisError("BAD_REQUEST", "the JSON body is over 64 KiB")
        try:
            value = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise AxisError("BAD_REQUEST", "the body is not JSON") from None
        if not isinstance(value, dict):
            raise AxisError("BAD_REQUEST", "the body must be a JSON object")
        return value


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AxisError("BAD_REQUEST", "agency: an agency code")
    return value


def _limit(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AxisError("BAD_REQUEST", "limit: a positive whole number")
    return value
