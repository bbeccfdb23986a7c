"""The conformance suite for a registered connector instance: will deliveries through it work,
and will the hub retry exactly what it should?

``run()`` takes a type, an instance name and its configuration (and, optionally, an example
message) and reports two lists of ``CheckResult``:

* ``checks`` — the type's own ``check()`` (secrets, DNS, TCP, credentials …), as it is;
* ``conformance`` — ``reachable`` and ``authentication`` (the verdicts of those checks),
  ``round trip`` (the example delivered to the real partner: ``ok`` with its status,
  ``warn`` when retryable, ``fail`` when refused), and the error classification the hub's
  retry rules rest on — a 4xx is permanent, a 5xx, a 429 and a timeout retryable — checked
  with the instance's own configuration pointed (``Connector.retarget``) at a stand-in partner
  this module starts on 127.0.0.1 for the duration. The stand-in answers like the partner's
  protocol would: SOAP requests get SOAP faults (``Client``/``Server``, or ``Sender``/
  ``Receiver`` for SOAP 1.2), anything else a JSON error; a 429 is a gateway's plain text.

A classification check is ``skipped`` when the type has no ``retarget`` or the connector
refused the message before sending it (our side: give an example message it can encode), and
``warn`` when the stand-in was not reached for a retryable reason (e.g. a WSDL read from a
partner that is down). Hub code never imports ``hub.testing``; this suite needs no pytest.
"""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from hub.connector import CheckResult, Connector, DeliveryResult, OutboundMessage, worst
from hub.errors import (
    DeliveryError,
    HubError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload

__all__ = ["Example", "Report", "StandIn", "classification", "run"]

ROUND_TRIP_TIMEOUT = 30.0  # the example goes to the real partner
STAND_IN_TIMEOUT = 5.0  # answers from loopback are immediate
TIMEOUT_PROBE = 1.0  # the deliver() cap while the stand-in holds its answer
HOLD_MAX = 10.0  # the stand-in never holds a request longer than this
KEEP_BODY = 64 * 1024  # what the stand-in keeps of a request (to tell SOAP from the rest)
DEFAULT_EXAMPLE = b"{}"
SOAP11 = b"http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = b"http://www.w3.org/2003/05/soap-envelope"
# (check name, what the stand-in answers, the class the hub needs)
SCENARIOS: tuple[tuple[str, str, type[DeliveryError]], ...] = (
    ("4xx is permanent", "refused", PermanentDeliveryError),
    ("5xx is retryable", "server_error", TransientDeliveryError),
    ("429 is retryable", "throttled", TransientDeliveryError),
    ("timeout is retryable", "timeout", TransientDeliveryError),
)
REACHABLE = frozenset({"dns", "connect", "request", "health", "wsdl"})


@dataclass(frozen=True)
class Example:
    """An example message: its bytes, content type and where it came from (for the report)."""

    data: bytes
    content_type: str = "application/json"
    source: str = "body"


@dataclass
class Report:
    connector: str
    type: str
    example: str | None
    checks: list[CheckResult] = field(default_factory=list)
    conformance: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No check failed (warnings and skips do not make an instance unfit)."""
        return all(r.status != "fail" for r in [*self.checks, *self.conformance])

    def as_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "type": self.type,
            "example": self.example,
            "ok": self.ok,
            "checks": [r.as_dict() for r in self.checks],
            "conformance": [r.as_dict() for r in self.conformance],
        }


def run(
    cls: type[Connector],
    name: str,
    config: Mapping[str, Any],
    example: Example | None = None,
    *,
    service: str | None = None,
    sender: tuple[str, str] = ("lgsp", "conformance"),
) -> Report:
    """Run ``check()`` and the conformance suite; never raises. ``sender``: (agency, system)
    the example is sent as."""
    report = Report(name, cls.type_name, example.source if example else None)
    names = ["reachable", "authentication", "round trip", *(s[0] for s in SCENARIOS)]
    try:
        instance = cls(name, config)
    except Exception as exc:  # noqa: BLE001 - an invalid configuration is a result
        reason = exc.message if isinstance(exc, HubError) else type(exc).__name__
        report.checks = [CheckResult("configuration", "fail", reason)]
        report.conformance = [CheckResult(n, "skipped", "invalid configuration") for n in names]
        return report
    message = _message(example, service, sender)
    try:
        report.checks = _check(instance)
        report.conformance = [
            _verdict("reachable", [r for r in report.checks if r.name in REACHABLE]),
            _verdict("authentication", [r for r in report.checks if r.name == "auth"]),
            _round_trip(instance, message) if example else _no_example(),
        ]
    finally:
        instance.close()
    report.conformance += classification(cls, name, config, message)
    return report


def classification(
    cls: type[Connector], name: str, config: Mapping[str, Any], message: OutboundMessage
) -> list[CheckResult]:
    """Deliver ``message`` to a stand-in that answers 4xx, 5xx, 429, then nothing in time."""
    with StandIn() as stand_in:
        try:
            moved = cls.retarget(config, stand_in.url)
        except Exception as exc:  # noqa: BLE001
            return [
                CheckResult(s[0], "fail", f"retarget() raised {type(exc).__name__}")
                for s in SCENARIOS
            ]
        if moved is None:
            why = f"type {cls.type_name!r} has no retarget() hook to point it at a stand-in"
            return [CheckResult(s[0], "skipped", why) for s in SCENARIOS]
        try:
            instance = cls(name, moved)
        except Exception as exc:  # noqa: BLE001
            why = exc.message if isinstance(exc, HubError) else type(exc).__name__
            return [
                CheckResult(s[0], "fail", f"retarget() gave an invalid configuration: {why}")
                for s in SCENARIOS
            ]
        try:
            return [_classify(instance, stand_in, message, *scenario) for scenario in SCENARIOS]
        finally:
            instance.close()


def _classify(
    instance: Connector,
    stand_in: StandIn,
    message: OutboundMessage,
    check: str,
    answer: str,
    expected: type[DeliveryError],
) -> CheckResult:
    stand_in.answer(answer)
    result: DeliveryResult | None = None
    error: DeliveryError | None = None
    try:
        result = instance.deliver(
            message, timeout=TIMEOUT_PROBE if answer == "timeout" else STAND_IN_TIMEOUT
        )
    except DeliveryError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - the very thing being checked
        return CheckResult(check, "fail", f"deliver() let {type(exc).__name__} escape")
    finally:
        stand_in.release()
    if not stand_in.received:
        if isinstance(error, LocalDeliveryError):
            why = f"the connector refused the message before sending it: {error.message}"
            return CheckResult(check, "skipped", why)
        if isinstance(error, TransientDeliveryError):
            return CheckResult(check, "warn", f"the stand-in was not reached: {error.message}")
        outcome = error.message if error else "deliver() returned without sending"
        return CheckResult(check, "fail", f"the stand-in was not reached: {outcome}")
    if error is None:
        status = result.remote_status if result else None
        return CheckResult(check, "fail", f"classed as delivered (remote status {status})")
    got = type(error).__name__
    if isinstance(error, expected) and not isinstance(error, LocalDeliveryError):
        return CheckResult(check, "ok", f"{got} (remote status {error.remote_status})")
    return CheckResult(check, "fail", f"classed {got}, needs {expected.__name__}: {error.message}")


def _check(instance: Connector) -> list[CheckResult]:
    try:
        results = list(instance.check())
    except Exception as exc:  # noqa: BLE001 - check() must not raise; say so if it does
        return [CheckResult("check", "fail", f"check() raised {type(exc).__name__}")]
    if not all(isinstance(r, CheckResult) for r in results):
        return [CheckResult("check", "fail", "check() must return CheckResult items")]
    return results


def _verdict(name: str, results: list[CheckResult]) -> CheckResult:
    status = worst(results)
    if status is None:
        return CheckResult(name, "warn", "cannot be told: the type's check() does not test it")
    if status == "ok":
        return CheckResult(name, "ok", results[-1].detail)
    first = next(r for r in results if r.status == status)
    return CheckResult(name, status, f"{first.name}: {first.detail}")


def _round_trip(instance: Connector, message: OutboundMessage) -> CheckResult:
    try:
        result = instance.deliver(message, timeout=ROUND_TRIP_TIMEOUT)
    except TransientDeliveryError as exc:
        return CheckResult("round trip", "warn", f"not delivered, would be retried: {exc.message}")
    except DeliveryError as exc:
        return CheckResult("round trip", "fail", f"refused ({type(exc).__name__}): {exc.message}")
    except Exception as exc:  # noqa: BLE001
        return CheckResult("round trip", "fail", f"deliver() let {type(exc).__name__} escape")
    return CheckResult(
        "round trip", "ok", f"delivered; the partner answered {result.remote_status}"
    )


def _no_example() -> CheckResult:
    return CheckResult(
        "round trip",
        "skipped",
        "no example message: give one, or a service whose request schema has examples",
    )


def _message(
    example: Example | None, service: str | None, sender: tuple[str, str]
) -> OutboundMessage:
    data, content_type = (
        (example.data, example.content_type) if example else (DEFAULT_EXAMPLE, "application/json")
    )
    ident = new_id()
    return OutboundMessage(
        id=ident,
        correlation_id=ident,
        sender_agency=sender[0],
        sender_system=sender[1],
        service=service,
        recipient=None,
        content_type=content_type,
        payload=Payload.of(data, content_type),
    )


# --- the stand-in partner ------------------------------------------------------------------------
class StandIn:
    """A partner on an ephemeral 127.0.0.1 port that answers every request as told by
    ``answer()``: ``refused`` (4xx), ``server_error`` (5xx), ``throttled`` (429) or ``timeout``
    (holds the request until ``release()``, then drops it). ``received`` counts the requests
    since the last ``answer()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mode = "refused"
        self._received = 0
        self._released = threading.Event()
        self._server: _Server | None = None

    def __enter__(self) -> Self:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.stand_in = self
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the stand-in is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def received(self) -> int:
        with self._lock:
            return self._received

    def answer(self, mode: str) -> None:
        with self._lock:
            self._mode, self._received = mode, 0
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def respond(self, body: bytes) -> tuple[int, str, bytes, dict[str, str]] | None:
        """(status, content type, body, headers) for a request, or None: drop the connection."""
        with self._lock:
            self._received += 1
            mode = self._mode
        if mode == "timeout":
            self._released.wait(HOLD_MAX)
            return None
        if mode == "throttled":
            return 429, "text/plain", b"Too Many Requests\n", {"Retry-After": "1"}
        soap = SOAP12 if SOAP12 in body else SOAP11 if SOAP11 in body else None
        if soap is None:
            status, error = (400, "invalid_request") if mode == "refused" else (500, "internal")
            return status, "application/json", b'{"error": "%s"}' % error.encode(), {}
        return _soap_fault(soap, refused=mode == "refused")


def _soap_fault(namespace: bytes, *, refused: bool) -> tuple[int, str, bytes, dict[str, str]]:
    """A fault as a SOAP stack sends it: 1.1 always HTTP 500 (§6.2) with ``Client``/
    ``Server``; 1.2 with ``Sender`` (HTTP 400) or ``Receiver`` (HTTP 500)."""
    if namespace == SOAP11:
        code = b"soap:Client" if refused else b"soap:Server"
        fault = b"<faultcode>%s</faultcode><faultstring>stand-in fault</faultstring>" % code
        content_type, status = "text/xml; charset=utf-8", 500
    else:
        code = b"soap:Sender" if refused else b"soap:Receiver"
        fault = (
            b"<soap:Code><soap:Value>%s</soap:Value></soap:Code>"
            b'<soap:Reason><soap:Text xml:lang="en">stand-in fault</soap:Text></soap:Reason>' % code
        )
        content_type, status = "application/soap+xml; charset=utf-8", 400 if refused else 500
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="%s"><soap:Body>'
        b"<soap:Fault>%s</soap:Fault></soap:Body></soap:Envelope>" % (namespace, fault)
    )
    return status, content_type, body, {}


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    stand_in: StandIn


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = HOLD_MAX  # an idle keep-alive connection ends by itself
    server: _Server

    def do_POST(self) -> None:
        answer = self.server.stand_in.respond(self._body())
        if answer is None:
            self.close_connection = True
            return
        status, content_type, body, headers = answer
        self.send_response(status)
        for name, value in {"Content-Type": content_type, **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_PUT = do_PATCH = do_DELETE = do_GET = do_HEAD = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request may carry a payload's personal data in its path."""

    def _body(self) -> bytes:
        """The request body (what is kept of it), read whole so the connection stays usable."""
        kept = bytearray()
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                self._read_into(kept, size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
        else:
            self._read_into(kept, int(self.headers.get("Content-Length") or 0))
        return bytes(kept)

    def _read_into(self, kept: bytearray, size: int) -> None:
        while size > 0:
            block = self.rfile.read(min(size, 1024 * 1024))
            if not block:
                break
            size -= len(block)
            kept += block[: max(0, KEEP_BODY - len(kept))]
