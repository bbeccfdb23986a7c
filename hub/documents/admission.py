"""Accepting an edXML document or status message, from a local system (``out``) or pulled from
VDXP (``in``): what the spine does for any message, plus what a document needs.

    read the edXML as it streams (attachments decoded into the blob store, kept only if the
    document is accepted) → the sender resolved in the directory, and spoken for by the
    calling system (else a denial) → the signature verified per the sender's policy →
    recipients from To (a query may narrow, never widen), each resolved (an old code to its
    successor; a closed agency refused) → one target per recipient: inside the province its
    document system (a push route, or its inbox), anywhere else VDXP (the routes) → the hub's
    hop appended and, for our own agencies, signed → stored with the message, in one
    transaction; a status message also moves its document's recipient (``feedback``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from hub import routing
from hub.content import loads_json, media_family
from hub.context import Hub
from hub.directory import Resolution, resolve, speaks_for
from hub.documents import feedback, hops, keys
from hub.edxml import builder, jsonform, reader
from hub.edxml.model import Edoc, StatusMessage
from hub.edxml.signature import sign_file, verify, verify_file
from hub.errors import (
    Forbidden,
    NoRoute,
    SchemaViolation,
    SignatureInvalid,
    Unsigned,
    UnsupportedMediaType,
)
from hub.model import Accepted, Caller, Submission
from hub.payload import Payload
from hub.pipeline import accept, admitted_service
from hub.store.db import utcnow
from hub.store.tables import agencies, deliveries, edoc_recipients, edocs

__all__ = ["submit"]

INBOX = "inbox"  # the connector name of a delivery held for its system to pick up


def submit(hub: Hub, caller: Caller, sub: Submission, *, direction: str = "out") -> Accepted:
    """Accept ``sub`` (an edXML document or status message, or its flat JSON form) or raise;
    nothing is stored on refusal. ``direction="in"``: pulled from VDXP by the hub itself,
    ``sub.recipients`` the mailbox's agency."""
    sub = replace(sub, service=hub.settings.edoc_service)
    service = admitted_service(hub, caller, sub, "submit")
    sub = _as_edxml(sub)
    sink = _DeferredSink(hub)
    try:
        message = _read(sub.payload, sink)
        sender = resolve(hub, message.sender or "")
        if direction == "out" and not speaks_for(hub, caller.system, sender.original):
            reason = f"may not send documents as {sender.original}"
            hub.denials.add(caller, sub.service, "submit", reason, None)
            raise Forbidden(f"system {caller.system} {reason}", agency=sender.original)
        signed, signer = _signature(hub, caller, sub, sender, message.signature is not None)
        plans = _plan(hub, message, sub.recipients, direction)
        now = utcnow()
        outgoing = _outgoing(hub, sub.payload, sender, direction, signed, now)
        sink.keep()
    except BaseException:
        sink.drop()
        raise
    resolved = {"sender": sender.code} if sender.changed else {}
    headers = {**sub.headers, "edxml-kind": message.kind, **_aliases(resolved, plans)}
    sub = replace(sub, headers=headers, recipients=[p.resolution.code for p in plans])

    def also(conn: Connection, message_id: str) -> None:
        _store(
            conn, message_id, message, sender, direction, signed, signer, sink, outgoing, plans, now
        )
        if isinstance(message, StatusMessage):
            feedback.apply(conn, message, message_id, now)

    return accept(
        hub,
        caller,
        sub,
        service,
        [p.target for p in plans],
        message.document_id,
        sub.idempotency_key or _key(message, sub.recipients if direction == "in" else ()),
        also=also,
    )


# -- reading ------------------------------------------------------------------------------------
def _as_edxml(sub: Submission) -> Submission:
    """The flat JSON form becomes the edXML it describes (built strict); XML stays as sent."""
    family = media_family(sub.payload.content_type)
    if family == "xml":
        return sub
    if family != "json":
        raise UnsupportedMediaType(
            f"content type {sub.payload.content_type.split(';')[0]!r} is not accepted here",
            accepted=["application/xml", "application/json"],
        )
    message, contents = jsonform.from_json(loads_json(sub.payload.read(limit=64 * 1024 * 1024)))
    data = builder.build_bytes(message, jsonform.opener(contents))
    return replace(sub, payload=Payload.of(data, "application/xml"))


def _read(payload: Payload, sink: _DeferredSink) -> Edoc | StatusMessage:
    if payload.data is not None:
        return reader.read(payload.data, sink)
    with payload.open() as fh:
        return reader.read(fh, sink)


