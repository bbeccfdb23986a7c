"""The running hub: settings, the store's engine, blob store, broker, connector instances, the
event observers, the denial recorder, the circuits and the metrics they feed. One ``Hub`` per
process, passed explicitly (no globals), closed on shutdown. Constructing one never migrates
the store: only ``lgsp db upgrade`` and ``lgsp serve`` do (``hub.store.db.upgrade``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, select

from hub.access import Denials
from hub.brokers.base import Broker
from hub.circuit import Circuits
from hub.config import Settings
from hub.connector import Connector, connector_type
from hub.errors import ConnectorDisabled, NotFound
from hub.events import PENDING, Event, Observers
from hub.mapping import FolderSource, Mappings
from hub.mapping.sources import RegistrySource
from hub.metrics import HubMetrics
from hub.payload import Payload
from hub.registry import RegistryCache
from hub.registry.documents import Documents
from hub.schemas import Schemas
from hub.store.blobs import BlobStore
from hub.store.db import make_engine, reader
from hub.store.tables import connector_instances

__all__ = ["Hub", "delivery_queue"]

QUEUE_PREFIX = "lgsp.deliver."
CONNECTOR_TTL_SECONDS = 10.0


def delivery_queue(connector: str) -> str:
    """Each connector instance has its own queue, so one slow partner delays no other."""
    return QUEUE_PREFIX + connector


def make_broker(settings: Settings, engine) -> Broker:
    if settings.broker_url == "embedded":
        from hub.brokers.embedded import EmbeddedBroker

        return EmbeddedBroker(engine, lease_seconds=settings.lease_seconds)
    from hub.brokers.rabbitmq import RabbitMQBroker

    return RabbitMQBroker(
        settings.broker_url, queue_type=settings.rabbitmq_queue_type, prefix=settings.queue_prefix
    )


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(
            settings.sqlalchemy_url,
            pool_size=settings.db_pool_size,
            busy_timeout=settings.db_busy_timeout_seconds,
            connect_timeout=settings.db_connect_timeout_seconds,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        self.reader = reader(self.engine)
        self.registry = RegistryCache(self.reader, settings.registry_cache_seconds)
        self.events = Observers()
        self.denials = Denials(self.engine)
        self.circuits = Circuits(self.engine, self.reader, settings)
        self.metrics = HubMetrics(self.reader, self.circuits, settings.metrics_sample_seconds)
        self.events.add(self.metrics.observe)
        self.denials.watch(self.metrics.denied)
        self.blobs = BlobStore(settings.blob_path)
        self.documents = Documents(self.reader, settings.registry_cache_seconds)
        self.schemas = Schemas(settings.schema_dir, self.documents)
        self.mappings = Mappings(
            RegistrySource(self.documents, FolderSource(settings.mapping_dir)), self.schemas
        )
        self.broker = make_broker(settings, self.engine)
        self._connectors: dict[str, tuple[float, dict, Connector]] = {}
        self._lock = threading.Lock()
        self.outbox_signal = threading.Event()

    def connector(self, name: str) -> Connector:
        """The live instance of connector ``name``, rebuilt when its configuration changes."""
        now = time.monotonic()
        with self._lock:
            cached = self._connectors.get(name)
        if cached and now - cached[0] < CONNECTOR_TTL_SECONDS:
            return cached[2]
        with self.reader.connect() as conn:
            row = (
                conn.execute(select(connector_instances).where(connector_instances.c.name == name))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"connector instance {name!r} is not registered")
        if not row["enabled"]:
            raise ConnectorDisabled(f"connector instance {name!r} is disabled", connector=name)
        config = {"type": row["type"], **row["config"]}
        if cached and cached[1] == config:
            instance = cached[2]
        else:
            if cached:
                cached[2].close()
            instance = connector_type(row["type"])(name, row["config"])
        with self._lock:
            self._connectors[name] = (now, config, instance)
        return instance

    def registry_changed(self) -> None:
        """A registry write committed: forget the cached registry and re-read each connector
        instance at its next use (its live client is kept if its configuration is the same)."""
        self.registry.clear()
        self.documents.clear()
        with self._lock:
            self._connectors = {n: (-math.inf, c, i) for n, (_, c, i) in self._connectors.items()}

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction whose recorded events reach the observers once it commits."""
        pending: list[Event] = []
        with self.engine.begin() as conn:
            info = conn.info  # read now: after a lost connection it cannot be read any more
            info[PENDING] = pending
            try:
                yield conn
            finally:
                info.pop(PENDING, None)
        if pending:
            self.events.notify(pending)

    def enqueued(self) -> None:
        """Deliveries were enqueued in a transaction that has committed: wake this process's
        consumers (embedded queue rows) or the relay (outbox rows) — not both: a relay woken
        for nothing costs a store round per message."""
        if self.broker.in_store:
            self.broker.notify()
        else:
            self.outbox_signal.set()

    def keep_payload(self, payload: Payload) -> str | None:
        """Claim check: a payload above the threshold lives in the blob store; returns its
        reference, or None when it stays inline in the message row. A payload the API already
        spooled to the blob store is referenced as it is, never copied."""
        if payload.size <= self.settings.blob_threshold_bytes and payload.data is not None:
            return None
        if payload.data is not None:
            return self.blobs.put(payload.data)
        return f"sha256:{payload.sha256}"

    def payload(self, row) -> Payload:
        """A message's payload, inline or from the blob store (claim check)."""
        if row["blob_ref"] is None:
            return Payload(
                row["size"], row["payload_sha256"], row["content_type"], data=row["payload"]
            )
        return self.blobs.payload(
            row["blob_ref"], row["size"], row["payload_sha256"], row["content_type"]
        )

    def close(self) -> None:
        self.metrics.stop()
        self.denials.close()
        for _, _, instance in self._connectors.values():
            instance.close()
        self.broker.close()
        self.engine.dispose()
