"""Generic SOAP connector: one message = one call of a WSDL operation (zeep).

A new partner with a SOAP service needs configuration only::

    {"wsdl": "https://partner.example/ws/Citizen?wsdl", "operation": "LookupCitizen",
     "timeout_seconds": 15, "static_arguments": {"Purpose": "dossier 1.000656"}}

How the message becomes the operation's arguments (in this order, later wins):

1. ``static_arguments``: constants from the config (a purpose code, a system id …);
2. the payload: with ``payload_field`` set, the whole payload is that one argument, e.g. an
   edXML document: base64 of its bytes for an ``xsd:base64Binary`` argument, else its text
   (it must be UTF-8). Without it the payload must be a JSON object (at most 16 MiB) and its
   keys are the arguments (nested objects map to complex types, lists to repeated elements);
   a mapping step produces that JSON;
3. ``message_id_field``: the message id under that argument name (an idempotency key for
   partners that take one).

Every string argument is checked before anything is sent: one XML 1.0 cannot carry (a control
character such as U+0001 — valid in JSON, never in XML) raises ``LocalDeliveryError`` naming
the argument, instead of reaching the partner or being blamed on it.

A ``payload_field`` payload over 1 MiB is streamed, not given to zeep: zeep serialises the
envelope once around a unique marker, and the transport sends the envelope's head, the payload
(XML-escaped text or base64) chunk by chunk from its file, and the envelope's tail, with a
``Content-Length`` computed up front (from the size for base64; for text by a first pass over
the file that also checks UTF-8 and XML legality). A 1 GB document costs one chunk of memory.
Plugins that sign the envelope (WS-Security) are not supported with streaming.

The answer is ``zeep.helpers.serialize_object`` of the result as JSON (dates ISO 8601, bytes
base64, ``xsd:any`` as XML text). ``remote_status`` is the HTTP status, or the value of
``result_status_field`` in the answer (e.g. an ``AckCode``) when configured.

The zeep ``Client`` is built once per instance, lazily and under a lock (loading a WSDL is slow),
with ``Settings(strict=…, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
forbid_external=True)``; ``allow_external_imports`` lifts the last one for WSDLs that import their
XSDs over HTTP (JAX-WS ``?xsd=1``). ``endpoint`` overrides the WSDL's ``soap:address`` (a WSDL
kept as a file, a service behind a proxy). TLS, proxy and ``auth`` options are those of the
``rest`` connector; auth headers go on WSDL downloads and calls alike.

Error mapping (raises only ``TransientDeliveryError``/``PermanentDeliveryError`` and its
subclass ``LocalDeliveryError``, the hub's own failure, always before anything was sent):

========================================================  ==========  =======================
outcome                                                   raises      ``remote_status``
========================================================  ==========  =======================
SOAP fault ``Server``/``Receiver`` (SOAP 1.1 §4.4.1: "not  Transient   ``"fault:Server"``
attributable to the contents of the message … may
succeed at a later point in time")
SOAP fault ``Client``/``Sender``/``MustUnderstand`` …     Permanent   ``"fault:Client"`` …
timeout / connection / TLS failure                        Transient   as in ``rest``
HTTP 408/425/429/5xx without a SOAP fault                 Transient   the code
other HTTP errors, unparseable 2xx or invalid answer      Permanent   the code
arguments the operation does not accept, a payload that   Local       None
is not a JSON object, a string XML cannot carry
WSDL unreadable / unsafe / operation unknown              Permanent   None
WSDL URL unreachable                                      Transient   as in ``rest``
========================================================  ==========  =======================

Some services answer every error, even a bad argument, as a ``Server`` fault; set
``server_faults_retryable: false`` for those so such messages are dead-lettered at once.

``check()`` (test connection) checks the secret references, loads the WSDL (a download refused
with 401/403 fails ``auth``), then DNS, TCP and one ``GET`` on the endpoint, as ``health()``
does. ``retarget()`` sets ``endpoint`` to another origin (the WSDL is still read from where the
configuration says) for the conformance suite.
An unparseable 2xx answer is permanent because the call may have taken effect: an admin
decides whether to replay.
"""

from __future__ import annotations

import base64
import codecs
import itertools
import json
import re
import secrets as _secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.helpers import serialize_object
from zeep.proxy import ServiceProxy
from zeep.wsdl.utils import etree_to_string
from zeep.xsd.types.builtins import Base64Binary

from connectors.http import (
    HTTP_CLIENT_PROPERTIES,
    INLINE_BODY_BYTES,
    TRANSIENT_STATUSES,
    SizedStream,
    auth_headers,
    make_session,
    redact,
    transport_error,
)
from connectors.http_check import http_checks, retarget, secret_checks
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.payload import Payload

