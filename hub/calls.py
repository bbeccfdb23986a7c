"""Synchronous request/response services (a citizen lookup, a catalogue query): the same checks,
routing, attempt and trace as a queued message, but delivered at once with a timeout and the
partner's answer returned to the caller. No queue and no retry: the caller decides. The whole
call — message, delivery and every event — is recorded in one transaction once the answer is in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from hub import attempt, personal, routing, tracecontext, xmlsafe
from hub.connector import DeliveryResult
from hub.content import edxml_document_id, loads_json, media_family
from hub.context import Hub
from hub.errors import Conflict, ConnectorDisabled, HubError, LocalDeliveryError
from hub.ids import new_id
from hub.model import Caller, Submission
from hub.pipeline import admit
from hub.recording import store
from hub.store.db import utcnow

__all__ = ["Answer", "PartnerPaused", "UpstreamError", "call"]

DISABLED_RETRY_AFTER_SECONDS = 60  # an admin's pause lasts longer than a circuit's probe


class UpstreamError(HubError):
    """The partner behind a synchronous service failed, timed out or is paused (circuit)."""

    code = "upstream_failed"
    status = 502


class PartnerPaused(UpstreamError):
    """The partner's circuit is open: the call is refused at once instead of waiting for a
    timeout; ``Retry-After`` says when the next probe is due."""

    code = "upstream_paused"
    status = 503

    def __init__(self, message: str, retry_after_seconds: float, **details) -> None:
        super().__init__(message, **details)
        self.retry_after_seconds = max(1, round(retry_after_seconds))


@dataclass(frozen=True)
class Answer:
    message_id: str
    content_type: str
    body: bytes
    remote_status: str | None


def call(hub: Hub, caller: Caller, sub: Submission) -> Answer:
    received_at = utcnow()  # the message is stored once answered; its trace starts now
    service, document = admit(hub, caller, sub, "call", mode="sync")
    why = _grounds(hub, caller, sub) if service["personal_data"] else None
    targets = routing.resolve(
        hub.registry.routes(), sub.service, sub.recipients, document, sub.headers
    )
    if len(targets) != 1:
        raise Conflict(
            "a synchronous call goes to exactly one recipient",
            recipients=[t.recipient for t in targets],
        )
    target = targets[0]
    try:
        hub.connector(target.connector)  # cached; refuses a disabled instance
    except ConnectorDisabled:
        raise PartnerPaused(
            f"the partner behind {sub.service!r} is disabled by an admin; calls are paused",
            DISABLED_RETRY_AFTER_SECONDS,
            connector=target.connector,
            disabled=True,
        ) from None
    gate = hub.circuits.admit(target.connector)
    if not gate.go:
        raise PartnerPaused(
            f"the partner behind {sub.service!r} is failing; calls are paused",
            gate.wait_seconds,
            connector=target.connector,
        )
    message_id = new_id()
    job = attempt.Job(
        message_id=message_id,
        delivery_id=new_id(),
        correlation_id=sub.correlation_id or message_id,
        sender_agency=caller.agency,
        sender_system=caller.system,
        service=sub.service,
        recipient=target.recipient,
        payload=sub.payload,
        headers=dict(sub.headers),
        connector=target.connector,
        mapping=target.mapping,
        attempt=1,
    )
    outcome = attempt.run(hub, job, timeout=hub.settings.sync_timeout_seconds)
    if outcome.ok and service["response_schema"]:
        try:
            hub.schemas.validate(service["response_schema"], _answer(outcome.result))
        except HubError as exc:
            outcome.error = UpstreamError(
                f"the partner's answer is not valid for the service: {exc.message}", **exc.details
            )
    if outcome.retryable:
        hub.circuits.failed(target.connector, outcome.error_text or "", gate.probe)
    elif outcome.ok:
        hub.circuits.succeeded(target.connector)
    kept = replace(sub, headers=tracecontext.stamp(sub.headers))
    if why:
        kept = replace(kept, payload=personal.masked(sub.payload))
    ref = hub.keep_payload(kept.payload)
    with hub.begin() as conn:
        store(
            hub,
            conn,
            caller,
            kept,
            message_id,
            service,
            [target],
            edxml_document_id(document),
            sub.idempotency_key,
            ref,
            outcome=outcome,
            received_at=received_at,
        )
        if why:
            personal.record(conn, caller, sub, why, document, message_id, _result(outcome))
    if not outcome.ok:
        raise _upstream(outcome, message_id)
    result = outcome.result
    return Answer(message_id, result.content_type, result.response, result.remote_status)


def _grounds(hub: Hub, caller: Caller, sub: Submission) -> personal.Grounds:
    try:
        return personal.grounds(sub)
    except personal.GroundsRequired:
        hub.denials.add(caller, sub.service, "call", "no purpose or officer given", None)
        raise


def _result(outcome: attempt.Outcome) -> str:
    """The result class of a lookup for the access log: what the connector says it found
    (``details["result"]``), else whether an answer came back."""
    if not outcome.ok:
        return "failed"
    said = outcome.result.details.get("result") if outcome.result else None
    return said if said in ("found", "not_found") else "answered"


def _answer(result: DeliveryResult) -> Any:
    if media_family(result.content_type) == "json":
        return loads_json(result.response)
    return xmlsafe.parse(result.response)


def _upstream(outcome: attempt.Outcome, message_id: str) -> HubError:
    """What the caller is told: the partner's failure as 502 (504 on a timeout), ours as
    what it is (a local failure is not the partner's)."""
    error = outcome.error
    if isinstance(error, UpstreamError | LocalDeliveryError):  # already says whose it is
        error.details["message_id"] = message_id
        return error
    err = UpstreamError(
        outcome.error_text or "the partner failed",
        message_id=message_id,
        remote_status=outcome.remote_status,
    )
    if outcome.remote_status == "timeout":
        err.status = 504
    return err
