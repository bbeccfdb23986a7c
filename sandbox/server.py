"""The shared base of every sandbox simulator: a real HTTP server on 127.0.0.1 with fault injection.

Tests, the demo and ``lgsp sandbox`` start simulators in-process on ephemeral ports, so connectors
are exercised over real loopback HTTP (sockets, timeouts, keep-alive, TLS) instead of mocks. A
simulator subclasses :class:`SandboxServer` and fills in :meth:`SandboxServer.handle` (and, if its
protocol has its own error shape, :meth:`SandboxServer.fault_response`); starting, stopping, the
request ledger and faults are written once, here.

Fault injection applies to every request except the ``/_sandbox/…`` control endpoints, in order:

==============  ======================================================================
``latency_ms``  sleep this long before answering (a timeout test sets it above the timeout)
``outage``      read the request, then close the connection without answering a byte: the
                client sees "connection aborted" (``requests.ConnectionError``), like a
                crashed partner or a dropped route. A gateway answering 503 is simulated
                with ``fail_status=503`` and ``error_rate=1.0`` instead.
``fail_next``   answer the next N requests with ``fail_status`` (default 503; SOAP: 500)
``error_rate``  answer this fraction (0.0-1.0) of the others with ``fail_status``
``error_code``  when set, the requests ``fail_next``/``error_rate`` pick get the partner's own
                error answer with this code instead of ``fail_status`` (``partner_error``:
                DVCQG's ``{"error_code": …}``, VNPost's ``Status`` …)
==============  ======================================================================

Faults are set from Python (``server.set_faults(fail_next=2)``, ``server.clear_faults()``) or over
HTTP (``POST /_sandbox/faults`` with a JSON object of the fields above, ``GET`` reads them,
``DELETE`` resets). ``GET /_sandbox/received`` lists the recorded requests, ``DELETE`` clears them.
Failed (injected) requests are counted in ``request_count`` but not recorded as received.

``stop()`` closes the listening socket *and* every open keep-alive connection, so a client that
pooled a connection sees the partner go away, exactly as with a real outage.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import random
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from sandbox.transport import LoopbackHTTPServer, RequestHandler, SandboxRequest, SandboxResponse

__all__ = ["Faults", "ReceivedRequest", "SandboxRequest", "SandboxResponse", "SandboxServer"]

CONTROL_PREFIX = "/_sandbox/"
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_KEEP_BODY_BYTES = 8 * 1024 * 1024


@dataclass
class Faults:
    """The faults a simulator is injecting now (see the module docstring)."""

    fail_next: int = 0
    fail_status: int = 503
    error_rate: float = 0.0
    latency_ms: float = 0
    outage: bool = False
    error_code: str | None = None

    def apply(self, changes: Mapping[str, Any]) -> None:
        """Validate and apply ``changes``; raises ``ValueError`` naming the bad field."""
        known = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {sorted(known)}")
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            ok = {
                "fail_next": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                "fail_status": is_number and int(value) == value and 100 <= value <= 599,
                "error_rate": is_number and 0.0 <= value <= 1.0,
                "latency_ms": is_number and value >= 0,
                "outage": isinstance(value, bool),
                "error_code": value is None or (isinstance(value, str) and 0 < len(value) <= 40),
            }[key]
            if not ok:
                raise ValueError(f"invalid value for fault {key!r}: {value!r}")
        for key, value in changes.items():
            setattr(self, key, int(value) if key == "fail_status" else value)


@dataclass(frozen=True)
class ReceivedRequest:
    """A request a simulator accepted. ``duplicate`` is true when its idempotency key (the
    ``Idempotency-Key`` header, or a SOAP message id) was seen before; ``arguments`` holds what a
    protocol simulator parsed out of the body (e.g. SOAP operation arguments) and
    ``argument_digests`` their ``(size, sha256)`` (those too large to keep). ``size`` and
    ``sha256`` describe the whole body; ``body`` holds it only up to the server's
    ``keep_body_bytes`` (``body_kept``), so a 1 GB delivery is checked by its digest."""

    seq: int
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float
    idempotency_key: str | None = None
    duplicate: bool = False
    operation: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    size: int = 0
    sha256: str = ""
    argument_digests: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def body_kept(self) -> bool:
        return len(self.body) == self.size

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def as_dict(self) -> dict[str, Any]:
        try:
            text: str | None = self.body.decode("utf-8") if self.body_kept else None
        except UnicodeDecodeError:
            text = None
        data = dataclasses.asdict(self)
        data.update(
            body_text=text,
            body_kept=self.body_kept,
            body_base64=base64.b64encode(self.body).decode("ascii") if self.body_kept else None,
        )
        del data["body"]
        return data


class SandboxServer:
    """Base simulator. ``start()`` binds ``host:port`` (port 0 = ephemeral) and serves in a daemon
    thread; ``url`` is then e.g. ``http://127.0.0.1:41234``. Thread-safe: handlers run one thread
    per connection and share the ledger and faults under a lock.

    ``max_body_bytes``: a larger body is answered 413; ``keep_body_bytes``: bodies up to this
    are kept in the ledger, larger ones only by size and SHA-256 (read at flat memory)."""

    kind = "sandbox"
    default_fail_status = 503  # what fail_next/error_rate answer unless fail_status is set
    spool_bodies = False  # True: a body over keep_body_bytes reaches handle() as a temp file

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        keep_body_bytes: int = DEFAULT_KEEP_BODY_BYTES,
        seed: int | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.max_body_bytes = max_body_bytes
        self.keep_body_bytes = keep_body_bytes
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._faults = Faults(fail_status=self.default_fail_status)
        self._received: list[ReceivedRequest] = []
        self._seen_keys: set[str] = set()
        self._request_count = 0
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = LoopbackHTTPServer((self.host, self.port), RequestHandler, self)
        if self.ssl_context is not None:
            httpd.socket = self.ssl_context.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{self.kind}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: the port is closed and open connections are cut. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        """Base URL; still answers after ``stop()`` (a stopped server refuses connections there,
        and ``start()`` again rebinds the same port)."""
        if self.port == 0:
            raise RuntimeError(f"{self.kind} was never started")
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- faults ------------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        with self._lock:
            return dataclasses.replace(self._faults)

    def set_faults(self, **changes: Any) -> Faults:
        """Change some faults, keeping the others; raises ``ValueError`` on a bad field."""
        with self._lock:
            self._faults.apply(changes)
            return dataclasses.replace(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = Faults(fail_status=self.default_fail_status)

    def _draw_fault(self) -> SandboxResponse | str | None:
        """Decide, atomically, whether this request fails: ``"outage"``, the failure's answer,
        or None."""
        with self._lock:
            f = self._faults
            if f.outage:
                return "outage"
            failed = f.fail_next > 0 or (f.error_rate > 0 and self._random.random() < f.error_rate)
            if f.fail_next > 0:
                f.fail_next -= 1
            if not failed:
                return None
            code, status = f.error_code, f.fail_status
        return self.partner_error(code) if code is not None else self.fault_response(status)

    # --- ledger ------------------------------------------------------------------------------
    @property
    def received(self) -> list[ReceivedRequest]:
        """Every accepted request, duplicates included, in arrival order (a copy)."""
        with self._lock:
            return list(self._received)

    @property
    def unique(self) -> list[ReceivedRequest]:
        """Accepted requests minus idempotent repeats (requests without a key are all unique)."""
        with self._lock:
            return [r for r in self._received if not r.duplicate]

    def unique_keys(self) -> list[str]:
        """Distinct idempotency keys, in order of first arrival."""
        with self._lock:
            return [
                r.idempotency_key
                for r in self._received
                if r.idempotency_key is not None and not r.duplicate
            ]

    @property
    def request_count(self) -> int:
        """Every non-control request that reached the server, failed ones included."""
        with self._lock:
            return self._request_count

    def wait_for(
        self, n: int, timeout: float = 5.0, *, unique: bool = False
    ) -> list[ReceivedRequest]:
        """Block until at least ``n`` requests (``unique=True``: unique ones) were accepted and
        return them; raises ``TimeoutError`` saying how many arrived."""

        def ready() -> list[ReceivedRequest] | None:
            items = [r for r in self._received if not (unique and r.duplicate)]
            return items if len(items) >= n else None

        with self._arrived:
            items = self._arrived.wait_for(ready, timeout)
            if items is None:
                got = len([r for r in self._received if not (unique and r.duplicate)])
                raise TimeoutError(f"{self.kind}: expected {n} requests, got {got} in {timeout}s")
            return items

    def clear_received(self) -> None:
        with self._lock:
            self._received.clear()
            self._seen_keys.clear()

    def record(
        self,
        request: SandboxRequest,
        *,
        idempotency_key: str | None = None,
        operation: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        argument_digests: Mapping[str, tuple[int, str]] | None = None,
    ) -> ReceivedRequest:
        """Add an accepted request to the ledger and wake ``wait_for``; for subclasses."""
        with self._arrived:
            duplicate = idempotency_key is not None and idempotency_key in self._seen_keys
            if idempotency_key is not None:
                self._seen_keys.add(idempotency_key)
            rec = ReceivedRequest(
                seq=len(self._received) + 1,
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=request.body,
                received_at=time.time(),
                idempotency_key=idempotency_key,
                duplicate=duplicate,
                operation=operation,
                arguments=dict(arguments or {}),
                size=request.size,
                sha256=request.sha256,
                argument_digests=dict(argument_digests or {}),
            )
            self._received.append(rec)
            self._arrived.notify_all()
            return rec

    # --- protocol hooks ----------------------------------------------------------------------
    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one (non-control, non-faulted) request. Subclasses override."""
        return SandboxResponse.json(404, {"error": "not_found"})

    def fault_response(self, status: int) -> SandboxResponse:
        """What an injected failure looks like; ``Retry-After`` on 429/503 as real servers do."""
        headers = {"Retry-After": "1"} if status in (429, 503) else {}
        return SandboxResponse.json(
            status, {"error": "injected_fault", "status": status}, **headers
        )

    def partner_error(self, code: str) -> SandboxResponse:
        """The partner's own error answer carrying ``code`` (fault ``error_code``). Simulators
        of protocols with their own error shape override it; this default is DVCQG-like."""
        return SandboxResponse.json(200, {"error_code": code, "message": "injected error"})

    # --- dispatch (runs on handler threads) --------------------------------------------------
    def dispatch(self, request: SandboxRequest) -> SandboxResponse | None:
        """Control endpoints, then faults, then ``handle``; None means "drop the connection"."""
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        with self._lock:
            self._request_count += 1
            latency = self._faults.latency_ms / 1000.0
        if latency and self._stopping.wait(latency):
            return None
        fault = self._draw_fault()
        if fault == "outage":
            return None
        if isinstance(fault, SandboxResponse):
            return fault
        return self.handle(request)

    def _control(self, request: SandboxRequest) -> SandboxResponse:
        name, method = request.path[len(CONTROL_PREFIX) :].strip("/"), request.method
        if name == "faults" and method == "GET":
            return SandboxResponse.json(200, dataclasses.asdict(self.faults))
        if name == "faults" and method == "DELETE":
            self.clear_faults()
            return SandboxResponse.json(200, dataclasses.asdict(self.faults))
        if name == "faults" and method in ("POST", "PUT", "PATCH"):
            try:
                changes = json.loads(request.body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                return SandboxResponse.json(200, dataclasses.asdict(self.set_faults(**changes)))
            except ValueError as exc:
                return SandboxResponse.json(400, {"error": "invalid_faults", "message": str(exc)})
        if name == "received" and method == "GET":
            items = self.received
            if "unique" in request.query:
                items = [r for r in items if not r.duplicate]
            return SandboxResponse.json(
                200,
                {
                    "count": len(items),
                    "request_count": self.request_count,
                    "received": [r.as_dict() for r in items],
                },
            )
        if name == "received" and method == "DELETE":
            self.clear_received()
            return SandboxResponse.json(200, {"cleared": True})
        return SandboxResponse.json(
            404, {"error": "unknown_control_endpoint", "path": request.path}
        )