DEFAULT_TIMEOUT = 30.0
NAME = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
MAX_JSON_ARGUMENTS_BYTES = 16 * 1024 * 1024  # a JSON payload is parsed whole into arguments
BASE64_READ = 3 * 256 * 1024  # a multiple of 3: base64 of each read needs no carry
# What XML 1.0 can carry (§2.2 Char); anything else in a string argument is refused locally.
NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A GET on a SOAP endpoint may well answer 500 (no envelope): only these say it is in trouble.
GATEWAY_TROUBLE = frozenset({408, 425, 429, 502, 503, 504})


class SoapConnector(Connector):
    """Call a WSDL operation per message; see the module docstring for the argument mapping."""

    type_name = "soap"
    config_schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "soap connector",
        "type": "object",
        "required": ["wsdl", "operation"],
        "additionalProperties": False,
        "dependentRequired": {"client_key": ["client_cert"]},
        "properties": {
            "wsdl": {
                "type": "string",
                "minLength": 1,
                "description": "WSDL URL (http, https, file) or file path",
            },
            "operation": {"type": "string", "pattern": NAME},
            "service": {
                "type": "string",
                "minLength": 1,
                "description": "wsdl:service name; default the first",
            },
            "port": {
                "type": "string",
                "minLength": 1,
                "description": "wsdl:port name; default the service's first",
            },
            "endpoint": {
                "type": "string",
                "pattern": "^https?://",
                "description": "overrides the WSDL's soap:address",
            },
            "timeout_seconds": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": DEFAULT_TIMEOUT,
                "description": "WSDL download and each call",
            },
            "payload_field": {
                "type": "string",
                "pattern": NAME,
                "description": "pass the whole payload as this argument",
            },
            "message_id_field": {
                "type": "string",
                "pattern": NAME,
                "description": "pass the message id as this argument",
            },
            "static_arguments": {
                "type": "object",
                "description": "constant arguments added to every call",
            },
            "result_status_field": {
                "type": "string",
                "minLength": 1,
                "description": "answer field reported as remote_status",
            },
            "strict": {
                "type": "boolean",
                "default": True,
                "description": "false lets zeep accept answers that break the XSD",
            },
            "server_faults_retryable": {"type": "boolean", "default": True},
            "allow_external_imports": {
                "type": "boolean",
                "default": False,
                "description": "let the WSDL import XSDs over HTTP",
            },
            **HTTP_CLIENT_PROPERTIES,
        },
    }

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(name, config)
        timeout = self.config.get("timeout_seconds", DEFAULT_TIMEOUT)
        self._transport = _Transport(make_session(self.config), timeout)
        self._lock = threading.Lock()
        self._proxy: ServiceProxy | None = None

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        proxy = self._service()
        arguments, streamed = self._arguments(proxy, message)
        operation = self.config["operation"]
        call_timeout = self.config.get("timeout_seconds", DEFAULT_TIMEOUT)
        if timeout is not None:
            call_timeout = min(call_timeout, timeout)
        secrets: list[str] = []
        try:
            auth, secrets = auth_headers(self.config.get("auth"))
            with self._transport.call(call_timeout, auth, streamed):
                result = proxy[operation](**arguments)
        except DeliveryError:
            raise
        except Exception as exc:  # noqa: BLE001 - the seam: nothing from zeep/requests escapes
            raise self._call_error(exc, secrets) from None
        data = serialize_object(result, target_cls=dict)
        status = str(self._transport.last_status() or 200)
        field = self.config.get("result_status_field")
        if field and isinstance(data, dict) and data.get(field) is not None:
            status = str(data[field])
        body = json.dumps(data, default=_json_default, ensure_ascii=False).encode()
        return DeliveryResult(
            remote_status=status,
            response=body,
            content_type="application/json",
            details={"operation": operation},
        )

    def health(self) -> Health:
        """Healthy when the WSDL loads, the operation is bound, and the endpoint gives an HTTP
        answer other than 401/403/407/429/502/503/504. Any other status counts: SOAP stacks
        answer a GET on their endpoint with 200, 405 or even 500, all of which prove it is up."""
        try:
            proxy = self._service()
            address = proxy._binding_options["address"]
            auth, secrets = auth_headers(self.config.get("auth"))
        except DeliveryError as exc:
            return Health(False, exc.message)
        try:
            response = self._transport.session.get(
                address,
                headers=auth,
                allow_redirects=False,
                timeout=min(self.config.get("timeout_seconds", DEFAULT_TIMEOUT), 10.0),
            )
        except Exception as exc:  # noqa: BLE001
            return Health(False, transport_error(exc, address, secrets).message)
        code = response.status_code
        ok = code not in (401, 403, 407, 429, 502, 503, 504)
        return Health(
            ok, f"operation {self.config['operation']} bound; GET {address} -> HTTP {code}"
        )

    def check(self) -> list[CheckResult]:
        try:
            address = self._service()._binding_options["address"]
            wsdl = CheckResult(
                "wsdl", "ok", f"loads; operation {self.config['operation']} is bound"
            )
        except DeliveryError as exc:
            down = isinstance(exc, TransientDeliveryError)
            wsdl = CheckResult("wsdl", "warn" if down else "fail", exc.message)
            address = self.config.get("endpoint") or self.config["wsdl"]
            if exc.remote_status in ("401", "403", "407"):
                refused = CheckResult(
                    "auth", "fail", f"the WSDL download was refused: {exc.message}"
                )
                return [*secret_checks(self.config), wsdl, refused]
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("wsdl", "fail", f"cannot be read: {type(exc).__name__}")]
        if not str(address).startswith(("http://", "https://")):
            return [*secret_checks(self.config), wsdl]
        results = http_checks(
            self.config, self._transport.session, address, "GET", unhealthy=GATEWAY_TROUBLE
        )
        at = sum(1 for r in results if r.name in ("secret", "file"))
        return [*results[:at], wsdl, *results[at:]]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        moved = retarget(config, base_url, "endpoint")
        moved.setdefault("endpoint", base_url.rstrip("/") + "/")
        return moved

    def close(self) -> None:
        with self._lock:
            self._proxy = None
        self._transport.session.close()

    # --- internals ---------------------------------------------------------------------------
    def _service(self) -> ServiceProxy:
        """The bound service proxy, building the zeep client on first use (not cached on
        failure, so a partner whose WSDL URL was down is retried on the next delivery)."""
        with self._lock:
            if self._proxy is None:
                self._proxy = self._build_proxy()
            return self._proxy

    def _build_proxy(self) -> ServiceProxy:
        cfg, where = self.config, f"{self.name}: WSDL {self.config['wsdl']}"
        settings = zeep.Settings(
            strict=cfg.get("strict", True),
            xml_huge_tree=False,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=not cfg.get("allow_external_imports", False),
        )
        secrets: list[str] = []
        try:
            auth, secrets = auth_headers(cfg.get("auth"))
            with self._transport.call(None, auth):
                client = zeep.Client(cfg["wsdl"], transport=self._transport, settings=settings)
        except DeliveryError:
            raise
        except requests.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else 0
            error = (
                TransientDeliveryError
                if code >= 500 or code in TRANSIENT_STATUSES
                else (PermanentDeliveryError)
            )
            raise error(f"{where}: HTTP {code}", remote_status=str(code)) from None
        except requests.RequestException as exc:
            raise transport_error(exc, where, secrets) from None
        except Exception as exc:  # noqa: BLE001 - unreadable, unsafe or invalid WSDL
            reason = redact(str(exc), secrets)[:300]
            raise PermanentDeliveryError(
                f"{where} is unusable: {type(exc).__name__}: {reason}", reason="config"
            ) from None
        services = client.wsdl.services
        service = (
            services.get(cfg["service"])
            if "service" in cfg
            else next(iter(services.values()), None)
        )
        if service is None:
            raise PermanentDeliveryError(
                f"{where}: no service {cfg.get('service', '')!r}; has {sorted(services)}",
                reason="config",
            )
        port = (
            service.ports.get(cfg["port"])
            if "port" in cfg
            else next(iter(service.ports.values()), None)
        )
        if port is None:
            raise PermanentDeliveryError(
                f"{where}: no port {cfg.get('port', '')!r}; has {sorted(service.ports)}",
                reason="config",
            )
        address = cfg.get("endpoint") or port.binding_options.get("address")
        proxy = client.create_service(port.binding.name, address)
        operations = [name for name, _ in proxy]
        if cfg["operation"] not in operations:
            raise PermanentDeliveryError(
                f"{where}: no operation {cfg['operation']!r}; has {sorted(operations)}",
                reason="config",
            )
        return proxy

    def _arguments(
        self, proxy: ServiceProxy, message: OutboundMessage
    ) -> tuple[dict[str, Any], StreamedArgument | None]:
        """The operation's arguments, checked to be encodable (``LocalDeliveryError`` naming
        the argument otherwise), and the payload argument to stream, if it is one."""
        arguments = dict(self.config.get("static_arguments", {}))
        field = self.config.get("payload_field")
        streamed = None
        payload = message.payload
        if field:
            binary = self._is_base64(proxy, field)
            if payload.in_memory or payload.size <= INLINE_BODY_BYTES:
                data = payload.read()
                arguments[field] = data if binary else _text(data, field, self.name)
            else:
                streamed = StreamedArgument(payload, field, binary, self.name)
                arguments[field] = streamed.marker
        else:
            try:
                data = json.loads(payload.read(MAX_JSON_ARGUMENTS_BYTES))
            except (ValueError, UnicodeDecodeError, RecursionError):
                data = None
            if not isinstance(data, dict):
                raise LocalDeliveryError(
                    f"{self.name}: the payload must be a JSON object (at most "
                    f"{MAX_JSON_ARGUMENTS_BYTES} bytes) whose keys are the arguments of "
                    f"{self.config['operation']} (or set payload_field)",
                    reason="mapping",
                )
            arguments.update(data)
        if "message_id_field" in self.config:
            arguments[self.config["message_id_field"]] = message.id
        check_encodable(arguments, self.name)
        return arguments, streamed

    def _is_base64(self, proxy: ServiceProxy, field: str) -> bool:
        """Is ``field`` an ``xsd:base64Binary`` argument (document/literal wrapped)?"""
        operation = proxy._binding.get(self.config["operation"])
        body = getattr(getattr(operation, "input", None), "body", None)
        for name, element in getattr(getattr(body, "type", None), "elements", ()):
            if name == field:
                return isinstance(element.type, Base64Binary)
        return False

    def _call_error(self, exc: Exception, secrets: list[str]) -> DeliveryError:
        where = f"{self.name}: {self.config['operation']}"
        status = self._transport.last_status()
        if not self._transport.sent():  # zeep refused our arguments: nothing left the hub
            if isinstance(exc, requests.RequestException):
                return transport_error(exc, where, secrets)
            return LocalDeliveryError(
                f"{where}: arguments do not fit the operation: "
                f"{type(exc).__name__}: {redact(str(exc), secrets)[:300]}",
                reason="mapping",
            )
        if isinstance(exc, zeep.exceptions.Fault):
            code = exc.code or ""
            local = code.rpartition(":")[2]
            details = {
                "fault_code": code,
                "fault_string": redact(exc.message or "", secrets)[:300],
                "http_status": status,
            }
            if not code:  # an error status with XML that is not a SOAP fault
                transient = status is None or status >= 500 or status in TRANSIENT_STATUSES
            else:
                transient = local.split(".")[0] in ("Server", "Receiver") and self.config.get(
                    "server_faults_retryable", True
                )
            error = TransientDeliveryError if transient else PermanentDeliveryError
            return error(
                f"{where}: SOAP fault {code or '(none)'}: {details['fault_string']}",
                remote_status=f"fault:{local or status}",
                **details,
            )
        if isinstance(exc, zeep.exceptions.TransportError):
            code = exc.status_code or status or 0
            if code >= 500 or code in TRANSIENT_STATUSES:
                return TransientDeliveryError(
                    f"{where}: partner answered HTTP {code}",
                    remote_status=str(code),
                    http_status=code,
                )
            what = "an unparseable answer" if 200 <= code < 300 else f"HTTP {code}"
            return PermanentDeliveryError(
                f"{where}: partner answered {what}", remote_status=str(code), http_status=code
            )
        if isinstance(exc, requests.RequestException):
            return transport_error(exc, where, secrets)
        if isinstance(exc, zeep.exceptions.Error):  # e.g. an answer that breaks the WSDL
            return PermanentDeliveryError(
                f"{where}: {type(exc).__name__}: {redact(str(exc), secrets)[:300]}",
                remote_status=str(status) if status else None,
            )
        return transport_error(exc, where, secrets)


