"""Parked messages: a service registered with ``unroutable: park`` accepts a message nothing
routes (202, traced as ``unroutable``) instead of refusing it, and the message waits here until
the registry changes so that a route takes it — then it is routed and queued as if it had just
arrived, its trace going on from ``unroutable`` to ``routed`` and ``queued``.

The worker calls ``release`` whenever the routes it sees change (and once at start). A message
goes on only when every one of its recipients has a route. Several workers may release at once:
the status is claimed with a conditional update, so a message is released once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from hub import routing
from hub.content import parse
from hub.context import Hub
from hub.errors import HubError, NoRoute
from hub.events import record
from hub.model import Status
from hub.recording import delivery_rows, enqueue
from hub.store.db import as_utc, utcnow
from hub.store.tables import deliveries, messages

__all__ = ["fingerprint", "release"]

log = logging.getLogger(__name__)
BATCH = 500  # parked messages looked at per call; the next call takes the rest

_PARKED = (
    select(
        messages.c.id,
        messages.c.service_code,
        messages.c.recipients,
        messages.c.headers,
        messages.c.content_type,
        messages.c.payload,
        messages.c.blob_ref,
        messages.c.payload_sha256,
        messages.c.size,
        messages.c.created_at,
    )
    .where(messages.c.status == Status.UNROUTABLE)
    .order_by(messages.c.created_at)
)
_CLAIM = update(messages).where(messages.c.status == Status.UNROUTABLE)
_INSERT_DELIVERIES = insert(deliveries)


def fingerprint(routes: Sequence[Mapping[str, Any]]) -> str:
    """What the routes are now, compactly: ``release`` is worth trying again only when it
    changes."""
    return json.dumps(sorted((dict(r) for r in routes), key=lambda r: r["name"]), default=str)


def release(hub: Hub, batch: int = BATCH) -> int:
    """Route and queue the parked messages that the routes now take; returns how many."""
    routes = hub.registry.routes()
    released = skipped = 0
    while True:
        with hub.reader.connect() as conn:
            parked = conn.execute(_PARKED.offset(skipped).limit(batch)).mappings().all()
        for row in parked:
            if _release_one(hub, routes, row):
                released += 1
            else:
                skipped += 1
        if len(parked) < batch:
            break
    if released:
        hub.enqueued()
        log.info("released %d parked message(s)", released)
    return released


def _release_one(hub: Hub, routes: Sequence[Mapping[str, Any]], row: Mapping[str, Any]) -> bool:
    try:
        document = parse(hub.payload(row), tree_limit=hub.settings.xml_tree_limit_bytes)
        targets = routing.resolve(
            routes, row["service_code"], row["recipients"], document, row["headers"]
        )
    except NoRoute:
        return False
    except HubError as exc:  # it was accepted, so this is ours: say so, try again later
        log.error("parked message %s cannot be read for routing: %s", row["id"], exc.message)
        return False
    now = utcnow()
    rows, queued, events = delivery_rows(row["id"], targets, now)
    waited = (now - as_utc(row["created_at"])).total_seconds()
    events[0].details = {**(events[0].details or {}), "parked_for_s": round(waited, 3)}
    with hub.begin() as conn:
        claimed = conn.execute(
            _CLAIM.where(messages.c.id == row["id"]).values(status=Status.QUEUED)
        ).rowcount
        if not claimed:  # another worker released it first
            return False
        conn.execute(_INSERT_DELIVERIES, rows)
        enqueue(hub, conn, row["id"], queued)
        record(conn, events, {row["id"]: Status.QUEUED})
    return True
