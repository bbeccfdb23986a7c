"""HTTP plumbing under every simulator: request/response values, the threaded loopback server
and the request handler. Simulators never touch this; they implement
:meth:`sandbox.server.SandboxServer.handle` on :class:`SandboxRequest`/:class:`SandboxResponse`.

Why not plain ``ThreadingHTTPServer``: it does a reverse DNS lookup on bind, joins handler
threads on close (a request sleeping in a latency fault would hold ``stop()`` up) and leaves
keep-alive connections serving after shutdown. :class:`LoopbackHTTPServer` fixes all three.
The handler speaks HTTP/1.1 keep-alive with ``Content-Length`` or chunked bodies, does the TLS
handshake in the connection's own thread, and turns an owner's ``None`` answer into a dropped
connection (the ``outage`` fault).

Bodies are read in 1 MiB blocks and hashed as they arrive, so a simulator takes a 1 GB body at
flat memory: the bytes are kept only up to the owner's ``keep_body_bytes``; above it the
request carries its size and SHA-256, and (for owners with ``spool_bodies``, which must parse
the body) a temporary file holding it, deleted once the request is answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SandboxRequest:
    """One HTTP request as a simulator sees it. Header names are lower-case. ``body`` is the
    whole body when it is at most the owner's ``keep_body_bytes``, else empty; ``size`` and
    ``sha256`` always describe the whole body; ``body_file`` holds a large one while the
    request is handled (owners with ``spool_bodies`` only)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    size: int = 0
    sha256: str = hashlib.sha256(b"").hexdigest()
    body_file: str | None = None

    @property
    def body_kept(self) -> bool:
        return len(self.body) == self.size


@dataclass(frozen=True)
class SandboxResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> SandboxResponse:
        return cls(status, json.dumps(data, ensure_ascii=False).encode(), headers=headers)


class RequestOwner(Protocol):
    """What the handler needs from the simulator that owns the server."""

    max_body_bytes: int
    keep_body_bytes: int
    spool_bodies: bool

    def dispatch(self, request: SandboxRequest) -> SandboxResponse | None: ...


class LoopbackHTTPServer(ThreadingHTTPServer):
    """Tracks live connections so ``stop()`` can cut keep-alive clients off."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: RequestOwner
    ) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); loopback needs none.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("sandbox connection from %s failed", client_address, exc_info=True)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackHTTPServer
    timeout = 30  # idle keep-alive connections give their thread back
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, not in accept(), so one client can't stall all

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        owner = self.server.owner
        length = self.headers.get("Content-Length")
        if length is not None and (not length.isdigit() or int(length) > owner.max_body_bytes):
            self.close_connection = True
            self._write(
                SandboxResponse.json(
                    413, {"error": "payload_too_large", "max_body_bytes": owner.max_body_bytes}
                )
            )
            return
        body = _Body(owner.keep_body_bytes, owner.spool_bodies)
        try:
            for block in self._body_blocks(int(length) if length is not None else None):
                body.add(block)
            path, _, query = self.path.partition("?")
            request = SandboxRequest(
                method=self.command,
                path=path or "/",
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body.kept(),
                size=body.size,
                sha256=body.hash.hexdigest(),
                body_file=body.spool_path(),
            )
            response = owner.dispatch(request)
        finally:
            body.discard()
        if response is None:  # outage: answer nothing, drop the connection
            self.close_connection = True
            return
        self._write(response)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _body_blocks(self, length: int | None) -> Iterator[bytes]:
        if length is not None:
            while length > 0:
                block = self.rfile.read(min(length, BLOCK))
                if not block:
                    raise ConnectionError("client closed the connection mid-body")
                length -= len(block)
                yield block
            return
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            total += size
            if total > self.server.owner.max_body_bytes:
                raise ValueError("chunked body exceeds max_body_bytes")
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return
            while size > 0:
                block = self.rfile.read(min(size, BLOCK))
                if not block:
                    raise ConnectionError("client closed the connection mid-body")
                size -= len(block)
                yield block
            self.rfile.readline()

    def _write(self, response: SandboxResponse) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


BLOCK = 1024 * 1024


class _Body:
    """A request body arriving block by block: hashed, kept in memory up to ``keep`` bytes,
    beyond that dropped or (``spool``) written to a temporary file."""

    def __init__(self, keep: int, spool: bool) -> None:
        self.keep, self.spool = keep, spool
        self.hash = hashlib.sha256()
        self.size = 0
        self._parts: list[bytes] = []
        self._file: tempfile._TemporaryFileWrapper[bytes] | None = None

    def add(self, block: bytes) -> None:
        self.hash.update(block)
        self.size += len(block)
        if self.size <= self.keep:
            self._parts.append(block)
            return
        if self.spool and self._file is None:
            self._file = tempfile.NamedTemporaryFile(prefix="sandbox-body-", delete=False)
            self._file.writelines(self._parts)
        self._parts.clear()
        if self._file is not None:
            self._file.write(block)

    def kept(self) -> bytes:
        return b"".join(self._parts)

    def spool_path(self) -> str | None:
        if self._file is None:
            return None
        self._file.flush()
        return self._file.name

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            os.unlink(self._file.name)
