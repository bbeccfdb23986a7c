"""Errors that cross a seam. Each has a ``code``, a ``message`` for people, ``details`` for
programs, the HTTP status an API caller sees, and whether trying again can help.

    HubError
    ├── RequestError (4xx, never retried: the caller must change the request)
    │   ├── MalformedInput        400 malformed_input     not JSON / not well-formed XML
    │   ├── HostileInput          400 hostile_input       a DOCTYPE or entity declaration
    │   ├── SchemaViolation       422 schema_violation    details.errors[*].path names the field
    │   ├── Unauthenticated       401 unauthenticated     missing or unknown API key
    │   ├── Forbidden             403 forbidden           no access rule (recorded as a denial)
    │   ├── NotFound              404 not_found
    │   ├── Conflict              409 conflict            e.g. replay of a message that is not dead
    │   ├── PayloadTooLarge       413 payload_too_large
    │   ├── UnsupportedMediaType  415 unsupported_media_type  body type ≠ the service's
    │   ├── UnknownReference      422 unknown_reference   names something not registered
    │   ├── NoRoute               422 no_route            nothing routes this message
    │   ├── SignatureInvalid      422 signature_invalid   an edXML signature fails; details.reason
    │   └── Unsigned              422 unsigned            an edXML document with no Signature
    └── DeliveryError (raised by connectors; mapped to retry or dead-letter)
        ├── TransientDeliveryError   retryable: connection failure, timeout, 5xx, 429
        ├── PermanentDeliveryError   not retryable: 4xx, bad configuration
        └── LocalDeliveryError       ours, not the partner's: a value the connector cannot
                                     encode, a mapping that fails (permanent, never blamed
                                     on the partner)
    Unavailable (503 + Retry-After: the caller may try again later)
    ├── StoreUnavailable   the store cannot be reached or is overloaded
    └── BrokerError        the broker is unreachable or refused a publish
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BrokerError",
    "Conflict",
    "ConnectorDisabled",
    "DeliveryError",
    "Disabled",
    "Forbidden",
    "HostileInput",
    "HubError",
    "LocalDeliveryError",
    "MalformedInput",
    "NoRoute",
    "NotFound",
    "PayloadTooLarge",
    "PermanentDeliveryError",
    "RequestError",
    "SchemaViolation",
    "SignatureInvalid",
    "StoreUnavailable",
    "TransientDeliveryError",
    "Unauthenticated",
    "Unavailable",
    "UnknownReference",
    "Unsigned",
    "UnsupportedMediaType",
]


class HubError(Exception):
    code = "internal_error"
    status = 500
    retryable = False

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class RequestError(HubError):
    code = "bad_request"
    status = 400


class MalformedInput(RequestError):
    code = "malformed_input"


class HostileInput(RequestError):
    code = "hostile_input"


class SchemaViolation(RequestError):
    code = "schema_violation"
    status = 422


class Unauthenticated(RequestError):
    code = "unauthenticated"
    status = 401


class Forbidden(RequestError):
    code = "forbidden"
    status = 403


class Disabled(Forbidden):
    """Registered, but disabled by an admin (a service, an access rule)."""

    code = "disabled"


class NotFound(RequestError):
    code = "not_found"
    status = 404


class Conflict(RequestError):
    code = "conflict"
    status = 409


class PayloadTooLarge(RequestError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(RequestError):
    code = "unsupported_media_type"
    status = 415


class UnknownReference(RequestError):
    code = "unknown_reference"
    status = 422


class NoRoute(RequestError):
    code = "no_route"
    status = 422


class DeliveryError(HubError):
    """A connector could not deliver. ``remote_status`` is what the partner answered, if any."""

    code = "delivery_failed"
    status = 502

    def __init__(self, message: str, remote_status: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.remote_status = remote_status


class TransientDeliveryError(DeliveryError):
    code = "delivery_transient"
    retryable = True


class PermanentDeliveryError(DeliveryError):
    code = "delivery_permanent"
    retryable = False


class LocalDeliveryError(PermanentDeliveryError):
    """The hub could not prepare the message for this partner (an encoding or mapping failure).
    Retrying cannot help and the partner never saw it."""

    code = "local_failure"
    status = 422


class Unavailable(HubError):
    """A dependency of the hub is down; the request changed nothing and may be retried."""

    code = "unavailable"
    status = 503
    retryable = True
    retry_after_seconds = 5


class ConnectorDisabled(HubError):
    """An admin disabled the connector instance: its queue waits, nothing is attempted."""

    code = "connector_disabled"
    status = 503


class StoreUnavailable(Unavailable):
    code = "store_unavailable"


class BrokerError(Unavailable):
    code = "broker_unavailable"


class SignatureInvalid(RequestError):
    """An edXML signature that does not hold. ``reason`` (also ``details.reason``) says why:
    ``digest_mismatch`` (the document changed), ``bad_signature_value`` (SignedInfo changed or
    another key signed), ``unknown_signer`` (no chain to a trusted CA), ``expired_certificate``,
    ``certificate_not_for_signing`` (key usage), ``weak_algorithm`` (SHA-1 not allowed for
    this peer, MD5, a short RSA key), ``malformed_signature``."""

    code = "signature_invalid"
    status = 422

    def __init__(self, message: str, reason: str, **details: Any) -> None:
        super().__init__(message, reason=reason, **details)
        self.reason = reason


class Unsigned(RequestError):
    """An edXML document without a Signature; the caller's policy for the sending agency
    decides whether that is acceptable."""

    code = "unsigned"
    status = 422