class StreamedArgument:
    """A payload too large to hand to zeep as a value. zeep builds the envelope around
    ``marker``; the transport splits the serialised envelope there and sends prefix, the
    payload encoded chunk by chunk, suffix, with ``Content-Length`` computed up front: base64
    from the size, text by a first pass that also checks it is UTF-8 and XML-legal, so an
    unencodable payload raises ``LocalDeliveryError`` before a byte is sent."""

    def __init__(self, payload: Payload, name: str, base64_encoded: bool, where: str) -> None:
        self.payload, self.name, self.base64_encoded = payload, name, base64_encoded
        self.where = where
        self.marker = f"lgsp-streamed-argument-{_secrets.token_hex(16)}"
        self.length = 4 * -(-payload.size // 3) if base64_encoded else self._measure_text()

    def chunks(self) -> Iterator[bytes]:
        if self.base64_encoded:
            with self.payload.open() as fh:
                while block := fh.read(BASE64_READ):  # regular file: full reads until the end
                    yield base64.b64encode(block)
            return
        for chunk in self.payload.chunks():
            yield (
                chunk.replace(b"&", b"&amp;")
                .replace(b"<", b"&lt;")
                .replace(b">", b"&gt;")
                .replace(b"\r", b"&#13;")
            )

    def _measure_text(self) -> int:
        decoder = codecs.getincrementaldecoder("utf-8")()
        length = offset = 0
        try:
            for chunk in self.payload.chunks():
                text = decoder.decode(chunk)
                if found := NOT_XML_CHAR.search(text):
                    raise _not_xml(self.name, found.group(), offset + found.start(), self.where)
                offset += len(text)
                length += (
                    len(chunk)
                    + 4 * chunk.count(b"&")
                    + 3 * chunk.count(b"<")
                    + 3 * chunk.count(b">")
                    + 4 * chunk.count(b"\r")
                )
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _not_utf8(self.name, self.where) from None
        return length


def check_encodable(value: Any, where: str, path: str = "") -> None:
    """Refuse, naming the argument, any string XML 1.0 cannot carry (a control character such
    as U+0001, a lone surrogate): the partner would never see it, the failure is ours."""
    if isinstance(value, str):
        if found := NOT_XML_CHAR.search(value):
            raise _not_xml(path, found.group(), found.start(), where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_encodable(item, where, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_encodable(item, where, f"{path}[{i}]")


def _not_xml(argument: str, char: str, offset: int, where: str) -> LocalDeliveryError:
    return LocalDeliveryError(
        f"{where}: argument {argument!r} contains U+{ord(char):04X} at character {offset}, "
        "which XML 1.0 cannot carry",
        argument=argument,
        character=f"U+{ord(char):04X}",
        offset=offset,
        reason="encoding",
    )


def _not_utf8(argument: str, where: str) -> LocalDeliveryError:
    return LocalDeliveryError(
        f"{where}: argument {argument!r} is not UTF-8 text and the operation takes a string",
        argument=argument,
        reason="encoding",
    )


def _text(data: bytes, name: str, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8(name, where) from None


class _Transport(zeep.Transport):
    """zeep's transport with per-call state in a thread-local: the timeout (zeep's own
    ``settings()`` mutates the shared transport), extra headers (credentials, resolved per call),
    the argument to stream, whether the request went out, and the HTTP status of the answer.
    It also never logs payloads (personal data) and never follows redirects."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(timeout=timeout, operation_timeout=timeout, session=session)
        self._local = threading.local()

    @contextmanager
    def call(
        self,
        timeout: float | None,
        headers: Mapping[str, str],
        streamed: StreamedArgument | None = None,
    ) -> Iterator[None]:
        local = self._local
        local.timeout, local.headers, local.streamed = timeout, headers, streamed
        local.status, local.sent = None, False
        try:
            yield
        finally:
            local.timeout, local.headers, local.streamed = None, {}, None

    def last_status(self) -> int | None:
        return getattr(self._local, "status", None)

    def sent(self) -> bool:
        """Did the current call start sending its request?"""
        return getattr(self._local, "sent", False)

    def post_xml(
        self, address: str, envelope: etree._Element, headers: dict[str, str]
    ) -> requests.Response:
        streamed = getattr(self._local, "streamed", None)
        if streamed is None:
            return super().post_xml(address, envelope, headers)
        message = etree_to_string(envelope)
        prefix, found, suffix = message.partition(streamed.marker.encode())
        if not found or streamed.marker.encode() in suffix:
            raise LocalDeliveryError(
                f"argument {streamed.name!r} could not be placed in the envelope for streaming",
                argument=streamed.name,
            )
        body = SizedStream(
            len(prefix) + streamed.length + len(suffix),
            itertools.chain((prefix,), streamed.chunks(), (suffix,)),
        )
        return self.post(address, body, headers)

    def post(
        self, address: str, message: bytes | SizedStream, headers: dict[str, str]
    ) -> requests.Response:
        self._local.sent = True
        response = self.session.post(
            address,
            data=message,
            headers={**headers, **getattr(self._local, "headers", {})},
            timeout=getattr(self._local, "timeout", None) or self.operation_timeout,
            allow_redirects=False,
        )
        self._local.status = response.status_code
        return response

    def _load_remote_data(self, url: str) -> bytes:
        response = self.session.get(
            url, timeout=self.load_timeout, headers=getattr(self._local, "headers", {})
        )
        with response:
            response.raise_for_status()
            return response.content


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, etree._Element):
        return etree.tostring(value, encoding="unicode")
    return str(value)
