"""The API's outermost check: a request whose path, query string or header values carry a
control character (NUL included), or whose path or query is not UTF-8 once percent-decoded,
is refused with 400 ``malformed_input`` before routing, authentication or the store see it.

Such bytes have no meaning in any of the hub's ids, codes or keys; let through, a NUL made
PostgreSQL fail with 500 (it cannot store one in text) and a line feed reached the log and
the denials table raw. A pure ASGI middleware, not ``BaseHTTPMiddleware``, which would cost
every request a task and a stream."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RefuseControlCharacters"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is allowed (RFC 9110)


class RefuseControlCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _malformed(scope)
            if where is not None:
                response = JSONResponse(
                    {
                        "code": "malformed_input",
                        "message": f"the request's {where} has a control character or is not UTF-8",
                        "details": {"where": where},
                    },
                    status_code=400,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _malformed(scope: Scope) -> str | None:
    """Which part of the request is malformed (``path``, ``query`` or ``header <name>``), or
    None. The server has percent-decoded the path with replacement characters, so the raw
    path is decoded again here, strictly."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")
    if not _clean(raw_path):
        return "path"
    if not _clean(scope["query_string"].replace(b"+", b" ")):
        return "query"
    for name, value in scope["headers"]:
        if _CONTROL_IN_VALUE.search(value):
            return f"header {name.decode('latin-1')}"
    return None


def _clean(raw: bytes) -> bool:
    try:
        text = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(text) is None
