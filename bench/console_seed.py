"""A store with N messages for the console bench (``console.py``): a month of a province's
traffic, written in bulk so that 1,000,000 messages take minutes, not an hour.

The schema is the hub's own (``hub.store.db.upgrade``), so the bench reads through the real
indexes. Rows are made here, never through the pipeline: 20 services (30 % of the traffic
synchronous lookups), 200 sender systems (one agency each; a few send most), one or two
recipient agencies on 44 % of the messages, a DocumentId on 5 % (edXML documents, with their
``edocs`` row, and the status messages that answer them), statuses mostly ``delivered``, with
``failed``, ``dead``, ``retrying``, ``queued`` and ``discarded`` (the unfinished ones in the
last two days), one delivery per recipient and a trace of 5 to 17 events (6 on average).

Ids are UUIDv7 with the millisecond of ``created_at`` (the layout of ``hub.ids``, but at the
message's own time, spread over the 30 days before the seed). SQLite: SQLAlchemy Core
executemany in transactions of ``BATCH`` messages, with the journal and fsync off while seeding
(the file is a ``.partial`` until done). PostgreSQL: ``COPY`` through psycopg, then
``VACUUM ANALYZE``, as autovacuum would do on its own after such a load.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import JSON, Table, create_engine, event, insert

from hub.store.db import make_engine, upgrade
from hub.store.tables import (
    agencies,
    connector_instances,
    deliveries,
    edocs,
    message_events,
    messages,
    routes,
    services,
    systems,
)

SEED_VERSION = 2  # part of the cached file's name: a change in what is seeded makes a new one
DAYS = 30
BATCH = 5_000
PROVINCE = "000.00.00.H49"
# (code, mode, content type, share of traffic, carries recipients)
SERVICES = [
    ("dossier.sync", "async", "application/json", 18, True),
    ("dossier.status", "async", "application/json", 14, True),
    ("citizen.lookup", "sync", "application/json", 12, False),
    ("household.lookup", "sync", "application/json", 6, False),
    ("land.parcel.lookup", "sync", "application/json", 4, False),
    ("business.lookup", "sync", "application/json", 4, False),
    ("edoc", "async", "application/xml", 5, True),
    ("dvcqg.dossier", "async", "application/json", 8, False),
    ("dvcqg.rating", "async", "application/json", 3, False),
    ("payment.init", "sync", "application/json", 3, False),
    ("payment.callback", "async", "application/json", 3, False),
    ("sms.send", "async", "application/json", 5, False),
    ("vnpost.pickup", "async", "application/json", 2, False),
    ("reporting.kpi", "async", "application/json", 2, False),
    ("civil.birth", "async", "application/xml", 3, True),
    ("civil.marriage", "async", "application/xml", 1, True),
    ("judicial.record", "async", "application/json", 2, True),
    ("tax.notice", "async", "application/json", 2, False),
    ("insurance.check", "sync", "application/json", 1, False),
    ("archive.transfer", "async", "application/xml", 1, True),
]
# status: weight, for async and for synchronous services; unfinished ones only recently
ASYNC_STATUSES = {"delivered": 955, "dead": 15, "retrying": 10, "queued": 5, "discarded": 5}
SYNC_STATUSES = {"delivered": 960, "failed": 40}
UNFINISHED = {"retrying", "queued"}
PAYLOAD_SIZES = (420, 780, 1400, 2600)


def agency_code(i: int) -> str:
    """QĐ 20/2020 codes: 40 province departments (000.NN.00.H49), then units under them."""
    if i < 40:
        return f"000.{i + 1:02d}.00.H49"
    return f"000.{(i - 40) // 40 + 1:02d}.{(i - 40) % 40 + 1:02d}.H49"


@dataclass
class Population:
    """Who sends what to whom, and how often (Zipf-like: a few systems send most)."""

    agencies: list[str]
    systems: list[tuple[str, str]]  # (system code, its agency)
    system_weights: list[float]  # cumulative, as random.choices takes them fastest
    recipient_weights: list[float]
    payloads: dict[tuple[str, int], tuple[bytes, str]] = field(default_factory=dict)

    @classmethod
    def make(cls, n_systems: int = 200) -> Population:
        codes = [agency_code(i) for i in range(n_systems)]
        kinds = ("motcua", "qlvb", "csdl", "cong")
        names = [(f"{kinds[i % 4]}-{i:03d}", codes[i]) for i in range(n_systems)]
        return cls(
            agencies=codes,
            systems=names,
            system_weights=list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(n_systems))),
            recipient_weights=list(accumulate(1 / (rank + 1) ** 0.6 for rank in range(n_systems))),
        )

    def payload(self, content_type: str, size: int) -> tuple[bytes, str]:
        """A few bodies of realistic sizes, made once: stored inline as the hub stores them."""
        key = (content_type, size)
        if key not in self.payloads:
            text = ("Ho so dang xu ly, cho bo sung giay to. " * (size // 40 + 1))[:size]
            body = (
                json.dumps({"NoiDung": text[: size - 16]}).encode()
                if content_type == "application/json"
                else f"<NoiDung>{text[: size - 21]}</NoiDung>".encode()
            )
            self.payloads[key] = (body, hashlib.sha256(body).hexdigest())
        return self.payloads[key]


class Ids:
    """UUIDv7 strings at a given time (``hub.ids`` makes them at the current time only); a
    counter keeps ids of the same millisecond in order."""

    def __init__(self) -> None:
        self.ms, self.counter = -1, 0

    def at(self, when: datetime) -> str:
        ms = int(when.timestamp() * 1000)
        if ms <= self.ms:
            ms, self.counter = self.ms, self.counter + 1
        else:
            self.counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
        self.ms = ms
        rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        return str(
            uuid.UUID(int=(ms << 80) | (0x7 << 76) | (self.counter << 64) | (2 << 62) | rand)
        )


@dataclass
class Batch:
    messages: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    edocs: list[dict[str, Any]] = field(default_factory=list)


def _event(message_id: str, seq: int, kind: str, at: datetime, **extra: Any) -> dict[str, Any]:
    # The hash chain is linked (each prev_hash is the row before's hash) but its hashes are
    # random, not computed: a valid chain would cost ~11 µs of hashing per event to seed. A
    # trace lookup still recomputes every event's digest (``verify_chain``), so its cost is
    # the real one; it only reports the chain as broken.
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(message_id=message_id, seq=seq, event=kind, at=at, hash=os.urandom(32).hex())
    row.update(extra)
    return row


EVENT_COLUMNS = [c.name for c in message_events.c if c.name != "id"]


class Traffic:
    """Messages in time order with their deliveries, traces and documents."""

    def __init__(self, n: int, end: datetime, seed: int = 14) -> None:
        self.n, self.end, self.rng = n, end, random.Random(seed)
        self.start = end - timedelta(days=DAYS)
        self.people = Population.make()
        self.ids = Ids()
        self.documents: list[str] = []  # DocumentIds sent so far, for status messages to answer

    def batches(self, size: int = BATCH) -> Iterator[Batch]:
        step = (self.end - self.start) / self.n
        for first in range(0, self.n, size):
            batch = Batch()
            for i in range(first, min(self.n, first + size)):
                self.message(batch, self.start + step * (i + self.rng.random()))
            yield batch

    def message(self, batch: Batch, at: datetime) -> None:
        rng, people = self.rng, self.people
        service = rng.choices(SERVICES, cum_weights=SERVICE_WEIGHTS)[0]
        code, mode, content_type, _, addressed = service
        system, agency = rng.choices(people.systems, cum_weights=people.system_weights)[0]
        recipients = self.recipients() if addressed else []
        statuses, weights = STATUSES[mode]
        status = rng.choices(statuses, cum_weights=weights)[0]
        if status in UNFINISHED and self.end - at > timedelta(days=2):
            status = "delivered"
        message_id = self.ids.at(at)
        body, digest = people.payload(content_type, rng.choice(PAYLOAD_SIZES))
        document_id = self.document(batch, message_id, code, agency, at)
        batch.messages.append(
            {
                "id": message_id,
                "correlation_id": message_id,
                "sender_agency": agency,
                "sender_system": system,
                "service_code": code,
                "service_version": "1",
                "recipients": recipients,
                "content_type": content_type,
                "payload": body,
                "payload_sha256": digest,
                "size": len(body),
                "headers": {"x-lgsp-ma-ho-so": f"H49-{at:%y%m%d}-{rng.randrange(10**6):06d}"},
                "document_id": document_id,
                "idempotency_key": f"edxml:{document_id}#0" if document_id else None,
                "status": status,
                "trace_seq": 0,
                "trace_hash": None,
                "created_at": at,
                "updated_at": at,
            }
        )
        self.trace(batch, batch.messages[-1], mode, recipients or [None])

    def recipients(self) -> list[str]:
        """One agency, or two (15 %): never one twice, as the hub refuses that."""
        people = self.people
        named = self.rng.choices(people.agencies, cum_weights=people.recipient_weights, k=2)
        return list(dict.fromkeys(named[: 1 + (self.rng.random() < 0.15)]))

    def document(
        self, batch: Batch, message_id: str, service: str, agency: str, at: datetime
    ) -> str | None:
        """An edXML document gets a DocumentId and an ``edocs`` row; one in five is a status
        message answering an earlier document (its ResponseFor DocumentId)."""
        if service != "edoc":
            return None
        kind = "status" if self.documents and self.rng.random() < 0.2 else "edoc"
        if kind == "edoc":
            document_id = f"{agency},{at:%Y/%m/%d},{len(self.documents) + 1}/UBND-VP"
            self.documents.append(document_id)
        else:
            recent = len(self.documents)
            document_id = self.documents[self.rng.randrange(max(0, recent - 5000), recent)]
        batch.edocs.append(
            {
                "message_id": message_id,
                "kind": kind,
                "document_id": document_id,
                "business_type": "0" if kind == "edoc" else None,
                "status_code": None if kind == "edoc" else "03",
                "sender": agency,
                "sender_original": agency,
                "subject": "V/v triển khai dịch vụ công trực tuyến" if kind == "edoc" else None,
                "direction": "out",
                "signature": "verified",
                "signer": f"CN={agency}",
                "warnings": [],
                "attachments": [],
                "created_at": at,
            }
        )
        return document_id

    def trace(self, batch: Batch, message: dict[str, Any], mode: str, to: list) -> None:
        mid, at, status = message["id"], message["created_at"], message["status"]
        rows = [
            _event(mid, 1, "received", at, size_in=message["size"]),
            _event(mid, 2, "validated", at),
        ]
        targets = []
        for recipient in to:
            connector = f"rest-{message['service_code']}"
            targets.append({"route": f"to-{message['service_code']}", "connector": connector})
            batch.deliveries.append(
                {
                    "id": self.ids.at(at),
                    "message_id": mid,
                    "route": f"to-{message['service_code']}",
                    "connector": connector,
                    "recipient": recipient,
                    "status": status,
                    "attempts": 0 if status == "queued" else 3 if status == "dead" else 1,
                    "next_attempt_at": at + timedelta(minutes=5) if status == "retrying" else None,
                    "last_error": "HTTP 503 from the partner"
                    if status in ("dead", "retrying")
                    else None,
                    "queued_at": at,
                    "created_at": at,
                    "updated_at": at,
                }
            )
        rows.append(_event(mid, 3, "routed", at, details={"targets": targets}))
        for delivery in batch.deliveries[-len(to) :]:
            rows += self.attempts(mid, delivery, mode, len(rows), at)
        prev = None
        for row in rows:
            row["prev_hash"], prev = prev, row["hash"]
        message["trace_seq"], message["trace_hash"] = rows[-1]["seq"], rows[-1]["hash"]
        message["updated_at"] = rows[-1]["at"]
        batch.events += rows

    def attempts(self, mid: str, delivery: dict, mode: str, seq: int, at: datetime) -> list:
        """The events of one delivery: queued, then each attempt and how it ended."""
        status, common = delivery["status"], {"delivery_id": delivery["id"]}
        common["connector"] = delivery["connector"]
        rows = [] if mode == "sync" else [_event(mid, seq + 1, "queued", at, **common)]
        if status == "queued":
            return rows
        tries = 3 if status == "dead" else 1
        when = at + timedelta(milliseconds=self.rng.uniform(5, 400))
        for attempt in range(1, tries + 1):
            took = self.rng.lognormvariate(4, 0.8)
            rows.append(_event(mid, seq + len(rows) + 1, "delivering", when, attempt=attempt))
            rows[-1].update(common)
            when += timedelta(milliseconds=took)
            kind, end = status, {"remote_status": "200", "size_out": 800}
            if status == "failed":
                end = {"remote_status": "500", "error": "HTTP 500"}
            elif status in ("dead", "retrying"):
                kind = "dead" if status == "dead" and attempt == tries else "retrying"
                end = {"error_code": "partner_unavailable", "error": "HTTP 503"}
            rows.append(_event(mid, seq + len(rows) + 1, kind, when, attempt=attempt, **end))
            rows[-1].update(common, duration_ms=round(took, 3))
            when += timedelta(seconds=30 * 2**attempt)
        delivery["updated_at"] = rows[-1]["at"]
        return rows


SERVICE_WEIGHTS = list(accumulate(share for *_, share, _ in SERVICES))
STATUSES = {
    mode: (list(statuses), list(accumulate(statuses.values())))
    for mode, statuses in (("async", ASYNC_STATUSES), ("sync", SYNC_STATUSES))
}


def registry(now: datetime) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The agencies, systems, services, connectors and routes the traffic names."""
    people, at = Population.make(), {"created_at": now}
    province = {"code": PROVINCE, "name": "UBND tỉnh", "level": 2, **at}
    under, system = {"parent_code": PROVINCE, "level": 3, **at}, {"role": "system", **at}
    return [
        (agencies, [province, *({"code": c, "name": c, **under} for c in people.agencies)]),
        (
            systems,
            [
                {"code": s, "agency_code": a, "name": s, "key_prefix": f"k{i}", "key_hash": "-"}
                | system
                for i, (s, a) in enumerate(people.systems)
            ],
        ),
        (
            services,
            [
                {"code": c, "name": c, "mode": m, "content_type": t, **at}
                for c, m, t, *_ in SERVICES
            ],
        ),
        (
            connector_instances,
            [{"name": f"rest-{c}", "type": "rest", "config": {}, **at} for c, *_ in SERVICES],
        ),
        (
            routes,
            [
                {"name": f"to-{c}", "service_code": c, "connector": f"rest-{c}", **at}
                for c, *_ in SERVICES
            ],
        ),
    ]


