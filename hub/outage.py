"""Outages of the store and the broker: what counts as one, how long to wait, how it is logged.

An outage is not a bug. The API answers it with 503 and ``Retry-After``; the relay, the worker
and the consumers wait it out with ``Backoff`` and never exit. Nor is it logged like a bug:
once, 12 s of PostgreSQL downtime under load wrote a traceback per request, 11.8 MB of log.
``OutageLog`` writes one line when a kind of outage starts, at most one line per ``interval``
while it lasts (counting what it held back, by who saw it) and one when it is over. Errors that
are not outages keep their traceback.

Usage (the API, relay, worker and consumers do this; so may any code that meets such errors)::

    unavailable = as_unavailable(exc)        # StoreUnavailable/BrokerError, or None: a bug
    if unavailable is not None:
        outages.failed(kind_of(unavailable), "outbox relay", exc)
    ...
    outages.recovered(STORE, "outbox relay")  # after a round that used the store
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exc as sa

from hub.errors import BrokerError, StoreUnavailable, Unavailable

__all__ = [
    "BROKER",
    "STORE",
    "Backoff",
    "OutageLog",
    "as_unavailable",
    "describe",
    "is_store_outage",
    "kind_of",
    "outages",
]

log = logging.getLogger(__name__)

STORE, BROKER = "store", "broker"

# SQLite reports contention and a missing or broken file as OperationalError, but so are
# "no such table" and syntax errors, which are bugs: only these messages mean an outage.
_SQLITE_OUTAGES = ("locked", "unable to open", "disk i/o error", "disk is full")


def is_store_outage(exc: BaseException) -> bool:
    """True if ``exc`` means the store cannot be reached or is overloaded (the request changed
    nothing and may be retried): a lost or refused connection, an exhausted pool, a server
    shutting down, a statement cancelled by a timeout, SQLite's lock or file errors."""
    if isinstance(exc, sa.TimeoutError | sa.DisconnectionError):  # pool exhausted; disconnect
        return True
    if isinstance(exc, sa.PendingRollbackError):  # touching a connection the outage invalidated
        return exc.__context__ is not None and is_store_outage(exc.__context__)
    if isinstance(exc, sa.DBAPIError):
        if exc.connection_invalidated:
            return True
        if not isinstance(exc, sa.OperationalError | sa.InterfaceError):
            return False
        # PostgreSQL: these are the connection's and the server's state, never a query's.
        return not _from_sqlite(exc.orig) or _sqlite_outage(exc.orig)
    # Raised by the driver, or by one of our hooks, without SQLAlchemy's wrapping.
    names = {cls.__name__ for cls in type(exc).__mro__}
    if not names & {"OperationalError", "InterfaceError"}:
        return False
    if _from_sqlite(exc):
        return _sqlite_outage(exc)
    return type(exc).__module__.split(".")[0] == "psycopg"


def _root(exc: BaseException) -> BaseException:
    """What invalidated the connection says more than touching it afterwards did."""
    if isinstance(exc, sa.PendingRollbackError) and exc.__context__ is not None:
        return exc.__context__
    return exc


def _from_sqlite(exc: BaseException) -> bool:
    return type(exc).__module__ == "sqlite3"


def _sqlite_outage(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _SQLITE_OUTAGES)


def as_unavailable(exc: BaseException) -> Unavailable | None:
    """The ``Unavailable`` that ``exc`` amounts to, or None if it is not an outage (a bug).
    The driver's message stays out of it: it may name hosts and ports."""
    if isinstance(exc, Unavailable):
        return exc
    if is_store_outage(exc):
        root = _root(exc)
        reason = type(getattr(root, "orig", None) or root).__name__
        return StoreUnavailable("the hub's store is unavailable; try again shortly", reason=reason)
    return None


def kind_of(exc: BaseException) -> str:
    """``STORE`` or ``BROKER``. The embedded broker keeps its queues in the store, so its
    ``BrokerError`` caused by a store outage is a store outage."""
    if isinstance(exc, BrokerError) and not is_store_outage(exc.__cause__ or exc):
        return BROKER
    return STORE


