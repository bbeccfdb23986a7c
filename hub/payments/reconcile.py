"""Reconciliation: learning the outcome of payments whose callback never came.

A callback can be lost (the hub down, a network cut, a platform that gave up), and a citizen
who paid must not be asked to pay again. So every transaction still ``initiated`` or
``pending`` once ``reconcile_after_seconds`` (30 minutes) have passed since its INIT is
re-queried (``QUERY`` through the connector instance that served it) at each run: 1 → paid,
4 → failed, 3 → pending (asked again next run). After ``reconcile_window_seconds`` (3 days)
one still unknown becomes ``unresolved``: an admin must look. A query that fails leaves its
transaction as it was and is counted. A callback arriving meanwhile wins or loses by the
ledger's conditional moves, never by overwriting.

``reconcile`` is a function of an explicit ``now``, so it is tested without waiting; the hub's
scheduler (and ``lgsp payments reconcile``) runs it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hub.context import Hub
from hub.errors import HubError
from hub.payments.ledger import UNKNOWN, State, move
from hub.payments.partner import apply_query, ask
from hub.security import mask_text
from hub.store.db import utcnow
from hub.store.tables import payment_transactions as payments

__all__ = ["Report", "reconcile"]

log = logging.getLogger(__name__)


@dataclass
class Report:
    """What one run did: ``checked`` queries made, the states they led to, ``unresolved``
    transactions given up on, and ``errors`` (queries that failed)."""

    checked: int = 0
    paid: int = 0
    failed: int = 0
    pending: int = 0
    unresolved: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile(
    hub: Hub,
    now: datetime | None = None,
    limit: int = 1000,
) -> Report:
    """Re-query the unknown transactions due at ``now`` (at most ``limit``, oldest first) and
    give up on those past the window (``LGSP_PAYMENT_RECONCILE_*``)."""
    settings = hub.settings
    now = (now or utcnow()).astimezone(UTC)
    due_before = now - timedelta(seconds=settings.payment_reconcile_after_seconds)
    oldest = now - timedelta(seconds=settings.payment_reconcile_window_seconds)
    unknown = payments.c.state.in_([s.value for s in UNKNOWN])
    with hub.reader.connect() as conn:
        expired = (
            conn.execute(select(payments.c.id).where(unknown, payments.c.initiated_at <= oldest))
            .scalars()
            .all()
        )
        due = (
            conn.execute(
                select(payments)
                .where(
                    unknown,
                    payments.c.initiated_at <= due_before,
                    payments.c.initiated_at > oldest,
                )
                .order_by(payments.c.initiated_at)
                .limit(limit)
            )
            .mappings()
            .all()
        )
    report = Report()
    for payment_id in expired:
        with hub.begin() as conn:
            if move(conn, payment_id, State.UNRESOLVED, now):
                report.unresolved += 1
    for payment in due:
        report.checked += 1
        try:
            state = apply_query(hub, payment, ask(hub, payment, "QUERY"), now)
        except HubError as exc:  # the partner failed, or its connector is gone or paused
            report.errors += 1
            log.warning(
                "reconciling payment %s through %s: %s",
                mask_text(payment["reference"]),
                payment["connector"],
                mask_text(exc.message),
            )
            continue
        if state in (State.PAID, State.FAILED, State.PENDING):
            setattr(report, state.value, getattr(report, state.value) + 1)
    if expired or due:
        log.info("payment reconciliation: %s", report.as_dict())
    return report
