"""Initiating a payment (``POST /v1/payments``). An INIT is a call of the synchronous hub
service ``payment.init`` (````LGSP_PAYMENT_SERVICE````), so who may initiate payments (access
rules), which payment connector instance serves them (routes), the trace and the message record
are those of every synchronous call (``hub.calls``); what payments add is the ledger row, made
once the platform has answered with its payment URL.

The caller sends the INIT business part (``MaThamChieu``, ``SoTien``, ``ThongTinGiaoDich``,
``Ip``, ``ThongTinBienLai{…}``); the connector fills in the protocol. The hub checks here only
what the ledger needs — the reference and the amount — and that the reference is new, before
anything reaches the platform; the store's uniqueness decides between two concurrent INITs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from hub.access import authorise
from hub.calls import UpstreamError, call
from hub.config import Settings
from hub.content import loads_json
from hub.context import Hub
from hub.errors import MalformedInput, SchemaViolation
from hub.model import Caller, Submission
from hub.payload import Payload
from hub.payments import ledger
from hub.store.db import utcnow
from hub.store.tables import deliveries

__all__ = ["Initiated", "initiate"]


@dataclass(frozen=True)
class Initiated:
    reference: str
    payment_url: str
    message_id: str


def initiate(
    hub: Hub, caller: Caller, raw: bytes, envelope: Submission, settings: Settings
) -> Initiated:
    """INIT through the payment service, then the ``initiated`` transaction. ``envelope``
    carries the request's headers (correlation and idempotency keys, ``X-LGSP-*``)."""
    authorise(hub.registry, hub.denials, caller, settings.payment_service, "call")
    body = loads_json(raw)
    reference, amount, dossier = _business(body)
    with hub.reader.connect() as conn:
        if ledger.known(conn, reference):
            raise ledger.already(reference)
    data = json.dumps({**body, "LoaiBanTin": "INIT"}, ensure_ascii=False).encode("utf-8")
    sub = replace(
        envelope, service=settings.payment_service, payload=Payload.of(data, "application/json")
    )
    answer = call(hub, caller, sub)
    try:
        result = loads_json(answer.body)
    except MalformedInput:
        result = None
    url = result.get("UrlThanhToan") if isinstance(result, dict) else None
    partner = result.get("MaDoiTac") if isinstance(result, dict) else None
    if not isinstance(url, str) or not isinstance(partner, str):
        raise UpstreamError(
            f"the partner behind {settings.payment_service!r} did not answer like the payment "
            "platform (no UrlThanhToan or MaDoiTac): is its route on a payment connector?",
            message_id=answer.message_id,
        )
    with hub.reader.connect() as conn:
        connector = conn.execute(
            select(deliveries.c.connector).where(deliveries.c.message_id == answer.message_id)
        ).scalar_one()
    ledger.record(
        hub,
        partner=partner,
        reference=reference,
        amount=amount,
        dossier=dossier,
        connector=connector,
        caller=caller,
        message_id=answer.message_id,
        payment_url=url,
        now=utcnow(),
    )
    return Initiated(reference, url, answer.message_id)


def _business(body: Any) -> tuple[str, int, str | None]:
    """The reference, the amount and the dossier, or a 422 naming each bad field."""
    if not isinstance(body, dict):
        raise SchemaViolation(
            "an INIT is a JSON object", errors=[{"path": "/", "message": "not an object"}]
        )
    errors = []
    reference = body.get("MaThamChieu")
    if not isinstance(reference, str) or not 0 < len(reference) <= 100:
        errors.append({"path": "/MaThamChieu", "message": "a string of 1-100 characters"})
    amount = body.get("SoTien")
    number = isinstance(amount, int | str) and not isinstance(amount, bool)
    text = str(amount) if number else ""
    if not (text.isascii() and text.isdigit() and 0 < int(text) < 10**15):
        errors.append({"path": "/SoTien", "message": "a positive whole number of VND"})
    if body.get("LoaiBanTin", "INIT") != "INIT":
        errors.append({"path": "/LoaiBanTin", "message": "this endpoint initiates: INIT or none"})
    receipt = body.get("ThongTinBienLai")
    dossier = receipt.get("MaHoSo") if isinstance(receipt, dict) else None
    if dossier is not None and not (isinstance(dossier, str) and len(dossier) <= 100):
        errors.append({"path": "/ThongTinBienLai/MaHoSo", "message": "a string of 100 at most"})
    if errors:
        raise SchemaViolation("the INIT is not valid", errors=errors)
    return reference, int(text), dossier
