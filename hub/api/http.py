"""The HTTP/1.1 wire protocol the API is served with: uvicorn's httptools (llhttp) protocol,
plus what neither of uvicorn's protocols does on its own.

llhttp already refuses ambiguous framing (RFC 9112 §6.1: Content-Length with
Transfer-Encoding, the root of request smuggling behind a proxy) and control characters in
the request line and header fields; uvicorn answers those with a plain-text 400. This class
adds size limits — a request target over ``MAX_TARGET_BYTES`` gets 414, header fields over
``MAX_FIELD_BYTES`` (or more than ``MAX_FIELDS``) get 431, where llhttp would buffer without
bound — and answers every refusal as the API's JSON error. A refused connection is closed
gracefully: the answer is written, our side is shut, and what the client still sends is read
and dropped for up to ``LINGER_SECONDS``; closing at once with unread bytes makes the kernel
send a reset, and the client would lose the answer (a 1 MB query string got a reset, not 414).
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["LINGER_SECONDS", "MAX_FIELDS", "MAX_FIELD_BYTES", "MAX_TARGET_BYTES", "HubHttpProtocol"]

MAX_TARGET_BYTES = 16 * 1024
MAX_FIELD_BYTES = 32 * 1024
MAX_FIELDS = 100
LINGER_SECONDS = 5.0

_MALFORMED = (
    400,
    "malformed_input",
    "not a valid HTTP/1.1 request (RFC 9112): e.g. both "
    "Content-Length and Transfer-Encoding, or a control character in the request "
    "line or a header field",
)
_TARGET_TOO_LONG = (
    414,
    "uri_too_long",
    f"the request target is longer than {MAX_TARGET_BYTES} bytes",
)
_FIELDS_TOO_LARGE = (
    431,
    "header_fields_too_large",
    f"the header fields are larger than {MAX_FIELD_BYTES} bytes in all, or more than {MAX_FIELDS}",
)


class _Refused(Exception):
    """Raised in a parser callback to stop llhttp; uvicorn then calls ``send_400_response``,
    which answers with the refusal recorded before the raise."""


class HubHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._refusal = _MALFORMED
        self._refused = False
        self._head_of: dict | None = None  # the scope of the request whose head is being read
        self._head_bytes = 0
        self._field_bytes = 0

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: what is left of a refused request is read and dropped
        head_of = self._head_of
        super().data_received(data)
        if head_of is not None and head_of is self._head_of and not self._refused:
            # All of ``data`` was head. llhttp hands a header over only once it is complete
            # and keeps the pieces until then: bound what it keeps, not only what it hands.
            self._head_bytes += len(data)
            if self._head_bytes > MAX_TARGET_BYTES + MAX_FIELD_BYTES:
                self._refuse(*_FIELDS_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_of, self._head_bytes, self._field_bytes = self.scope, 0, 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_TARGET_BYTES:
            self._refusal = _TARGET_TOO_LONG
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_bytes += len(name) + len(value)
        if self._field_bytes > MAX_FIELD_BYTES or len(self.headers) >= MAX_FIELDS:
            self._refusal = _FIELDS_TOO_LARGE
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_of = None
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        self._refuse(*self._refusal)

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refused = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the request under way gets nothing more, sends nothing
            cycle.message_event.set()
            if cycle.response_started:  # too late for an answer of our own
                self.transport.close()
                return
        body = json.dumps({"code": code, "message": message, "details": {}}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()  # the client reads the answer, then end of stream
        self.flow.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