TRAFFIC = (
    (messages, "messages"),
    (deliveries, "deliveries"),
    (message_events, "events"),
    (edocs, "edocs"),
)


def migrated(url: str) -> None:
    """The hub's schema, by its own migrations, and the registry rows."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            for table, rows in registry(datetime.now(UTC)):
                conn.execute(insert(table), rows)
    finally:
        engine.dispose()


def seed_sqlite(path: Path, n: int, progress=print) -> None:
    """N messages into a new SQLite file at ``path`` (built as ``.partial``, renamed when
    complete, so an interrupted seed is never reused)."""
    partial = path.with_name(path.name + ".partial")
    _remove(partial)
    migrated(f"sqlite:///{partial}")
    engine = create_engine(f"sqlite:///{partial}")

    @event.listens_for(engine, "connect")
    def _bulk(dbapi_conn, _record) -> None:  # a throwaway file until renamed: no journal
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "cache_size=-1048576",
            "temp_store=MEMORY",
        ):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    try:
        for batch in _batches(n, progress):
            with engine.begin() as conn:
                for table, name in TRAFFIC:
                    if rows := getattr(batch, name):
                        conn.execute(insert(table), rows)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        engine.dispose()
    _remove(path)  # a WAL of an earlier file must not be applied to this one
    partial.rename(path)


def _remove(path: Path) -> None:
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        each.unlink(missing_ok=True)


def seed_postgres(url: str, n: int, progress=print) -> None:
    """N messages into the empty PostgreSQL database at ``url`` by ``COPY``."""
    migrated(url)
    json_columns = {c.name for t, _ in TRAFFIC for c in t.c if isinstance(c.type, JSON)}
    with psycopg.connect(url) as conn:
        for batch in _batches(n, progress):
            with conn.cursor() as cur:
                for table, name in TRAFFIC:
                    rows = getattr(batch, name)
                    if not rows:
                        continue
                    names = list(rows[0])
                    dumps = [json.dumps if c in json_columns else None for c in names]
                    with cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(
                                [f(v) if f else v for f, v in zip(dumps, row.values(), strict=True)]
                            )
            conn.commit()
        conn.autocommit = True
        progress("VACUUM ANALYZE (what autovacuum does after a load)")
        conn.execute("VACUUM ANALYZE")


def _batches(n: int, progress) -> Iterator[Batch]:
    traffic, started, done = Traffic(n, datetime.now(UTC)), time.monotonic(), 0
    for batch in traffic.batches():
        done += len(batch.messages)
        yield batch
        if done % 100_000 < BATCH or done == n:
            progress(f"{done:,} of {n:,} messages seeded ({time.monotonic() - started:.0f} s)")
