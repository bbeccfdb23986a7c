"""The WSO2 style of the VDXP connector (:mod:`connectors.vdxp`): the national document axis
behind a provincial LGSP's WSO2 API Manager, and the streamed request body both styles share.

REFERENCE.md ("VDXP through a provincial LGSP (WSO2 API Manager style)"): a client-credentials
token from ``/token`` (:mod:`connectors.oauth2`), then REST under a versioned ``context``
(default ``/truclienthong/v1.0.0``); a document is posted as its edXML in base64 plus a document
kind. "One secret per agency": ``agency_credentials`` may give an agency its own OAuth2 client
(``consumer_key`` + ``consumer_secret_env``/``_file``), used for what that agency sends and
receives; every other call uses the instance's client. Each client caches its own token and
gets a new one once when the gateway answers 401.

The document body ``{"from", "to", "kind", "content": "<base64>"}`` is written while it is sent:
its length is known in advance (4 bytes of base64 per 3 of edXML), the payload is read in
blocks whose size is a multiple of 3 and encoded block by block, so a 100 MB edXML passes at the
memory of one block and is never held whole, encoded or not.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from connectors.http import INLINE_BODY_BYTES, SizedStream, origin, timeouts, transport_error
from connectors.http_check import PROBE_TIMEOUT_CAP, SERVER_TROUBLE, secret_checks
from connectors.oauth2 import TokenClient
from hub.connector import CheckResult
from hub.errors import DeliveryError, TransientDeliveryError
from hub.payload import Payload

__all__ = [
    "DEFAULT_CONTEXT",
    "WSO2_ONLY",
    "Streamed",
    "Wso2Transport",
    "base64_document",
    "wso2_operation",
]

DEFAULT_CONTEXT = "/truclienthong/v1.0.0"
WSO2_ONLY = (
    "consumer_key",
    "consumer_secret_env",
    "consumer_secret_file",
    "token_url",
    "scope",
    "token_renew_margin_seconds",
    "context",
)
BASE64_BLOCK = 3 * 256 * 1024  # a multiple of 3: blocks encode without padding between them


@dataclass(frozen=True)
class Streamed:
    """A request body of known ``length`` that can be read again from the start (``chunks()``
    is a new pass each call): once to sign it, once to send it, once more after a new token."""

    content_type: str
    length: int
    chunks: Callable[[], Iterator[bytes]]

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()

    def body(self) -> bytes | SizedStream:
        """What ``requests`` sends: the bytes when small, else a one-shot stream of them."""
        if self.length <= INLINE_BODY_BYTES:
            return b"".join(self.chunks())
        return SizedStream(self.length, self.chunks())


def base64_document(fields: Mapping[str, Any], payload: Payload) -> Streamed:
    """``{**fields, "content": base64(payload)}`` as a stream of known length."""
    head = json.dumps(dict(fields), ensure_ascii=False)[:-1] + ', "content": "'
    prefix, suffix = head.encode("utf-8"), b'"}'
    encoded = 4 * -(-payload.size // 3)

    def chunks() -> Iterator[bytes]:
        yield prefix
        carry = b""
        for block in payload.chunks(BASE64_BLOCK):
            data = carry + block if carry else block
            cut = len(data) - len(data) % 3
            if cut:
                yield base64.b64encode(data[:cut])
            carry = data[cut:]
        if carry:
            yield base64.b64encode(carry)
        yield suffix

    return Streamed("application/json; charset=utf-8", len(prefix) + encoded + 2, chunks)


def wso2_operation(
    operation: str, context: str, args: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]:
    """(method, path, query, JSON body) of an axis operation in the WSO2 style."""
    base = "/" + context.strip("/")
    agency = {"agency": args["agency"]} if args.get("agency") else {}
    if operation == "getReceivedEdocList":
        return "GET", f"{base}/documents", {"status": "initial", **agency}, None
    if operation == "getSentEdocList":
        return "GET", f"{base}/documents", {"direction": "sent", **agency}, None
    if operation == "getEdoc":
        return "GET", f"{base}/documents/{_segment(args['docId'])}/content", None, None
    if operation == "updateStatus":
        path = f"{base}/documents/{_segment(args['docId'])}/status"
        return "PUT", path, None, {"status": args["status"].upper()}
    if operation == "getAgenciesList":
        return (
            "GET",
            f"{base}/agencies",
            ({"limit": args["limit"]} if "limit" in args else {}),
            None,
        )
    if operation == "registerAgency":
        return "POST", f"{base}/agencies", None, dict(args)
    assert operation == "sendEdoc", operation
    return "POST", f"{base}/documents", None, None


def _segment(value: str) -> str:
    return quote(value, safe="")


class Wso2Transport:
    """Bearer calls to the LGSP's API: the instance's client, or an agency's own."""

    def __init__(self, name: str, config: Mapping[str, Any], session: requests.Session) -> None:
        self.name, self.config, self._http = name, config, session
        self.base_url = config["base_url"].rstrip("/")
        token_url = config.get("token_url") or f"{self.base_url}/token"
        common = {k: v for k, v in config.items() if k != "agency_credentials"}
        common.update(url=self.base_url, token_url=token_url)
        self._default = TokenClient(name, common, session)
        self._agencies: dict[str, TokenClient] = {}
        for code, credentials in config.get("agency_credentials", {}).items():
            own = {k: v for k, v in common.items() if not k.startswith("consumer_")}
            self._agencies[code] = TokenClient(name, {**own, **credentials}, session)

    def client(self, agency: str | None) -> TokenClient:
        return self._agencies.get(agency or "", self._default)

    def secrets(self, agency: str | None = None) -> list[str]:
        return self.client(agency).secrets()

    def request(
        self,
        method: str,
        url: str,
        data: bytes | Streamed | None,
        headers: Mapping[str, str],
        limits: tuple[float, float],
        agency: str | None = None,
    ) -> requests.Response:
        """One call with the agency's token (a new one, once, on 401). The body is rebuilt for
        the second try: a stream can be sent only once."""

        def send(auth: dict[str, str]) -> requests.Response:
            body = data.body() if isinstance(data, Streamed) else data
            return self._http.request(
                method,
                url,
                data=body,
                headers={**headers, **auth},
                stream=True,
                allow_redirects=False,
                timeout=limits,
            )

        return self.client(agency).send(send, limits)

    # --- test connection ---------------------------------------------------------------------
    def checks(self, api_url: str) -> list[CheckResult]:
        """The token client's checks (secrets, DNS, TCP, a real token), then one API call with
        the token (``api``), then a token for each agency's own client (``auth``)."""
        results = self._default.checks(self.base_url)
        verdicts = {r.name: r.status for r in results}
        if verdicts.get("auth") != "ok":
            return results
        limits = timeouts(self.config, PROBE_TIMEOUT_CAP)
        try:
            token = self._default.token(self._default.secret(), limits)
        except DeliveryError as exc:
            return [*results, CheckResult("api", "warn", exc.message)]
        results.append(self._api_check(api_url, token, limits))
        for code, client in self._agencies.items():
            results += self._agency_check(code, client, limits)
        return results

    def _api_check(self, url: str, token: str, limits: tuple[float, float]) -> CheckResult:
        """One authorised ``GET``: is the token good for the VDXP API (a subscription)?"""
        where = f"GET {origin(url)}{urlsplit(url).path}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            response = self._http.get(
                url, headers=headers, timeout=limits, stream=True, allow_redirects=False
            )
            response.close()
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return CheckResult("api", "warn", transport_error(exc, where, [token]).message)
        code = response.status_code
        answered = f"{where} -> HTTP {code}"
        if 200 <= code < 300:
            return CheckResult("api", "ok", answered)
        if code in (401, 403):
            return CheckResult("api", "fail", f"{answered}: is the client subscribed to the API?")
        if code in SERVER_TROUBLE:
            return CheckResult("api", "warn", f"{answered}: the gateway is failing or busy")
        return CheckResult("api", "fail", f"{answered}: check base_url and context")

    def _agency_check(
        self, code: str, client: TokenClient, limits: tuple[float, float]
    ) -> list[CheckResult]:
        where = f"agency_credentials.{code}."
        found = secret_checks({}, [(where, client.config, "consumer_secret")])
        if any(r.status != "ok" for r in found):
            return found
        try:
            client.request_token(client.secret(), limits)
        except TransientDeliveryError as exc:
            return [*found, CheckResult("auth", "warn", f"agency {code}: {exc.message}")]
        except DeliveryError as exc:
            return [*found, CheckResult("auth", "fail", f"agency {code}: {exc.message}")]
        detail = f"agency {code}: token granted by {origin(client.token_url)}"
        return [*found, CheckResult("auth", "ok", detail)]
