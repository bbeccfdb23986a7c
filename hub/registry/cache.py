"""What every request reads from the registry — the caller's system, the service, the access
rule, the routes — kept for a few seconds so a submission does not pay four queries for them.

A registry write made through this process clears the cache once it commits
(``hub.registry.writes``); another process sees it within ``ttl`` seconds. Only positive
answers are kept: a new access rule or system works immediately everywhere, and a refusal is
never served from the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, or_, select

from hub.store.tables import access_rules, agencies, routes, services, systems

__all__ = ["RegistryCache"]


class RegistryCache:
    def __init__(self, reader: Engine, ttl: float) -> None:
        self._reader = reader
        self._ttl = ttl
        self._entries: dict[tuple, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _get(self, key: tuple, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        value = load()
        if value:
            with self._lock:
                self._entries[key] = (now, value)
        return value

    def knows(self, *key: Any) -> bool:
        """Is ``key`` answered from memory now (no store read)? E.g. ``("system", prefix)``."""
        with self._lock:
            hit = self._entries.get(key)
        return bool(hit) and time.monotonic() - hit[0] < self._ttl

    def _one(self, query) -> Mapping[str, Any] | None:
        with self._reader.connect() as conn:
            return conn.execute(query).mappings().first()

    def system_by_key_prefix(self, prefix: str) -> Mapping[str, Any] | None:
        """The system whose current key, or whose key before the last rotation, has
        ``prefix``; with ``agency_enabled``."""
        return self._get(
            ("system", prefix),
            lambda: self._one(
                select(systems, agencies.c.enabled.label("agency_enabled"))
                .join(agencies, agencies.c.code == systems.c.agency_code)
                .where(or_(systems.c.key_prefix == prefix, systems.c.previous_key_prefix == prefix))
            ),
        )

    def service(self, code: str) -> Mapping[str, Any] | None:
        return self._get(
            ("service", code), lambda: self._one(select(services).where(services.c.code == code))
        )

    def allowed(self, system: str, service: str) -> bool:
        return bool(
            self._get(
                ("allowed", system, service),
                lambda: self._one(
                    select(access_rules.c.id).where(
                        access_rules.c.system_code == system,
                        access_rules.c.service_code == service,
                        access_rules.c.enabled.is_(True),
                    )
                ),
            )
        )

    def routes(self) -> list[Mapping[str, Any]]:
        def load() -> list[Mapping[str, Any]]:
            with self._reader.connect() as conn:
                return list(conn.execute(select(routes)).mappings().all())

        return self._get(("routes",), load)
