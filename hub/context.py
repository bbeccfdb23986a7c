"""The running hub: settings, the store's engine, blob store, broker and connector instances.
One ``Hub`` per process, passed explicitly (no globals), closed on shutdown.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from hub.brokers.base import Broker
from hub.config import Settings
from hub.connector import Connector, connector_type
from hub.errors import NotFound
from hub.registry_cache import RegistryCache
from hub.store.blobs import BlobStore
from hub.store.db import make_engine, reader, upgrade
from hub.store.tables import connector_instances

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

    return RabbitMQBroker(settings.broker_url, queue_type=settings.rabbitmq_queue_type,
                          prefix=settings.queue_prefix)


class Hub:
    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.engine = make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size)
        self.reader = reader(self.engine)
        self.registry = RegistryCache(self.reader, settings.registry_cache_seconds)
        if migrate:
            upgrade(self.engine)
        self.blobs = BlobStore(settings.blob_path)
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
            row = conn.execute(select(connector_instances)
                               .where(connector_instances.c.name == name)).mappings().first()
        if row is None or not row["enabled"]:
            raise NotFound(f"connector instance {name!r} is not registered or is disabled")
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

    def keep_payload(self, body: bytes) -> str | None:
        """Claim check: a payload above the threshold goes to the blob store; returns its
        reference, or None when it stays inline in the message row."""
        return self.blobs.put(body) if len(body) > self.settings.blob_threshold_bytes else None

    def payload(self, row) -> bytes:
        """A message's payload, inline or from the blob store (claim check)."""
        return row["payload"] if row["blob_ref"] is None else self.blobs.get(row["blob_ref"])

    def close(self) -> None:
        for _, _, instance in self._connectors.values():
            instance.close()
        self.broker.close()
        self.engine.dispose()
