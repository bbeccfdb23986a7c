"""Asking the platform about one transaction — ``QUERY`` (its state) and ``GET_BILL`` (its
receipt) — through the connector instance that served its INIT, and applying what a QUERY says
to the ledger.

These are reads on the ledger's behalf, not messages of a system: no access rule, route or
trace applies (the INIT they follow is the traced message). A failure is the partner's
(``upstream_failed``, 502/504) unless the connector says it is ours (``local_failure``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from hub.calls import PartnerPaused, UpstreamError
from hub.connector import OutboundMessage
from hub.content import loads_json
from hub.context import Hub
from hub.errors import ConnectorDisabled, DeliveryError, LocalDeliveryError, NotFound
from hub.ids import new_id
from hub.payload import Payload
from hub.payments.ledger import State, move
from hub.security import mask_text
from hub.store.db import utcnow
from hub.store.tables import payment_transactions as payments

__all__ = ["QUERY_STATES", "apply_query", "ask", "bill", "refresh"]

QUERY_STATES = {1: State.PAID, 3: State.PENDING, 4: State.FAILED}  # TrangThaiGD
PAUSED_RETRY_SECONDS = 60


def ask(hub: Hub, payment: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """The connector's normalised answer to ``operation`` (QUERY or GET_BILL) about
    ``payment``; raises the connector's ``DeliveryError``, or ``NotFound``/``ConnectorDisabled``
    when the instance is gone or disabled."""
    connector = hub.connector(payment["connector"])
    body = json.dumps({"LoaiBanTin": operation, "MaThamChieu": payment["reference"]}).encode()
    result = connector.deliver(
        OutboundMessage(
            id=new_id(),
            correlation_id=payment["message_id"],
            sender_agency=payment["agency"],
            sender_system=payment["system_code"],
            service=f"payment.{operation.lower()}",
            recipient=None,
            content_type="application/json",
            payload=Payload.of(body, "application/json"),
        ),
        timeout=hub.settings.sync_timeout_seconds,
    )
    answer = loads_json(result.response)
    if not isinstance(answer, dict):
        raise UpstreamError(f"the {operation} answer is not a JSON object")
    return answer


def apply_query(
    hub: Hub, payment: Mapping[str, Any], answer: Mapping[str, Any], now: datetime
) -> State:
    """Record a QUERY's ``TrangThaiGD``: 1 paid, 4 failed, 3 pending; the state the
    transaction is in afterwards. ``UpstreamError`` for a code the protocol does not have
    (nothing changes)."""
    state = QUERY_STATES.get(answer.get("TrangThaiGD"))
    if state is None:
        raise UpstreamError(
            f"QUERY answered TrangThaiGD {answer.get('TrangThaiGD')!r}, not 1, 3 or 4",
            remote_status=str(answer.get("TrangThaiGD"))[:20],
        )
    checked = {"checked_at": now, "checks": payments.c.checks + 1}
    with hub.begin() as conn:
        changes: dict[str, Any] = dict(checked)
        if state is State.PAID and answer.get("MaGiaoDich"):
            changes["transaction_id"] = str(answer["MaGiaoDich"])[:100]
        if not move(conn, payment["id"], state, now, **changes):
            conn.execute(update(payments).where(payments.c.id == payment["id"]).values(**checked))
        return State(
            conn.execute(select(payments.c.state).where(payments.c.id == payment["id"])).scalar()
        )


def refresh(hub: Hub, payment: Mapping[str, Any]) -> Mapping[str, Any]:
    """QUERY now (``GET /v1/payments/{ref}?refresh=true``) and the transaction afterwards."""
    apply_query(hub, payment, _asked(hub, payment, "QUERY"), utcnow())
    with hub.reader.connect() as conn:
        return conn.execute(select(payments).where(payments.c.id == payment["id"])).mappings().one()


def bill(hub: Hub, payment: Mapping[str, Any]) -> dict[str, Any]:
    """The platform's bill for the transaction (``GET_BILL``), as the connector gives it."""
    return _asked(hub, payment, "GET_BILL")


def _asked(hub: Hub, payment: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """``ask`` for an API caller: a failure as the status it should see."""
    try:
        return ask(hub, payment, operation)
    except ConnectorDisabled:
        raise PartnerPaused(
            "the payment connector is disabled by an admin",
            PAUSED_RETRY_SECONDS,
            connector=payment["connector"],
        ) from None
    except NotFound:
        raise UpstreamError(
            "the connector instance that served this payment is no longer registered",
            connector=payment["connector"],
        ) from None
    except LocalDeliveryError:
        raise
    except DeliveryError as exc:
        error = UpstreamError(mask_text(exc.message), remote_status=exc.remote_status)
        if exc.remote_status == "timeout":
            error.status = 504
        raise error from None
