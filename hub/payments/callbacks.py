"""The platform's callback: the one input of the hub that arrives from outside without an API
key. The platform authenticates it only by ``MaXacThuc``, so until that checks out the body is
hostile: its size is bounded before it is read (``hub.api.routes.payments``), it is parsed as
strict JSON, each field is checked for type and length, and a wrong checksum or an unknown
``MaDoiTac`` is refused (401) and recorded as a denial with nothing else written.

A verified callback is recorded in ``payment_callbacks`` and decides the transaction
(``MaLoi`` "00" paid, anything else failed) in the same store transaction. The callback row's
uniqueness — partner, reference, ``MaGiaoDich``, ``MaLoi`` — is the idempotency gate: a replay,
even one racing the first delivery, fails to insert and is answered exactly as the first was,
with no second effect. The transaction row is locked while deciding, so a callback and a
reconciliation cannot both move it.

=======================  ======  ========================================================
outcome                  status  when
=======================  ======  ========================================================
``paid`` / ``failed``    200     the transaction moved (``failed`` → ``paid`` too: the money
                                 was taken after all)
``stale``                200     nothing to change: a failure after the payment, or another
                                 failure of a failed one
``amount_mismatch``      409     ``SoTien``/``MaTienTe`` differ from the ledger's
``conflict``             409     a second, different success for a paid transaction
``unknown_transaction``  404     no such transaction: kept so that an admin sees it
=======================  ======  ========================================================

A 12-hour ``ThoiGianGD`` is accepted (the checksum is over the string as sent), stored as sent
and read, with a warning on the row and in the log; one that cannot be read at all is kept as
sent with a warning too. The payer's name and ID number are not part of a callback and
``ThongTinGiaoDich`` (free text) is not kept: only what reconciliation and an admin need.

Not public, so configurable: what the platform expects as the reply to an accepted callback
(``LGSP_PAYMENT_CALLBACK_REPLY``, default ``{"error_code": "0", "message": "<outcome>",
"MaThamChieu": …}``), the callback's ``LoaiBanTin`` (any value is accepted: it is signed) and
its failure codes (every ``MaLoi`` but "00" is a failure). Refusals are the hub's structured
errors.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from connectors.payment import callback_checksum, parse_time, partner_secret
from hub.config import Settings
from hub.content import loads_json
from hub.context import Hub
from hub.errors import Conflict, DeliveryError, NotFound, SchemaViolation, Unauthenticated
from hub.payments.ledger import MOVES, State, locked, move
from hub.security import escape_controls, mask_text
from hub.store.db import utcnow
from hub.store.tables import connector_instances, payment_callbacks

__all__ = ["ACTION", "AmountMismatch", "UnknownTransaction", "receive"]

log = logging.getLogger(__name__)

ACTION = "POST /v1/payments/callback"
PAID = "00"  # MaLoi of a successful payment
LIMITS = {  # field -> longest value kept (the columns of payment_callbacks)
    "LoaiBanTin": 50,
    "MaLoi": 20,
    "MaDoiTac": 50,
    "MaThamChieu": 100,
    "SoTien": 18,
    "MaXacThuc": 128,
    "ThoiGianGD": 40,
    "MaTienTe": 10,
    "MaGiaoDich": 100,
    "MaNganHang": 50,
    "ThongTinGiaoDich": 2000,
}
REQUIRED = ("LoaiBanTin", "MaLoi", "MaDoiTac", "MaThamChieu", "SoTien", "ThoiGianGD", "MaXacThuc")
STATUS = {
    "paid": 200,
    "failed": 200,
    "stale": 200,
    "amount_mismatch": 409,
    "conflict": 409,
    "unknown_transaction": 404,
}


class UnknownTransaction(NotFound):
    code = "unknown_transaction"


class AmountMismatch(Conflict):
    code = "amount_mismatch"


def receive(hub: Hub, raw: bytes, remote_addr: str | None, settings: Settings) -> dict[str, str]:
    """Verify and record one callback; the reply body (200), or the refusal raised."""
    fields = _fields(loads_json(raw))
    connector = _verify(hub, fields, remote_addr)
    settled_at, warning = _time(fields["ThoiGianGD"])
    if warning:
        log.warning(
            "payment callback for %s: %s",
            escape_controls(mask_text(fields["MaThamChieu"])),
            warning,
        )
    try:
        outcome = _record(hub, fields, connector, settled_at, warning, remote_addr)
    except IntegrityError:  # a replay: the first delivery's answer, nothing done again
        outcome = _recorded(hub, fields)
    return _answer(outcome, fields, settings)


def _fields(body: Any) -> dict[str, Any]:
    """The callback's fields as strings (``SoTien`` as its digits), or a 422 naming each bad
    one; absent optional fields are empty, as the checksum reads them."""
    if not isinstance(body, dict):
        raise SchemaViolation(
            "a payment callback is a JSON object",
            errors=[{"path": "/", "message": "not an object"}],
        )
    errors = [
        {"path": f"/{name}", "message": "is required"} for name in REQUIRED if name not in body
    ]
    fields: dict[str, Any] = {}
    for name, longest in LIMITS.items():
        value = body.get(name, "")
        if name == "SoTien" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            errors.append({"path": f"/{name}", "message": "must be a string"})
        elif len(value) > longest:
            errors.append({"path": f"/{name}", "message": f"longer than {longest} characters"})
        elif name == "SoTien" and not (value.isascii() and value.isdigit()):
            errors.append({"path": "/SoTien", "message": "must be a whole number of VND"})
        fields[name] = value
    if errors:
        raise SchemaViolation("the payment callback is not valid", errors=errors)
    return fields


def _verify(hub: Hub, fields: Mapping[str, Any], remote_addr: str | None) -> str:
    """The payment connector instance whose ``MaDoiTac`` and secret the callback proves, or
    401 with the refusal recorded (the platform learns only that it is not valid)."""
    with hub.reader.connect() as conn:
        rows = conn.execute(
            select(connector_instances.c.name, connector_instances.c.config).where(
                connector_instances.c.type == "payment"
            )
        ).all()
    partners = [
        (name, config) for name, config in rows if config.get("MaDoiTac") == fields["MaDoiTac"]
    ]
    given = fields["MaXacThuc"].lower().encode()
    for name, config in partners:
        try:
            secret = partner_secret(config)
        except DeliveryError as exc:
            log.error("payment connector %s: cannot verify callbacks: %s", name, exc.message)
            continue
        if hmac.compare_digest(callback_checksum(fields, secret).encode(), given):
            return name
    reason = (
        "payment callback: wrong MaXacThuc" if partners else "payment callback: unknown MaDoiTac"
    )
    hub.denials.add(None, None, ACTION, reason, remote_addr)
    raise Unauthenticated("the payment callback could not be authenticated")


def _time(value: str) -> tuple[datetime | None, str | None]:
    try:
        return parse_time(value)
    except ValueError:
        return None, f"ThoiGianGD {escape_controls(value)!r} is not a readable time; kept as sent"


def _record(
    hub: Hub,
    fields: Mapping[str, Any],
    connector: str,
    settled_at: datetime | None,
    warning: str | None,
    remote_addr: str | None,
) -> str:
    """Decide and record in one store transaction; ``IntegrityError`` if it is a replay."""
    now = utcnow()
    if settled_at is not None:  # stored as UTC: SQLite keeps no offset
        settled_at = settled_at.astimezone(UTC)
    with hub.begin() as conn:
        payment = locked(conn, fields["MaDoiTac"], fields["MaThamChieu"])
        outcome = _decide(payment, fields)
        conn.execute(
            insert(payment_callbacks).values(
                received_at=now,
                payment_id=payment["id"] if payment else None,
                partner=fields["MaDoiTac"],
                reference=fields["MaThamChieu"],
                transaction_id=fields["MaGiaoDich"],
                result_code=fields["MaLoi"],
                amount=int(fields["SoTien"]),
                currency=fields["MaTienTe"],
                bank=fields["MaNganHang"],
                paid_time=fields["ThoiGianGD"],
                settled_at=settled_at,
                outcome=outcome,
                status=STATUS[outcome],
                warning=warning,
                connector=connector,
                remote_addr=escape_controls(remote_addr or "")[:64] or None,
            )
        )
        if payment is not None and outcome in (State.PAID, State.FAILED):
            move(
                conn,
                payment["id"],
                State(outcome),
                now,
                transaction_id=fields["MaGiaoDich"] or None,
                result_code=fields["MaLoi"],
                settled_at=settled_at,
            )
    return outcome


def _decide(payment: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> str:
    if payment is None:
        return "unknown_transaction"
    currency = fields["MaTienTe"] or payment["currency"]
    if int(fields["SoTien"]) != payment["amount"] or currency != payment["currency"]:
        return "amount_mismatch"
    to = State.PAID if fields["MaLoi"] == PAID else State.FAILED
    if to is State.PAID and payment["state"] == State.PAID:
        return "conflict"
    return to.value if payment["state"] in MOVES[to] else "stale"


def _recorded(hub: Hub, fields: Mapping[str, Any]) -> str:
    """The outcome the first delivery of this callback was given."""
    key = payment_callbacks.c
    with hub.reader.connect() as conn:
        outcome = conn.execute(
            select(key.outcome).where(
                key.partner == fields["MaDoiTac"],
                key.reference == fields["MaThamChieu"],
                key.transaction_id == fields["MaGiaoDich"],
                key.result_code == fields["MaLoi"],
            )
        ).scalar()
    if outcome is None:  # the integrity error was not the gate's: a bug, not a replay
        raise RuntimeError("payment callback refused by the store for another reason")
    return outcome


def _answer(outcome: str, fields: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """The reply to the platform: the configured body for an accepted callback, else the
    refusal its outcome stands for (the same every time it is replayed)."""
    reference = mask_text(fields["MaThamChieu"])
    if outcome == "unknown_transaction":
        raise UnknownTransaction("no such payment transaction", MaThamChieu=reference)
    if outcome == "amount_mismatch":
        raise AmountMismatch(
            "SoTien or MaTienTe differ from the amount initiated; recorded for an admin",
            MaThamChieu=reference,
        )
    if outcome == "conflict":
        raise Conflict(
            "the payment was already made under another MaGiaoDich; recorded for an admin",
            MaThamChieu=reference,
        )
    values = {"MaThamChieu": fields["MaThamChieu"], "MaGiaoDich": fields["MaGiaoDich"]}
    values["outcome"] = outcome
    reply = {}
    for key, template in settings.payment_callback_reply.items():
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        reply[key] = template
    return reply
