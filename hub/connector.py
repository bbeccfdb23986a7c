"""The ``Connector`` seam: how the hub hands a message to a partner system.

A connector type is a class with a ``type_name``, a JSON Schema of its configuration
(``config_schema``), ``deliver()`` and ``health()``; pull-style sources add ``poll()``.
Types are discovered through the ``lgsp.connectors`` entry-point group, so a third-party package
adds one without touching the hub. An *instance* is a type plus a named, validated configuration
registered in the store (``connector_instances``).

The payload is a :class:`hub.payload.Payload` handle, not bytes: a large one is a file in the
blob store. A connector sends it with ``payload.open()``/``payload.chunks()`` so a 1 GB
document passes at the memory of one chunk, and calls ``payload.read(limit)`` only where it
really needs the whole value (a JSON object it turns into arguments). The answer
(``DeliveryResult.response``) stays bytes: partners answer with an acknowledgement, and a
connector keeps at most a bounded prefix of whatever it is sent back.

``deliver`` raises ``TransientDeliveryError`` (retried with backoff), ``PermanentDeliveryError``
(dead-lettered at once: the partner refused it, or the configuration is wrong) or
``LocalDeliveryError`` (permanent, and ours: a value the protocol cannot carry, arguments the
operation does not take — raised before anything is sent); it never lets a driver exception
escape. The contract every connector type passes is shipped as
``hub.testing.ConnectorContract``.

``check()`` is "test connection" for an integrator: typed results (``ok``/``warn``/``fail``) for
each thing that must hold before deliveries can succeed — secrets resolve, the address resolves
and answers, the credentials are accepted. The default is built on ``health()``; HTTP types use
the toolkit's ``http_checks``. ``retarget()`` points a configuration at another address, so
``hub.conformance`` can check the type's error classification against a stand-in partner.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal

import jsonschema

from hub.errors import NotFound, SchemaViolation
from hub.payload import Payload
from hub.schemas import field_errors

__all__ = [
    "ENTRY_POINT_GROUP",
    "CheckResult",
    "CheckStatus",
    "Connector",
    "DeliveryResult",
    "Health",
    "OutboundMessage",
    "connector_type",
    "connector_types",
    "validate_config",
    "worst",
]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "lgsp.connectors"


@dataclass(frozen=True)
class OutboundMessage:
    """What a connector is given: the envelope fields a partner may need, and a handle on the
    payload (streamed, never assumed to fit in memory)."""

    id: str
    correlation_id: str
    sender_agency: str
    sender_system: str
    service: str | None
    recipient: str | None
    content_type: str
    payload: Payload
    headers: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1


@dataclass(frozen=True)
class DeliveryResult:
    """What the partner answered. ``remote_status`` is its status (HTTP code, SOAP result …).
    ``response`` is bytes, not a ``Payload``: answers are acknowledgements, and connectors cap
    what they keep of one (``details["response_truncated"]`` says when they cut it)."""

    remote_status: str | None = None
    response: bytes = b""
    content_type: str = "application/octet-stream"
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str = ""


CheckStatus = Literal["ok", "warn", "fail", "skipped"]
_SEVERITY: dict[str, int] = {"ok": 0, "skipped": 1, "warn": 2, "fail": 3}


@dataclass(frozen=True)
class CheckResult:
    """One line of "test connection" or of the conformance suite. ``fail``: deliveries cannot
    succeed until someone fixes it; ``warn``: they may not now (the partner is down) or it
    cannot be told; ``skipped``: not tested, ``detail`` says why. ``detail`` is one line and
    never holds a secret."""

    name: str
    status: CheckStatus
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", " ".join(self.detail.split())[:500])

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


def worst(results: Iterable[CheckResult]) -> CheckStatus | None:
    """The most serious status among ``results`` (None when there are none)."""
    statuses = [r.status for r in results]
    return max(statuses, key=_SEVERITY.__getitem__) if statuses else None


class Connector(abc.ABC):
    """Base of every connector type. Subclasses set ``type_name`` and ``config_schema``."""

    type_name: ClassVar[str]
    config_schema: ClassVar[dict[str, Any]] = {"type": "object"}

    def __init__(self, name: str, config: Mapping[str, Any]) -> None:
        validate_config(type(self), config)
        self.name = name
        self.config = dict(config)

    @abc.abstractmethod
    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        """Send ``message``; idempotent on ``message.id`` where the partner allows it."""

    @abc.abstractmethod
    def health(self) -> Health:
        """Can the partner be reached with this configuration now?"""

    def check(self) -> list[CheckResult]:
        """Test connection: what must hold before deliveries can succeed. Never raises, never
        shows a secret, costs at most one request per result. This default knows only
        ``health()``: a type that can say more (secrets, DNS, credentials) overrides it."""
        try:
            health = self.health()
        except Exception as exc:  # noqa: BLE001 - a check reports, it does not raise
            return [CheckResult("health", "fail", f"health() raised {type(exc).__name__}")]
        return [CheckResult("health", "ok" if health.ok else "warn", health.detail)]

    @classmethod
    def retarget(cls, config: Mapping[str, Any], base_url: str) -> dict[str, Any] | None:
        """``config`` with the partner's address replaced by ``base_url`` (``http://host:port``,
        plain HTTP, no proxy), so the conformance suite can check how this type classifies a
        timeout, a 4xx, a 5xx and a 429 against a stand-in partner. None: this type cannot be
        pointed elsewhere, and those checks are skipped."""
        return None

    def poll(self, since: datetime | None) -> Iterable[OutboundMessage]:
        """Pull-style sources: what changed since the watermark. Push-only types don't."""
        raise NotImplementedError(f"connector type {self.type_name!r} does not poll")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions and pools."""


def validate_config(cls: type[Connector], config: Mapping[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(cls.config_schema)
    errors = [error for e in validator.iter_errors(dict(config)) for error in field_errors(e)]
    if errors:
        raise SchemaViolation(
            f"invalid configuration for connector type {cls.type_name!r}", errors=errors
        )


@lru_cache
def connector_types() -> dict[str, type[Connector]]:
    """Every installed connector type, by ``type_name``, from the entry-point group."""
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # one broken plugin must not take the hub down
            log.exception("connector type %r (%s) failed to load; skipped", ep.name, ep.value)
            continue
        if isinstance(cls, type) and issubclass(cls, Connector):
            found[ep.name] = cls
        else:
            log.error("entry point %r is not a Connector subclass; skipped", ep.name)
    return found


def connector_type(type_name: str) -> type[Connector]:
    try:
        return connector_types()[type_name]
    except KeyError:
        raise NotFound(
            f"no connector type {type_name!r} is installed", installed=sorted(connector_types())
        ) from None