def describe(exc: BaseException | str, limit: int = 200) -> str:
    """One short line for a log: the class and the first line of the message (the driver's
    own, with the cause's class for a hub error that wraps one)."""
    if isinstance(exc, str):
        return exc[:limit]
    exc = _root(exc)
    cause = exc.__cause__
    text = f"{type(exc).__name__}: {exc}"
    if cause is not None:
        text += f" ({type(cause).__name__}: {cause})"
    return text.strip().splitlines()[0][:limit]


class Backoff:
    """Waits that double from ``first`` to ``cap`` seconds while a dependency stays down, with
    ±25 % jitter so that a fleet of workers does not reconnect in step; ``reset`` once it
    answers."""

    def __init__(self, first: float = 0.25, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay, self._next = self._next, min(self.cap, self._next * 2)
        return delay * random.uniform(0.75, 1.25)

    def reset(self) -> None:
        self._next = self.first


@dataclass
class _Outage:
    since: float
    last_line: float
    last_failure: float
    latest: str
    held: Counter[str] = field(default_factory=Counter)  # failures not logged, by where
    total: Counter[str] = field(default_factory=Counter)


class OutageLog:
    """One log line per kind of outage per ``interval`` seconds, process-wide: the first
    failure, then a summary of the failures held back, then the recovery.

    ``recovered`` ends an outage only when called by a component that itself failed during
    it: on SQLite the relay's reads succeed while the API's writes wait on a lock, and the
    relay's success must not announce a recovery every round. An outage whose components
    never report success (the API has no success hook) ends after ``interval`` without a
    failure; the next failure then starts a new one."""

    def __init__(
        self,
        logger: logging.Logger = log,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._outages: dict[str, _Outage] = {}

    def failed(self, kind: str, where: str, exc: BaseException | str) -> None:
        """Count a failure of ``kind`` seen by ``where``; log it if a line is due."""
        now, text = self._clock(), describe(exc)
        with self._lock:
            outage = self._outages.get(kind)
            if outage is None or now - outage.last_failure > self.interval:
                self._outages[kind] = _Outage(now, now, now, text, total=Counter({where: 1}))
                line = (
                    f"{kind} unavailable (seen by {where}: {text}); retrying, further "
                    f"failures are counted and logged at most every {self.interval:g} s"
                )
            else:
                outage.last_failure, outage.latest = now, text
                outage.total[where] += 1
                if now - outage.last_line < self.interval:
                    outage.held[where] += 1
                    return
                line = (
                    f"{kind} still unavailable after {now - outage.since:.1f} s: "
                    f"{sum(outage.held.values()) + 1} failures since the last line "
                    f"({_by_where(outage.held + Counter({where: 1}))}); latest from "
                    f"{where}: {text}"
                )
                outage.held.clear()
                outage.last_line = now
        self._log.warning(line)

    def recovered(self, kind: str, where: str) -> None:
        """``where`` used ``kind`` successfully: if it had failed in the current outage, that
        outage is over. Cheap when nothing is down (one dict lookup, no lock)."""
        if kind not in self._outages:
            return
        with self._lock:
            outage = self._outages.get(kind)
            if outage is None:
                return
            if self._clock() - outage.last_failure > self.interval:
                del self._outages[kind]  # long quiet: over without a line (see the class doc)
                return
            if where not in outage.total:
                return
            del self._outages[kind]
        self._log.warning(
            "%s is back (%s answered) after %.1f s and %d failures (%s)",
            kind,
            where,
            self._clock() - outage.since,
            sum(outage.total.values()),
            _by_where(outage.total),
        )

    def current(self) -> dict[str, dict[str, Any]]:
        """What is failing now, for ``/readyz``: since how long, how often, the last error."""
        now = self._clock()
        with self._lock:
            return {
                kind: {
                    "for_seconds": round(now - o.since, 1),
                    "failures": sum(o.total.values()),
                    "seen_by": sorted(o.total),
                    "latest": o.latest,
                }
                for kind, o in self._outages.items()
                if now - o.last_failure <= self.interval
            }


def _by_where(counts: Counter[str]) -> str:
    return ", ".join(f"{where} {n}" for where, n in counts.most_common())


# Process-wide, like the logging it throttles: the API, relay, worker and consumers of one
# process share one line per kind of outage.
outages = OutageLog()
