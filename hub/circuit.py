"""A circuit breaker per connector instance, shared by every worker through the store.

National axes go down for hours. Without a breaker every queued message would spend attempts
(and the workers' time) against a partner that cannot answer. After ``threshold`` consecutive
transient failures the circuit opens: the workers pause that connector's queue, so messages
stay queued — not dead, no attempt spent. Every ``probe_seconds`` one message is let through as
a probe (the circuit is half-open while it runs); its success closes the circuit and the queue
resumes by itself, its failure keeps the circuit open until the next probe. Permanent failures
(a poison message) say nothing about the partner and never count.

The state lives in the ``circuits`` table so that every worker process, ``/readyz`` and
``lgsp connectors list`` see the same thing; each process keeps a mirror refreshed every
``refresh_seconds`` so the hot path (a success on a closed circuit) costs no query and no write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.config import Settings
from hub.store.db import as_utc, utcnow
from hub.store.tables import circuits

__all__ = ["CircuitState", "Circuits", "Gate"]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Gate:
    """May a delivery through this connector be attempted now? ``probe``: this attempt is the
    one that tests a half-open circuit. Otherwise come back after ``wait_seconds``."""

    go: bool
    probe: bool = False
    wait_seconds: float = 0.0


GO = Gate(True)


class Circuits:
    def __init__(
        self, engine: Engine, reader: Engine, settings: Settings, refresh_seconds: float = 1.0
    ) -> None:
        self._engine = engine
        self._reader = reader
        self.threshold = settings.circuit_failure_threshold
        self.probe_seconds = settings.circuit_probe_seconds
        self._refresh_seconds = refresh_seconds
        self._mirror: dict[str, dict[str, Any]] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    # ── reading ──────────────────────────────────────────────────────────────────────────
    def all(self, fresh: bool = False) -> dict[str, dict[str, Any]]:
        """Every circuit that has ever failed, by connector (a missing one is closed)."""
        if fresh or time.monotonic() - self._loaded > self._refresh_seconds:
            with self._reader.connect() as conn:
                rows = {
                    r["connector"]: dict(
                        r,
                        opened_at=as_utc(r["opened_at"]),
                        probe_at=as_utc(r["probe_at"]),
                        updated_at=as_utc(r["updated_at"]),
                    )
                    for r in conn.execute(select(circuits)).mappings()
                }
            with self._lock:
                self._mirror, self._loaded = rows, time.monotonic()
        with self._lock:
            return dict(self._mirror)

    def state(self, connector: str) -> Mapping[str, Any] | None:
        return self.all().get(connector)

    def paused(self, connector: str) -> bool:
        """Should the workers stop taking this connector's messages now? True while the
        circuit is open or a probe runs, until the next probe is due."""
        row = self.state(connector)
        return bool(
            row
            and row["state"] != CircuitState.CLOSED
            and row["probe_at"]
            and utcnow() < row["probe_at"]
        )

    # ── deciding ─────────────────────────────────────────────────────────────────────────
    def admit(self, connector: str) -> Gate:
        row = self.state(connector)
        if row is None or row["state"] == CircuitState.CLOSED:
            return GO
        now = utcnow()
        if row["probe_at"] is None or now >= row["probe_at"]:
            with self._engine.begin() as conn:
                won = conn.execute(
                    update(circuits)
                    .where(
                        circuits.c.connector == connector,
                        circuits.c.state != CircuitState.CLOSED,
                        (circuits.c.probe_at.is_(None)) | (circuits.c.probe_at <= now),
                    )
                    .values(
                        state=CircuitState.HALF_OPEN,
                        updated_at=now,
                        probe_at=now + timedelta(seconds=self.probe_seconds),
                    )
                ).rowcount
            self.all(fresh=True)
            if won:
                return Gate(True, probe=True)
            row = self.state(connector) or row
            if row["state"] == CircuitState.CLOSED:
                return GO
        if row["state"] == CircuitState.HALF_OPEN:
            return Gate(False, wait_seconds=1.0)
        return Gate(False, wait_seconds=max(0.5, _seconds_until(row["probe_at"], now)))

    def failed(self, connector: str, error: str, probe: bool) -> bool:
        """Count a transient failure; True when this failure opened the circuit."""
        now = utcnow()
        with self._engine.begin() as conn:
            if probe:
                conn.execute(
                    update(circuits)
                    .where(circuits.c.connector == connector)
                    .values(
                        state=CircuitState.OPEN,
                        failures=circuits.c.failures + 1,
                        last_error=error,
                        updated_at=now,
                        probe_at=now + timedelta(seconds=self.probe_seconds),
                    )
                )
                opened = False
            else:
                dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = dialect.insert(circuits).values(
                    connector=connector,
                    state=CircuitState.CLOSED,
                    failures=1,
                    last_error=error,
                    updated_at=now,
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=[circuits.c.connector],
                    set_={
                        "failures": circuits.c.failures + 1,
                        "last_error": error,
                        "updated_at": now,
                    },
                ).returning(circuits.c.failures, circuits.c.state)
                failures, state = conn.execute(stmt).one()
                opened = (
                    state == CircuitState.CLOSED
                    and failures >= self.threshold
                    and bool(
                        conn.execute(
                            update(circuits)
                            .where(
                                circuits.c.connector == connector,
                                circuits.c.state == CircuitState.CLOSED,
                            )
                            .values(
                                state=CircuitState.OPEN,
                                opened_at=now,
                                probe_at=now + timedelta(seconds=self.probe_seconds),
                            )
                        ).rowcount
                    )
                )
        self.all(fresh=True)
        return opened

    def succeeded(self, connector: str) -> bool:
        """The partner answered; True when this closed an open or half-open circuit. Costs
        nothing while the circuit is closed with no failures counted."""
        row = self.state(connector)
        if row is None or (row["state"] == CircuitState.CLOSED and row["failures"] == 0):
            return False
        with self._engine.begin() as conn:
            closed = conn.execute(
                update(circuits)
                .where(circuits.c.connector == connector, circuits.c.state != CircuitState.CLOSED)
                .values(state=CircuitState.CLOSED, failures=0, probe_at=None, updated_at=utcnow())
            ).rowcount
            if not closed:
                conn.execute(
                    update(circuits)
                    .where(circuits.c.connector == connector, circuits.c.failures != 0)
                    .values(failures=0, updated_at=utcnow())
                )
        self.all(fresh=True)
        return bool(closed)


def _seconds_until(when: datetime | None, now: datetime) -> float:
    return (when - now).total_seconds() if when else 0.0
