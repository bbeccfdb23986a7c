"""Who is calling, and may they: API key → ``Caller``, access rules, and the record of refusals.

X-Road style, every system — the admin's included — sends to a service only under an access
rule naming both; the admin role grants the registry and the operations, not the right to send.
A refusal is recorded as a denial, but a flood of refusals must not become a flood of
synchronous writes that slows genuine traffic: ``Denials`` buffers them, folds identical ones
(same source, system, service, action, reason) into one row with a count, and writes them in a
batch from a background thread. Watchers (the metrics) are told each refusal as it comes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, insert

from hub.errors import Forbidden, Unauthenticated
from hub.model import Caller
from hub.outage import kind_of, outages
from hub.registry import RegistryCache
from hub.security import escape_controls, key_matches, mask_text, split_key
from hub.store.db import as_utc, utcnow
from hub.store.tables import denials

__all__ = ["Denials", "authenticate", "authorise", "needs_store", "presented_key", "require_admin"]

log = logging.getLogger(__name__)
UNKNOWN_KEY = "unknown API key"


class Denials:
    """Refusals, folded and written in batches. ``flush`` writes what is pending (tests and
    shutdown call it); the background thread does so every ``interval`` seconds. At most
    ``max_pending`` distinct refusals are held; beyond that they are only counted, so memory is
    bounded whatever the flood."""

    def __init__(self, engine: Engine, interval: float = 1.0, max_pending: int = 10_000) -> None:
        self._engine = engine
        self._interval = interval
        self._max_pending = max_pending
        self._pending: dict[tuple, dict[str, Any]] = {}
        self._dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watchers: list[Callable[[str], None]] = []

    def watch(self, watcher: Callable[[str], None]) -> None:
        """Tell ``watcher`` the reason of every refusal as it is buffered, held or not."""
        self._watchers.append(watcher)

    def add(
        self,
        caller: Caller | None,
        service: str | None,
        action: str,
        reason: str,
        remote_addr: str | None,
    ) -> None:
        system = caller.system if caller else None
        action = escape_controls(mask_text(action))[:100]
        addr = escape_controls(remote_addr or "")[:64] or None
        key = (addr, system, service, action, reason)
        with self._lock:
            row = self._pending.get(key)
            if row is not None:
                row["count"] += 1
            elif len(self._pending) < self._max_pending:
                self._pending[key] = {
                    "at": utcnow(),
                    "system_code": system,
                    "service_code": service,
                    "action": action,
                    "reason": reason[:300],
                    "remote_addr": addr,
                    "count": 1,
                }
            else:
                self._dropped += 1
            first = row is None
        if first:
            log.warning("denied %s on %s for %s: %s", action, service, system or "-", reason)
        for watcher in self._watchers:
            try:
                watcher(reason)
            except Exception:  # a watcher's bug must not turn a refusal into a 500
                log.exception("denial watcher %r failed", watcher)
        self._ensure_thread()

    def flush(self) -> int:
        """Write what is pending; returns the number of rows written. A store outage keeps
        them pending for the next round (bounded by ``max_pending``)."""
        with self._lock:
            held, self._pending = self._pending, {}
            dropped, self._dropped = self._dropped, 0
        rows = list(held.values())
        if dropped:
            log.warning("%d more refusals were not recorded (denial buffer full)", dropped)
        if not rows:
            return 0
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(denials), rows)
        except Exception as exc:  # the store is down: keep them for the next round
            with self._lock:
                for key, row in held.items():
                    if key in self._pending:
                        self._pending[key]["count"] += row["count"]
                    elif len(self._pending) < self._max_pending:
                        self._pending[key] = row
            outages.failed(kind_of(exc), "denials", exc)
            return 0
        return len(rows)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="denials", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.flush()


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization: Bearer …`` or ``X-API-Key`` (lower-case header names)."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key")


def needs_store(registry: RegistryCache, key: str | None) -> bool:
    """Would ``authenticate`` read the store for ``key`` (its system is not in the cache)?"""
    prefix = split_key(key) if key else None
    return prefix is not None and not registry.knows("system", prefix)


def authenticate(
    registry: RegistryCache,
    recorded: Denials,
    key: str | None,
    action: str,
    remote_addr: str | None,
) -> Caller:
    """The caller behind ``key``, or ``Unauthenticated`` with the refusal recorded."""
    if not key:
        recorded.add(None, None, action, "no API key", remote_addr)
        raise Unauthenticated("an API key is required (Authorization: Bearer … or X-API-Key)")
    prefix = split_key(key)
    row = registry.system_by_key_prefix(prefix) if prefix else None
    refusal = _refusal(row, prefix, key)
    if refusal:
        # the caller learns only that the key is not valid; the admin reads why in the denial
        known = row is not None and refusal != UNKNOWN_KEY  # the key itself was right
        caller = Caller(row["code"], row["agency_code"], row["role"]) if known else None
        recorded.add(caller, None, action, refusal, remote_addr)
        raise Unauthenticated("the API key is not valid")
    return Caller(system=row["code"], agency=row["agency_code"], role=row["role"])


def _refusal(row: Mapping[str, Any] | None, prefix: str | None, key: str) -> str | None:
    """Why ``key`` is refused, or None: the current key, or the one before the last rotation
    while its grace period lasts, of an active system of an enabled agency."""
    if row is None:
        return UNKNOWN_KEY
    if prefix == row["key_prefix"]:
        if not key_matches(key, row["key_hash"]):
            return UNKNOWN_KEY
    elif not row["previous_key_hash"] or not key_matches(key, row["previous_key_hash"]):
        return UNKNOWN_KEY
    elif row["key_revoked_at"] is None and as_utc(row["previous_key_until"]) <= utcnow():
        return "API key replaced (its grace period is over)"
    if row["key_revoked_at"] is not None:
        return "API key revoked"
    if not row["active"]:
        return "system deactivated"
    if not row["agency_enabled"]:
        return "agency disabled"
    return None


def require_admin(recorded: Denials, caller: Caller, action: str, remote_addr: str | None) -> None:
    if not caller.is_admin:
        recorded.add(caller, None, action, "admin role required", remote_addr)
        raise Forbidden("this action needs the admin role")


def authorise(
    registry: RegistryCache, recorded: Denials, caller: Caller, service: str, action: str
) -> None:
    """A system may send to a service only under an access rule naming both — checked before
    anything says whether the service exists or how it works, so a system without a rule
    learns nothing about it. The admin is no exception."""
    if not registry.allowed(caller.system, service):
        recorded.add(caller, service, action, "no access rule", None)
        raise Forbidden(
            f"system {caller.system!r} may not call service {service!r}", service=service
        )
