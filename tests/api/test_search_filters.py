"""``hub.trace.search`` on both stores against the same filters applied in Python: a sender
named by its system or its agency code, a recipient, a status and a time range, alone and
together, paged by cursor. The search takes index-friendly paths (one sender column, the
recipient through its deliveries, ids bounding a time range); the pages must not change."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from hub.model import Caller
from hub.store.tables import agencies, deliveries, messages, systems
from hub.trace import MessageFilters, search

ADMIN = Caller("admin", "000.00.00.H49", "admin")
START = datetime(2026, 11, 1, tzinfo=UTC)
SENDERS = [("qlvb-a", "000.01.00.H49"), ("motcua-b", "000.01.00.H49"), ("csdl-c", "000.02.00.H49")]
RECIPIENTS = ["000.03.00.H49", "000.04.00.H49", "000.05.00.H49"]


def uuid7_at(when: datetime, rng: random.Random) -> str:
    ms = int(when.timestamp() * 1000)
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (2 << 62) | rng.getrandbits(62)))


def seed(hub, rng: random.Random) -> list[dict]:
    """Messages over ten days, each id made up to 50 minutes (a slow synchronous call) before
    its created_at; one or two recipients, or none."""
    rows, targets = [], []
    for i in range(240):
        created = START + timedelta(minutes=60 * i + rng.randrange(60))
        system, agency = rng.choice(SENDERS)
        to = rng.sample(RECIPIENTS, rng.choice([0, 1, 1, 2]))
        mid = uuid7_at(created - timedelta(minutes=rng.choice([0, 0, 0, 50])), rng)
        rows.append(
            dict(
                id=mid,
                correlation_id=mid,
                sender_agency=agency,
                sender_system=system,
                service_code="dossier.sync",
                recipients=to,
                content_type="application/json",
                payload_sha256="0",
                size=0,
                headers={},
                status=rng.choice(["delivered", "dead"]),
                created_at=created,
                updated_at=created,
            )
        )
        for recipient in to or [None]:
            targets.append(
                dict(
                    id=uuid7_at(created, rng),
                    message_id=mid,
                    route="r",
                    connector="c",
                    recipient=recipient,
                    status="delivered",
                    attempts=1,
                    created_at=created,
                    updated_at=created,
                )
            )
    now = START
    with hub.begin() as conn:
        conn.execute(
            insert(agencies),
            [{"code": a, "name": a, "created_at": now} for a in {a for _, a in SENDERS}],
        )
        conn.execute(
            insert(systems),
            [
                {
                    "code": s,
                    "agency_code": a,
                    "name": s,
                    "role": "system",
                    "key_prefix": s,
                    "key_hash": "-",
                    "created_at": now,
                }
                for s, a in SENDERS
            ],
        )
        conn.execute(insert(messages), rows)
        conn.execute(insert(deliveries), targets)
    return rows


def expected(rows: list[dict], f: MessageFilters) -> list[str]:
    kept = [
        r
        for r in rows
        if (not f.sender or f.sender in (r["sender_system"], r["sender_agency"]))
        and (not f.recipient or f.recipient in r["recipients"])
        and (not f.status or r["status"] == f.status)
        and (f.since is None or r["created_at"] >= f.since)
        and (f.until is None or r["created_at"] < f.until)
    ]
    return sorted((r["id"] for r in kept), reverse=True)


def paged(hub, f: MessageFilters) -> list[str]:
    found, cursor = [], None
    with hub.reader.connect() as conn:
        while True:
            page = search(conn, ADMIN, f, cursor, 7)
            found += [item["id"] for item in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                return found


def test_every_filter_alone_and_together_pages_as_the_rows_say(hub):
    rows = seed(hub, random.Random(7))
    windows = [
        (None, None),
        (START + timedelta(days=3), START + timedelta(days=4, hours=5)),
        (START + timedelta(days=8), None),
        (None, START + timedelta(hours=30)),
    ]
    for sender, recipient, status, (since, until) in itertools.product(
        [None, "qlvb-a", "000.01.00.H49", "000.09.00.H49"],
        [None, RECIPIENTS[0]],
        [None, "dead"],
        windows,
    ):
        f = MessageFilters(
            sender=sender, recipient=recipient, status=status, since=since, until=until
        )
        assert paged(hub, f) == expected(rows, f), f
