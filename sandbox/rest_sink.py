"""A partner REST API that accepts anything and remembers it: the target of the ``rest`` connector.

Contract:

* ``POST``/``PUT`` to any path is recorded (method, path, lower-cased headers, body, its size
  and SHA-256, time) and answered ``201 {"received": true, "duplicate": false, "seq": n}``.
  A request whose ``Idempotency-Key`` was seen before is recorded again in ``received`` but answered
  ``200 {"received": true, "duplicate": true, ...}`` and left out of ``unique``: the sink behaves
  like a partner that honours idempotency keys, so at-least-once delivery shows up as
  ``len(sink.received) > len(sink.unique)`` without double effects.
* ``GET``/``HEAD`` on any path answers ``200 {"status": "ok"}`` (a health probe), ``OPTIONS``
  ``204`` with ``Allow``; other methods ``405``.
* ``require_token="s3cret"``: every non-control request must carry ``Authorization: Bearer s3cret``
  or ``<api_key_header>: s3cret`` (default ``X-API-Key``), otherwise ``401`` with
  ``WWW-Authenticate: Bearer``.
* ``max_body_bytes``: a larger ``Content-Length`` is answered ``413`` without reading the body.
* ``keep_body_bytes`` (default 8 MiB): larger bodies are read at flat memory and recorded by
  ``size`` and ``sha256`` only (``body`` empty, ``body_kept`` false), so a test can check a
  1 GB delivery: ``RestSink(max_body_bytes=2**31)``.
* Faults and the ``/_sandbox/…`` control endpoints come from :class:`sandbox.server.SandboxServer`.

Python API: ``sink.received``, ``sink.unique``, ``sink.unique_keys()``,
``sink.wait_for(n, timeout, unique=False)``, ``sink.clear_received()``, ``sink.request_count``,
``sink.set_faults(...)``/``sink.clear_faults()``.
"""

from __future__ import annotations

import hmac
from typing import Any

from sandbox.server import SandboxRequest, SandboxResponse, SandboxServer

IDEMPOTENCY_HEADER = "idempotency-key"


class RestSink(SandboxServer):
    kind = "rest-sink"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_token: str | None = None,
        api_key_header: str = "X-API-Key",
        **kwargs: Any,
    ) -> None:
        super().__init__(host, port, **kwargs)
        self.require_token = require_token
        self.api_key_header = api_key_header.lower()

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.method == "OPTIONS":
            return SandboxResponse(
                204, content_type="text/plain", headers={"Allow": "GET, HEAD, POST, PUT, OPTIONS"}
            )
        if not self._authorised(request):
            return SandboxResponse.json(
                401, {"error": "unauthenticated"}, **{"WWW-Authenticate": 'Bearer realm="sandbox"'}
            )
        if request.method in ("GET", "HEAD"):
            return SandboxResponse.json(200, {"status": "ok", "service": self.kind})
        if request.method not in ("POST", "PUT"):
            return SandboxResponse.json(
                405, {"error": "method_not_allowed"}, Allow="GET, HEAD, POST, PUT, OPTIONS"
            )
        rec = self.record(request, idempotency_key=request.headers.get(IDEMPOTENCY_HEADER))
        return SandboxResponse.json(
            200 if rec.duplicate else 201,
            {"received": True, "duplicate": rec.duplicate, "seq": rec.seq},
        )

    def _authorised(self, request: SandboxRequest) -> bool:
        if self.require_token is None:
            return True
        expected = self.require_token.encode()
        bearer = request.headers.get("authorization", "")
        candidates = [request.headers.get(self.api_key_header, "")]
        if bearer[:7].lower() == "bearer ":
            candidates.append(bearer[7:].strip())
        return any(hmac.compare_digest(c.encode(), expected) for c in candidates if c)
