"""Who may call the VDXP axis simulator (:mod:`sandbox.vdxp`), in either style: systems and their
secrets, whose requests are signed (VNPT style), and OAuth2 clients that act as a system, with the
tokens they were granted (WSO2 style). Kept apart from the HTTP shapes so that the rules that
refuse a caller are read, and changed, in one place.

A VNPT-style request carries these headers (REFERENCE.md, "Transports seen in the field"):

==========================  =================================================================
``X-VDXP-System``           the system id
``X-VDXP-Timestamp``        Unix time in seconds; refused more than ``max_skew`` (300 s) away
``X-VDXP-Nonce``            16-128 printable characters, never twice per system in the window
``X-VDXP-Content-SHA256``   hex SHA-256 of the body as sent (of ``b""`` when there is none)
``X-VDXP-Signature``        hex HMAC-SHA256 with the system's secret over the canonical string
                            ``METHOD \\n PATH[?QUERY] \\n TIMESTAMP \\n NONCE \\n CONTENT-SHA256``
==========================  =================================================================

Any of those wrong → ``AUTH_FAILED``. The header names and the canonical string are this
project's choice (REFERENCE.md names the scheme, not its details). Nonces are forgotten once they
are older than twice ``max_skew``: a request that old is refused for its timestamp anyway.

WSO2 style: ``POST /token`` with HTTP Basic ``consumer_key:secret`` gives a bearer token that
acts as the client's system until it expires (or a test expires every token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from sandbox.server import SandboxRequest
from sandbox.vdxp_mailbox import AxisError

__all__ = ["SIGNED_HEADERS", "AxisKeys"]

SIGNED_HEADERS = (
    "x-vdxp-system",
    "x-vdxp-timestamp",
    "x-vdxp-nonce",
    "x-vdxp-content-sha256",
    "x-vdxp-signature",
)


class AxisKeys:
    """The axis's systems, OAuth2 clients, tokens and the nonces seen (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._systems: dict[str, str] = {}
        self._clients: dict[str, tuple[str, str]] = {}  # consumer key -> (secret, system)
        self._tokens: dict[str, tuple[float, str]] = {}  # token -> (expiry, system)
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._token_requests = 0

    def add_system(self, system_id: str, secret: str) -> None:
        with self._lock:
            self._systems[system_id] = secret

    def add_client(self, consumer_key: str, consumer_secret: str, system: str) -> None:
        """An OAuth2 client acting as ``system`` (``ValueError`` when there is no such system)."""
        with self._lock:
            if system not in self._systems:
                raise ValueError(f"unknown system {system!r}")
            self._clients[consumer_key] = (consumer_secret, system)

    def knows(self, system: str) -> bool:
        with self._lock:
            return system in self._systems

    # --- VNPT style ---------------------------------------------------------------------------
    def verify(self, request: SandboxRequest, now: float, max_skew: float) -> str:
        """The calling system, once every signed header holds (else ``AUTH_FAILED``); ``now``
        is the axis's time."""
        headers = request.headers
        missing = [name for name in SIGNED_HEADERS if not headers.get(name)]
        if missing:
            raise AxisError("AUTH_FAILED", f"missing header {missing[0]}")
        system, stamp, nonce = (headers[n] for n in SIGNED_HEADERS[:3])
        digest, signature = headers["x-vdxp-content-sha256"], headers["x-vdxp-signature"]
        with self._lock:
            secret = self._systems.get(system)
        if secret is None:
            raise AxisError("AUTH_FAILED", "unknown system")
        if not stamp.isdigit() or abs(now - int(stamp)) > max_skew:
            raise AxisError("AUTH_FAILED", f"timestamp not within {max_skew:g} s of the axis")
        if not 16 <= len(nonce) <= 128 or not nonce.isprintable():
            raise AxisError("AUTH_FAILED", "nonce: 16-128 printable characters")
        if not hmac.compare_digest(digest.lower(), request.sha256):
            raise AxisError("AUTH_FAILED", "X-VDXP-Content-SHA256 is not the body's SHA-256")
        path = request.path + (f"?{request.query}" if request.query else "")
        canonical = "\n".join((request.method, path, stamp, nonce, digest.lower()))
        expected = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise AxisError("AUTH_FAILED", "the signature does not match")
        with self._lock:
            while self._nonces and next(iter(self._nonces.values())) < now - 2 * max_skew:
                self._nonces.popitem(last=False)
            if (system, nonce) in self._nonces:
                raise AxisError("AUTH_FAILED", "this nonce was already used (a replayed request)")
            self._nonces[(system, nonce)] = now
        return system

    # --- WSO2 style ---------------------------------------------------------------------------
    def token_client(self, authorization: str) -> str | None:
        """A token request, counted: the system of the client that HTTP Basic
        ``authorization`` names, if its secret is right."""
        with self._lock:
            self._token_requests += 1
        if authorization[:6].lower() != "basic ":
            return None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        key, _, secret = decoded.partition(":")
        with self._lock:
            known = self._clients.get(key)
        if known is None or not hmac.compare_digest(secret.encode(), known[0].encode()):
            return None
        return known[1]

    def grant(self, system: str, ttl: float) -> str:
        """A new bearer token acting as ``system`` for ``ttl`` seconds."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (time.monotonic() + ttl, system)
        return token

    def bearer(self, authorization: str) -> str | None:
        """The system of the live token in ``Authorization: Bearer …``, if there is one."""
        if authorization[:7].lower() != "bearer ":
            return None
        with self._lock:
            expiry, system = self._tokens.get(authorization[7:].strip(), (0.0, ""))
        return system if time.monotonic() < expiry else None

    @property
    def token_requests(self) -> int:
        with self._lock:
            return self._token_requests

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()