class _DeferredSink:
    """Attachments decoded into the blob store's temporary files, made blobs (``keep``) only
    once the document is accepted; a refused document leaves nothing behind (``drop``)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.writers: list[_DeferredSink.Writer] = []
        self.refs: dict[str, str] = {}  # sha256 → ref, once kept

    class Writer:
        def __init__(self, blob) -> None:
            self.blob = blob
            self.write = blob.write

        def commit(self) -> tuple[str | None, int, str]:
            return None, self.blob.size, self.blob.sha256()

        def abort(self) -> None:
            self.blob.abort()

    def writer(self) -> _DeferredSink.Writer:
        w = _DeferredSink.Writer(self.hub.blobs.writer())
        self.writers.append(w)
        return w

    def keep(self) -> None:
        for w in self.writers:
            ref, _, sha256 = w.blob.commit()
            self.refs[sha256] = ref

    def drop(self) -> None:
        for w in self.writers:
            w.blob.abort()


# -- signature -----------------------------------------------------------------------------------
def _signature(
    hub: Hub, caller: Caller, sub: Submission, sender: Resolution, signed_in_document: bool
) -> tuple[str, str | None]:
    """Verified, per the sending agency's policy: ``required`` (unsigned refused), ``optional``
    (unsigned accepted; a signature present must hold) or ``unverified`` (accepted as it is:
    test traffic, a peer whose CA is not in the trust store yet). A failure is a denial."""
    settings = hub.settings
    policies = settings.edoc_signatures
    policy = policies.get(sender.original) or policies.get(sender.code) or policies.get("*")
    if policy == "unverified":
        return "unverified", None
    sha1 = settings.edoc_sha1_agencies
    allow_sha1 = "*" in sha1 or sender.original in sha1 or sender.code in sha1
    trust = keys.trust_store(settings)
    try:
        if not signed_in_document:  # the reader saw no Signature: no second pass to look again
            raise Unsigned("no Signature")
        payload = sub.payload
        if payload.data is not None:
            found = verify(payload.data, trust, allow_sha1=allow_sha1)
        else:
            found = verify_file(payload.path, trust, allow_sha1=allow_sha1)
    except Unsigned:
        if policy == "required":
            hub.denials.add(caller, sub.service, "submit", f"unsigned from {sender.original}", None)
            raise Unsigned(
                f"documents from {sender.original} must be signed", agency=sender.original
            ) from None
        return "unsigned", None
    except SignatureInvalid as exc:
        hub.denials.add(caller, sub.service, "submit", f"signature: {exc.reason}", None)
        raise
    if found.agency_code and found.agency_code not in (sender.original, sender.code):
        hub.denials.add(caller, sub.service, "submit", "signature: signer_mismatch", None)
        raise SignatureInvalid(
            f"signed by {found.agency_code}, not by the sender {sender.original}",
            reason="signer_mismatch",
        )
    weak = "sha1" in found.algorithm.lower()
    return ("legacy_sha1" if weak else "verified"), found.subject


# -- recipients ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    resolution: Resolution
    target: routing.Target
    channel: str  # inbox, push or axis
    system: str | None


def _plan(
    hub: Hub, message: Edoc | StatusMessage, narrowed: Sequence[str], direction: str
) -> list[_Plan]:
    """One plan per recipient agency (resolved, each once), in the document's order."""
    named = message.recipients
    where = "MessageHeader/To" if message.kind == "edoc" else "MessageHeader/ResponseFor"
    with hub.reader.connect() as conn:
        resolutions = [resolve(conn, code) for code in named]
        if narrowed:
            wanted = {resolve(conn, code).code for code in narrowed}
            missing = wanted - {r.code for r in resolutions}
            if missing:
                raise SchemaViolation(
                    "a recipient given is not one of the document's",
                    errors=[
                        {"path": "/recipient", "message": f"{code} is not in {where}"}
                        for code in sorted(missing)
                    ],
                )
            resolutions = [r for r in resolutions if r.code in wanted]
        systems = dict(
            conn.execute(
                select(agencies.c.code, agencies.c.document_system).where(
                    agencies.c.code.in_({r.code for r in resolutions})
                )
            ).all()
        )
    closed = [
        {"path": f"{where}/OrganId", "message": f"{r.original}: the agency is closed"}
        for r in resolutions
        if r.state == "closed"
    ]
    if closed:
        raise SchemaViolation("a recipient agency no longer exists", errors=closed)
    routes = [
        r for r in hub.registry.routes() if r["service_code"] in (None, hub.settings.edoc_service)
    ]
    plans, seen = [], set()
    for resolution in resolutions:
        if resolution.code in seen:
            continue
        seen.add(resolution.code)
        plans.append(_one(hub, resolution, systems.get(resolution.code), routes, direction))
    return plans


def _one(
    hub: Hub,
    resolution: Resolution,
    system: str | None,
    routes: list[Any],
    direction: str,
) -> _Plan:
    code = resolution.code
    if system is not None:  # inside the province: straight to its document system
        push = [r for r in routes if r["recipient"] == code]
        if push:
            (target,) = routing.resolve(push, hub.settings.edoc_service, [code], None, {})
            return _Plan(resolution, target, "push", system)
        target = routing.Target(f"{INBOX}:{system}", INBOX, None, code, held_for=system)
        return _Plan(resolution, target, INBOX, system)
    if direction == "in":
        raise NoRoute(f"{code} has no document system in this province", recipients=[code])
    (target,) = routing.resolve(routes, hub.settings.edoc_service, [code], None, {})
    return _Plan(resolution, target, "axis", None)


