"""Synchronous request/response services (a citizen lookup, a catalogue query): the same
authorisation, validation, routing and trace as a queued message, but delivered at once with a
timeout and the partner's answer returned to the caller. No queue, no retry: the caller decides.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from hub import schemas
from hub.connector import OutboundMessage
from hub.context import Hub
from hub.errors import DeliveryError, HubError, MalformedInput, NotFound
from hub.events import Event
from hub.pipeline import (
    Caller,
    Submission,
    admit,
    parse,
    prepare,
    record_call,
    transition,
)
from hub.routing import Target
from hub.security import mask_text


class UpstreamError(HubError):
    """The partner behind a synchronous service failed or timed out."""

    code = "upstream_failed"
    status = 502


@dataclass(frozen=True)
class Answer:
    message_id: str
    content_type: str
    body: bytes
    remote_status: str | None


def call(hub: Hub, caller: Caller, sub: Submission) -> Answer:
    service, document = admit(hub, caller, sub, "call", mode="sync")
    message_id, target, delivery_id = record_call(hub, caller, sub, service, document)
    try:
        connector, content_type, payload, events = prepare(
            hub, message_id, delivery_id, 1, target.mapping, target.connector,
            sub.content_type, sub.body)
    except (DeliveryError, NotFound) as exc:
        _fail(hub, message_id, delivery_id, target, [], exc, 0.0)
        raise UpstreamError(exc.message, message_id=message_id) from None
    transition(hub, delivery_id, message_id, "delivering", events, attempts=1, alone=True)
    started = time.perf_counter()
    try:
        result = connector.deliver(OutboundMessage(
            id=message_id, correlation_id=sub.correlation_id or message_id,
            sender_agency=caller.agency, sender_system=caller.system, service=sub.service,
            recipient=target.recipient, content_type=content_type, payload=payload,
            headers=dict(sub.headers)), timeout=hub.settings.sync_timeout_seconds)
        if service["response_schema"]:
            schemas.validate(service["response_schema"], _parse_answer(result.content_type,
                                                                       result.response))
    except (DeliveryError, MalformedInput) as exc:
        _fail(hub, message_id, delivery_id, target, [], exc,
              (time.perf_counter() - started) * 1000)
        status = 504 if getattr(exc, "remote_status", None) == "timeout" else 502
        err = UpstreamError(mask_text(exc.message), message_id=message_id,
                            remote_status=getattr(exc, "remote_status", None))
        err.status = status
        raise err from None
    except HubError as exc:  # the answer broke the response schema
        _fail(hub, message_id, delivery_id, target, [], exc,
              (time.perf_counter() - started) * 1000)
        raise UpstreamError("the partner's answer does not match the service's response schema",
                            message_id=message_id, **exc.details) from None
    transition(hub, delivery_id, message_id, "delivered", [Event(
        message_id, "delivered", delivery_id=delivery_id, attempt=1, connector=target.connector,
        remote_status=result.remote_status, size_out=len(payload), size_in=len(result.response),
        duration_ms=(time.perf_counter() - started) * 1000)],
        remote_status=result.remote_status, alone=True)
    return Answer(message_id, result.content_type, result.response, result.remote_status)


def _parse_answer(content_type: str, body: bytes):
    if "json" in content_type:
        try:
            return json.loads(body)
        except ValueError:
            raise MalformedInput("the partner's answer is not JSON") from None
    return parse(content_type, body)


def _fail(hub: Hub, message_id: str, delivery_id: str, target: Target, events: list,
          exc: HubError, duration_ms: float) -> None:
    events.append(Event(message_id, "failed", delivery_id=delivery_id, attempt=1,
                        connector=target.connector,
                        remote_status=getattr(exc, "remote_status", None), error_code=exc.code,
                        error=mask_text(exc.message), duration_ms=duration_ms))
    transition(hub, delivery_id, message_id, "failed", events, attempts=1, alone=True,
                remote_status=getattr(exc, "remote_status", None),
                last_error=mask_text(exc.message))
