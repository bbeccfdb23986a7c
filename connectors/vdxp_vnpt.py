"""The VNPT style of the VDXP connector (:mod:`connectors.vdxp`): the national document axis
called as the VNPT client calls it, every request signed with a system id and its secret, and
the multipart body of ``sendEdoc``.

Each call is ``POST {base_url}/<operation>`` and carries ``X-VDXP-System`` (the system id),
``X-VDXP-Timestamp`` (Unix seconds), ``X-VDXP-Nonce`` (random, once), ``X-VDXP-Content-SHA256``
(hex SHA-256 of the body as sent) and ``X-VDXP-Signature`` = hex HMAC-SHA256 with the secret
over ``METHOD \\n PATH[?QUERY] \\n TIMESTAMP \\n NONCE \\n CONTENT-SHA256``. The axis refuses a
stale timestamp or a nonce it has seen, so a captured request cannot be replayed; the body's
hash is signed, so it cannot be swapped either. A streamed body is read twice (hashed, then
sent), never held. The header names and the canonical string are this project's choice
(matching :mod:`sandbox.vdxp`): REFERENCE.md names the scheme, not its details.

"One secret per agency": ``agency_credentials`` may give an agency its own system (``system_id``
+ ``secret_env``/``_file``), used for what that agency sends and receives; every other call is
signed as the instance's system. Secrets are resolved per call, so a rotated one is used at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.http import header_value, resolve_secret, secret_properties, secret_rule
from connectors.vdxp_wso2 import Streamed
from hub.errors import DeliveryError
from hub.payload import Payload

__all__ = ["SYSTEM_ID", "VNPT_SYSTEM", "VnptTransport", "multipart_document", "signed_headers"]

SYSTEM_ID = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[\x21-\x7e]+$"}
VNPT_SYSTEM = {  # an agency's own system in agency_credentials
    "type": "object",
    "required": ["system_id"],
    "additionalProperties": False,
    "properties": {
        "system_id": SYSTEM_ID,
        **secret_properties("secret", "this agency's system secret"),
    },
    **secret_rule("secret"),
}


def signed_headers(method: str, url: str, system: str, secret: str, digest: str) -> dict[str, str]:
    """The ``X-VDXP-*`` headers of one request to ``url`` whose body hashes to ``digest``, with
    a fresh timestamp and nonce."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    stamp, nonce = str(int(time.time())), secrets.token_hex(16)
    canonical = "\n".join((method, path, stamp, nonce, digest))
    signature = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    return {
        "X-VDXP-System": header_value(system),
        "X-VDXP-Timestamp": stamp,
        "X-VDXP-Nonce": nonce,
        "X-VDXP-Content-SHA256": digest,
        "X-VDXP-Signature": signature,
    }


def multipart_document(header: Mapping[str, Any], payload: Payload, filename: str) -> Streamed:
    """A ``sendEdoc`` body: the JSON ``header`` part and the edXML ``file`` part, streamed."""
    boundary = f"vdxp-{secrets.token_hex(16)}"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="header"\r\n'
        "Content-Type: application/json; charset=utf-8\r\n\r\n"
        f"{json.dumps(dict(header), ensure_ascii=False)}\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/xml\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")

    def chunks() -> Iterator[bytes]:
        yield head
        yield from payload.chunks()
        yield tail

    content_type = f"multipart/form-data; boundary={boundary}"
    return Streamed(content_type, len(head) + payload.size + len(tail), chunks)


class VnptTransport:
    """Signed calls: the instance's system, or an agency's own (``agency_credentials``)."""

    def __init__(self, name: str, config: Mapping[str, Any], session: requests.Session) -> None:
        self.name, self.config, self._http = name, config, session

    def credentials(self, agency: str | None) -> tuple[str, str]:
        """(system id, secret) that sign for ``agency``; the secret resolved now."""
        holder = self.config.get("agency_credentials", {}).get(agency or "", self.config)
        return holder["system_id"], resolve_secret(holder, "secret")

    def secrets(self, agency: str | None = None) -> list[str]:
        """The secret in play for ``agency``, to be kept out of any error text."""
        try:
            return [self.credentials(agency)[1]]
        except DeliveryError:
            return []

    def request(
        self,
        method: str,
        url: str,
        data: bytes | Streamed | None,
        headers: Mapping[str, str],
        limits: tuple[float, float],
        agency: str | None = None,
    ) -> requests.Response:
        """One signed call, its response unread (``stream``)."""
        system, secret = self.credentials(agency)
        if isinstance(data, Streamed):
            digest, body = data.sha256(), data.body()
        else:
            body = data or b""
            digest = hashlib.sha256(body).hexdigest()
        return self._http.request(
            method,
            url,
            data=body,
            headers={**headers, **signed_headers(method, url, system, secret, digest)},
            stream=True,
            allow_redirects=False,
            timeout=limits,
        )
