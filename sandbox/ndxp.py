"""A simulator of the NDXP gateway (the national data sharing platform, WSO2 API Manager style):
an OAuth2 token endpoint and Bearer-checked national services under versioned contexts.

Contract (REFERENCE.md, "How provincial LGSPs are exposed in practice" and "VDXP through a
provincial LGSP"):

* ``POST /token`` — HTTP Basic ``consumer_key:consumer_secret``, form
  ``grant_type=client_credentials`` → ``200 {access_token, token_type: "Bearer", expires_in,
  scope}``. Wrong or missing credentials → ``401 {"error": "invalid_client"}`` (RFC 6749 §5.2),
  another grant type → ``400 {"error": "unsupported_grant_type"}``. Every request to it counts
  in ``token_requests``; none is recorded in ``received``.
* ``POST /{context}/{version}/{resource}`` with ``Authorization: Bearer <token>`` (an unknown or
  expired token → ``401`` in the envelope below). Tokens live ``token_ttl`` seconds;
  ``expire_tokens()`` invalidates every token issued so far. The contexts (``contexts``, version
  ``version``, default ``1.0``) and the services behind them:

  ==================  ==================  ==========================================================
  context             service             resources
  ==================  ==================  ==========================================================
  ``csdldc``          population, SOAP    ``XacMinhThongTinNhanThan``, ``XacThucThongTinCongDan``
  ``csdldc-json``     population, JSON    the same two
  ``danhmuc``         catalogue           ``donvihanhchinh`` (administrative units)
  ``ndop-danhmuc``    catalogue           the same, as NDOP would expose it
  ==================  ==================  ==========================================================

  The population service is :mod:`sandbox.population` (its own docstring gives the shapes); its
  answers are SOAP or ``{error_code, message}``, not wrapped. The catalogue answers in the
  envelope ``{code, status, correlationId, response}``: the request is a JSON object of optional
  filters ``{Cap: TINH|HUYEN|XA, MaDonVi, MaCapTren, TrangThai: active|merged|abolished,
  PhienBan: 2004|2025}``; the response ``{DonViHanhChinh: [{MaDonVi, TenDonVi, Cap, MaCapTren,
  PhienBan, TrangThai, MaKeThua: [successor codes]}]}``. A ``MaDonVi`` that does not exist →
  code 404; an unknown filter or value → code 400.
* Every accepted API call is recorded (``received``) with its ``Idempotency-Key`` header as the
  idempotency key and ``<context>/<resource>`` as the operation. ``correlationId`` echoes the
  ``X-Correlation-ID`` header (a new one when absent). ``citizens``/``add_citizen()`` and
  ``units``/``add_unit()`` give the state.
* Faults (:mod:`sandbox.server`): ``fail_status`` and ``partner_error(code)`` both answer the
  gateway's envelope with that code (HTTP status = the code when it is an HTTP error code, else
  200), as a gateway reports its own and its back ends' failures.

Invented, because REFERENCE.md does not say: the context and resource names, the envelope's
``code`` values (HTTP-like: 200 success, 400/401/403/404 refusals, 5xx the back end) and
``status`` texts, the token lifetime, the catalogue's field names. Province codes are real (the
2-digit codes kept by QĐ 19/2025/QĐ-TTg; Quảng Bình merged into Quảng Trị, Hà Giang into Tuyên
Quang, July 2025); district and commune rows (codes 999…) are fictitious illustrations of the
old four-level and the 2025 two-tier codes, one old ward mapping to several new ones.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from sandbox.population import Citizen, PopulationRegistry
from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

__all__ = ["DEFAULT_CONTEXTS", "SAMPLE_UNITS", "NdxpGateway"]

DEFAULT_CONTEXTS: Mapping[str, str] = {
    "csdldc": "population-soap",
    "csdldc-json": "population-json",
    "danhmuc": "catalogue",
    "ndop-danhmuc": "catalogue",
}
CATALOGUE_RESOURCE = "donvihanhchinh"
POPULATION_OPERATIONS = ("XacMinhThongTinNhanThan", "XacThucThongTinCongDan")
FILTERS = {
    "Cap": {"TINH", "HUYEN", "XA"},
    "TrangThai": {"active", "merged", "abolished"},
    "PhienBan": {"2004", "2025"},
    "MaDonVi": None,
    "MaCapTren": None,
}


def _unit(
    code: str, name: str, level: str, parent: str, version: str, state: str, *succ: str
) -> dict[str, Any]:
    return {
        "MaDonVi": code,
        "TenDonVi": name,
        "Cap": level,
        "MaCapTren": parent,
        "PhienBan": version,
        "TrangThai": state,
        "MaKeThua": list(succ),
    }


SAMPLE_UNITS = (
    _unit("02", "Tỉnh Hà Giang", "TINH", "", "2004", "merged", "08"),
    _unit("08", "Tỉnh Tuyên Quang", "TINH", "", "2025", "active"),
    _unit("44", "Tỉnh Quảng Bình", "TINH", "", "2004", "merged", "45"),
    _unit("45", "Tỉnh Quảng Trị", "TINH", "", "2025", "active"),
    _unit("46", "Thành phố Huế", "TINH", "", "2025", "active"),
    _unit("999", "Quận Mẫu (thử nghiệm)", "HUYEN", "46", "2004", "abolished"),
    _unit("99901", "Phường Mẫu Một (thử nghiệm)", "XA", "999", "2004", "merged", "99911"),
    _unit("99902", "Phường Mẫu Hai (thử nghiệm)", "XA", "999", "2004", "merged", "99911", "99912"),
    _unit("99911", "Phường Mẫu Mới (thử nghiệm)", "XA", "46", "2025", "active"),
    _unit("99912", "Phường Mẫu Đông (thử nghiệm)", "XA", "46", "2025", "active"),
)


class NdxpGateway(SandboxServer):
    kind = "ndxp-gateway"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        consumer_key: str = "lgsp-sandbox",
        consumer_secret: str = "ndxp-sandbox-secret",
        token_ttl: float = 3600.0,
        version: str = "1.0",
        contexts: Mapping[str, str] = DEFAULT_CONTEXTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret
        self.token_ttl = token_ttl
        self.version = version
        self.contexts = dict(contexts)
        self.population = PopulationRegistry()
        self.units: dict[str, dict[str, Any]] = {u["MaDonVi"]: dict(u) for u in SAMPLE_UNITS}
        self._state = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self._token_requests = 0

    # --- state ------------------------------------------------------------------------------
    @property
    def citizens(self) -> dict[str, Citizen]:
        return self.population.citizens

    def add_citizen(self, citizen: Citizen) -> None:
        with self._state:
            self.population.add(citizen)

    def add_unit(self, unit: Mapping[str, Any]) -> None:
        with self._state:
            self.units[unit["MaDonVi"]] = dict(unit)

    @property
    def token_requests(self) -> int:
        """Every request that reached ``/token`` (issued or refused)."""
        with self._state:
            return self._token_requests

    def expire_tokens(self) -> None:
        """Every token issued so far is refused from now on (as after a key rotation)."""
        with self._state:
            self._tokens.clear()

    # --- dispatch ---------------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.path == "/token":
            return self._token(request)
        correlation = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        if not self._bearer_ok(request):
            return self._envelope(401, correlation, None, WWW_Authenticate='Bearer realm="ndxp"')
        route = self._route(request.path)
        if route is None:
            return self._envelope(404, correlation, None)
        if request.method != "POST":
            return self._envelope(405, correlation, None, Allow="POST")
        context, service, resource = route
        key = request.headers.get("idempotency-key")
        if service.startswith("population") and resource not in POPULATION_OPERATIONS:
            return self._envelope(404, correlation, None)
        if service == "population-soap":
            status, body, operation, fields = self.population.soap(request.body)
            self.record(
                request, idempotency_key=key, operation=f"{context}/{operation}", arguments=fields
            )
            return SandboxResponse(status, body, "text/xml; charset=utf-8")
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        if service == "population-json":
            answer, fields = self.population.json(resource, data)
            self.record(
                request, idempotency_key=key, operation=f"{context}/{resource}", arguments=fields
            )
            return SandboxResponse.json(200, answer)
        self.record(request, idempotency_key=key, operation=f"{context}/{resource}")
        if resource != CATALOGUE_RESOURCE:
            return self._envelope(404, correlation, None)
        code, response = self._catalogue(data)
        return self._envelope(code, correlation, response)

    def fault_response(self, status: int) -> SandboxResponse:
        headers = {"Retry-After": "1"} if status in (429, 503) else {}
        return self._envelope(status, str(uuid.uuid4()), None, **headers)

    def partner_error(self, code: str) -> SandboxResponse:
        http = int(code) if code.isdigit() and 400 <= int(code) <= 599 else 200
        body = {
            "code": int(code) if code.isdigit() else code,
            "status": _status_text(code),
            "correlationId": str(uuid.uuid4()),
            "response": None,
        }
        return SandboxResponse.json(http, body)

    # --- the token endpoint -----------------------------------------------------------------
    def _token(self, request: SandboxRequest) -> SandboxResponse:
        with self._state:
            self._token_requests += 1
        if request.method != "POST":
            return SandboxResponse.json(405, {"error": "invalid_request"}, Allow="POST")
        if not self._client_ok(request.headers.get("authorization", "")):
            return SandboxResponse.json(
                401,
                {"error": "invalid_client", "error_description": "client authentication failed"},
                **{"WWW-Authenticate": 'Basic realm="ndxp"'},
            )
        form = parse_qs(request.body.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return SandboxResponse.json(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(24)
        with self._state:
            self._tokens[token] = time.monotonic() + self.token_ttl
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "scope": "default",
        }
        return SandboxResponse.json(200, body, **{"Cache-Control": "no-store"})

    def _client_ok(self, header: str) -> bool:
        if header[:6].lower() != "basic ":
            return False
        try:
            key, _, secret = (
                base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(key, self.consumer_key) and hmac.compare_digest(
            secret.encode(), self.consumer_secret.encode()
        )

    def _bearer_ok(self, request: SandboxRequest) -> bool:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return False
        with self._state:
            expiry = self._tokens.get(header[7:].strip())
        return expiry is not None and time.monotonic() < expiry

    def _route(self, path: str) -> tuple[str, str, str] | None:
        for context, service in self.contexts.items():
            prefix = f"/{context}/{self.version}/"
            if path.startswith(prefix) and "/" not in path[len(prefix) :]:
                return context, service, path[len(prefix) :]
        return None

    # --- the catalogue ----------------------------------------------------------------------
    def _catalogue(self, query: Any) -> tuple[int, Any]:
        query = {} if query is None else query
        if not isinstance(query, dict):
            return 400, None
        for name, value in query.items():
            allowed = FILTERS.get(name, set())
            if (
                name not in FILTERS
                or not isinstance(value, str)
                or (allowed and value not in allowed)
            ):
                return 400, None
        with self._state:
            units = [dict(u) for u in self.units.values()]
        if "MaDonVi" in query and query["MaDonVi"] not in {u["MaDonVi"] for u in units}:
            return 404, None
        found = [u for u in units if all(u[k] == v for k, v in query.items())]
        return 200, {"DonViHanhChinh": found}

    def _envelope(
        self, code: int, correlation: str, response: Any, **headers: str
    ) -> SandboxResponse:
        body = {
            "code": code,
            "status": _status_text(str(code)),
            "correlationId": correlation,
            "response": response,
        }
        return SandboxResponse.json(
            code, body, **{k.replace("_", "-"): v for k, v in headers.items()}
        )


def _status_text(code: str) -> str:
    try:
        return HTTPStatus(int(code)).phrase.upper().replace(" ", "_")
    except ValueError:
        return "ERROR"