def _aliases(resolved: dict[str, str], plans: list[_Plan]) -> dict[str, str]:
    """The codes the hub changed (an alias, a merged agency), kept with the message."""
    changed = {p.resolution.original: p.resolution.code for p in plans if p.resolution.changed}
    out = {}
    if resolved:
        out["x-lgsp-edoc-sender-resolved"] = resolved["sender"]
    if changed:
        out["x-lgsp-edoc-recipients-resolved"] = ",".join(f"{a}={b}" for a, b in changed.items())
    return out


# -- what is sent on -----------------------------------------------------------------------------
def _outgoing(
    hub: Hub,
    payload: Payload,
    sender: Resolution,
    direction: str,
    signed: str,
    now: datetime,
) -> tuple[str, int, str] | None:
    """The document as the hub sends it on: its hop appended and, for an agency whose key the
    hub holds, signed. None: sent as received (a document signed by another province's agency
    is not changed, or its signature would break)."""
    if direction == "in" and signed != "unsigned":
        return None
    key = keys.signing_key(hub.settings, sender.code) if direction == "out" else None
    if key is None and direction == "out" and hub.settings.edoc_require_signing_key:
        raise SchemaViolation(
            "the hub holds no signing key for the sending agency",
            errors=[{"path": "MessageHeader/From/OrganId", "message": f"no key for {sender.code}"}],
        )
    organ = hub.settings.edoc_hub_agency or sender.code
    with payload.open() as fh:
        chunks = hops.with_hop(fh, organ, now)
        if chunks is None:
            return None
        ref, size, sha256 = hub.blobs.put_stream(chunks)
    if key is None:
        return ref, size, sha256
    path = hub.blobs.path(ref)
    signed_path = path.with_name(f".{path.name}.signed")
    try:
        sign_file(path, signed_path, key)
        with open(signed_path, "rb") as fh:
            return hub.blobs.put_stream(iter(lambda: fh.read(1024 * 1024), b""))
    finally:
        signed_path.unlink(missing_ok=True)


# -- storing -------------------------------------------------------------------------------------
def _key(message: Edoc | StatusMessage, mailbox: Sequence[str]) -> str | None:
    """A resubmission is recognised: a document by its id and business type (and the mailbox
    it was pulled for), a status message by its document, code, sender and time."""
    document_id = message.document_id
    if document_id is None:
        return None
    if isinstance(message, StatusMessage):
        stamp = (message.header.timestamp or "").strip()
        key = f"edxml-status:{document_id}#{message.status_code}#{message.sender}#{stamp}"
    else:
        key = f"edxml:{document_id}#{message.business_type.value}"
        if mailbox:
            key += "@" + ",".join(sorted(mailbox))
    return key if len(key) <= 200 else "edxml-sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _store(
    conn: Connection,
    message_id: str,
    message: Edoc | StatusMessage,
    sender: Resolution,
    direction: str,
    signed: str,
    signer: str | None,
    sink: _DeferredSink,
    outgoing: tuple[str, int, str] | None,
    plans: list[_Plan],
    now: datetime,
) -> None:
    is_edoc = isinstance(message, Edoc)
    conn.execute(
        insert(edocs).values(
            message_id=message_id,
            kind=message.kind,
            document_id=message.document_id,
            business_type=message.business_type.value if is_edoc else None,
            status_code=None if is_edoc else message.status_code,
            sender=sender.code,
            sender_original=sender.original,
            subject=(message.header.subject or "")[:500] or None if is_edoc else None,
            direction=direction,
            signature=signed,
            signer=signer,
            warnings=[w.as_dict() for w in message.warnings],
            attachments=[
                {
                    "content_id": a.content_id,
                    "name": a.attachment_name,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "ref": sink.refs.get(a.sha256 or ""),
                }
                for a in (message.attachments if is_edoc else [])
            ],
            outgoing_ref=outgoing[0] if outgoing else None,
            outgoing_size=outgoing[1] if outgoing else None,
            outgoing_sha256=outgoing[2] if outgoing else None,
            created_at=now,
        )
    )
    delivery_of = dict(
        conn.execute(
            select(deliveries.c.recipient, deliveries.c.id).where(
                deliveries.c.message_id == message_id
            )
        ).all()
    )
    conn.execute(
        insert(edoc_recipients),
        [
            {
                "message_id": message_id,
                "recipient": p.resolution.code,
                "recipient_original": p.resolution.original,
                "channel": p.channel,
                "system_code": p.system,
                "delivery_id": delivery_of[p.resolution.code],
                "state": "pending",
                "state_at": now,
                "confirmed_at": None,
            }
            for p in plans
        ],
    )
