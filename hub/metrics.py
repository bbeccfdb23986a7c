"""Prometheus metrics for ``/metrics``, kept in memory as the hub works, so that a scrape reads
no store and a busy store never slows a scrape (nor a scrape the store).

Counters and histograms are fed by the event observers (``Hub.events``: told once a step has
committed) and by the denial recorder (``Denials.watch``). What events cannot keep exactly —
how many deliveries wait per connector, dead letters after a restart, a circuit gone half-open
— a sampler reads from the store every ``interval`` seconds in a thread of its own: one grouped
query on the deliveries, the registered connector names, and the circuits' mirror. It starts
with the first scrape, so only a process that is scraped spends those queries.

Labels are bounded by the registry (service and connector codes); ids never become labels,
and a denial's reason is cut before the first value in it (an agency code) with at most
``MAX_REASONS`` reasons kept apart. Counters are per process: Prometheus sums them over the
hub's API processes; the sampled gauges are the whole hub's, the same in every process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from sqlalchemy import Engine, select

from hub import trace
from hub.circuit import Circuits, CircuitState
from hub.events import Event
from hub.model import ATTEMPT_CLOSED, EventKind, Status
from hub.outage import STORE, as_unavailable, outages
from hub.store.tables import connector_instances

__all__ = ["CIRCUIT_VALUES", "HubMetrics"]

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIZE_BUCKETS = tuple(1024 * 4**i for i in range(11))  # 1 KiB … 1 GiB
CIRCUIT_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
MAX_REASONS = 50
UNKNOWN = "unknown"

# The events that are an outcome of a delivery (``ATTEMPT_CLOSED`` closes an attempt).
OUTCOMES = frozenset({EventKind.DELIVERED, EventKind.FAILED, EventKind.DEAD, EventKind.UNROUTABLE})
LEFT_DEAD = frozenset({EventKind.REPLAYED, EventKind.DISCARDED})
_VALUE_IN_REASON = re.compile(r"\s*\S*[\d.].*")  # from the first word holding a code or number

_CONNECTORS = select(connector_instances.c.name)


class HubMetrics:
    """One hub's metrics, in a registry of its own (never the process-wide default one, so
    that many hubs in one process — the tests — each count their own)."""

    def __init__(self, reader: Engine, circuits: Circuits, interval: float = 15.0) -> None:
        self._reader = reader
        self._circuits = circuits
        self._interval = interval
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter(
            "lgsp_messages",
            "Messages received per service, and the outcomes of their deliveries "
            "(delivered, failed, dead, unroutable) per service",
            ["service", "status"],
            registry=r,
        )
        self.deliveries = Counter(
            "lgsp_deliveries",
            "Delivery attempts per connector and how each ended "
            "(delivered, retrying, failed, dead)",
            ["connector", "outcome"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "lgsp_delivery_seconds",
            "Time a partner took to answer one delivery attempt",
            ["connector"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.payload_bytes = Histogram(
            "lgsp_payload_bytes",
            "Size of the payloads received per service",
            ["service"],
            buckets=SIZE_BUCKETS,
            registry=r,
        )
        self.denials = Counter(
            "lgsp_denials", "Refused requests, by reason", ["reason"], registry=r
        )
        self.queue_depth = Gauge(
            "lgsp_queue_depth",
            "Deliveries waiting per connector (queued, retrying or being delivered), sampled",
            ["connector"],
            registry=r,
        )
        self.dead_letters = Gauge(
            "lgsp_dead_letters",
            "Dead deliveries per connector awaiting replay or discard; sampled, "
            "kept by events between samples",
            ["connector"],
            registry=r,
        )
        self.circuit_state = Gauge(
            "lgsp_circuit_state",
            "Circuit of each connector: 0 closed, 1 half-open (a probe runs), 2 open",
            ["connector"],
            registry=r,
        )
        self.circuit_opened = Counter(
            "lgsp_circuit_opened_total",
            "Times each connector's circuit opened: an alert sees an outage that a probe "
            "closed again before the next scrape",
            ["connector"],
            registry=r,
        )
        self.sampled_at = Gauge(
            "lgsp_sampled_at_seconds",
            "When the sampled gauges were last read from the store (Unix time): "
            "an old value means the store could not be read",
            registry=r,
        )
        self._reasons: set[str] = set()
        self._sampled: dict[Gauge, set[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ── fed by the hub ───────────────────────────────────────────────────────────────────
    def observe(self, events: Sequence[Event]) -> None:
        """The event observer: count what a committed transaction recorded."""
        services = {
            e.message_id: e.details["service"]
            for e in events
            if e.event == EventKind.RECEIVED and e.details and e.details.get("service")
        }
        connectors = {e.delivery_id: e.connector for e in events if e.connector}
        for e in events:
            kind = e.event
            if kind == EventKind.RECEIVED:
                service = services.get(e.message_id, UNKNOWN)
                self.messages.labels(service, "received").inc()
                if e.size_in is not None:
                    self.payload_bytes.labels(service).observe(e.size_in)
                continue
            if kind in OUTCOMES:
                self.messages.labels(_service_of(e, services), str(kind)).inc()
            connector = e.connector or connectors.get(e.delivery_id)
            if kind in ATTEMPT_CLOSED:
                connector = connector or UNKNOWN
                self.deliveries.labels(connector, str(kind)).inc()
                if e.duration_ms is not None:
                    self.delivery_seconds.labels(connector).observe(e.duration_ms / 1000)
                if kind == EventKind.DEAD:
                    self.dead_letters.labels(connector).inc()
            elif kind in LEFT_DEAD and connector:  # else the next sample corrects the gauge
                self.dead_letters.labels(connector).dec()
            elif kind == EventKind.CIRCUIT_OPENED and connector:
                self.circuit_state.labels(connector).set(CIRCUIT_VALUES[CircuitState.OPEN])
                self.circuit_opened.labels(connector).inc()
            elif kind == EventKind.CIRCUIT_CLOSED and connector:
                self.circuit_state.labels(connector).set(CIRCUIT_VALUES[CircuitState.CLOSED])

    def denied(self, reason: str) -> None:
        """The denial watcher: count a refusal as it is buffered."""
        self.denials.labels(self._reason_label(reason)).inc()

    def _reason_label(self, reason: str) -> str:
        label = _VALUE_IN_REASON.sub("", reason, count=1).strip() or "other"
        with self._lock:
            if label in self._reasons:
                return label
            if len(self._reasons) >= MAX_REASONS:
                return "other"
            self._reasons.add(label)
        return label

    # ── sampled from the store ───────────────────────────────────────────────────────────
    def sample(self) -> None:
        """Read what events cannot keep exactly: waiting and dead deliveries per connector and
        each registered connector's circuit."""
        with self._reader.connect() as conn:
            names = set(conn.execute(_CONNECTORS).scalars())
            waiting = trace.backlog(conn)
        circuits = {name: row["state"] for name, row in self._circuits.all().items()}
        depth, dead = dict.fromkeys(names, 0), dict.fromkeys(names, 0)
        for connector, statuses in waiting.items():
            dead[connector] = statuses.get(Status.DEAD, 0)
            depth[connector] = sum(n for st, n in statuses.items() if st != Status.DEAD)
        self._set(self.queue_depth, depth)
        self._set(self.dead_letters, dead)
        self._set(
            self.circuit_state,
            {name: CIRCUIT_VALUES[circuits.get(name, CircuitState.CLOSED)] for name in names},
        )
        self.sampled_at.set_to_current_time()

    def _set(self, gauge: Gauge, values: Mapping[str, float]) -> None:
        """Set ``gauge`` per connector; drop the connectors of the last sample that are gone."""
        for connector in self._sampled.get(gauge, set()) - values.keys():
            gauge.remove(connector)
        for connector, value in values.items():
            gauge.labels(connector).set(value)
        self._sampled[gauge] = set(values)

    def start(self) -> None:
        """Run the sampler (once; never again after ``stop``)."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.sample()
                outages.recovered(STORE, "metrics sampler")
            except Exception as exc:  # the store is down, or a bug: the gauges wait, stale
                if as_unavailable(exc) is None:
                    log.exception("the metrics sampler failed")
                else:
                    outages.failed(STORE, "metrics sampler", exc)
            if self._stop.wait(self._interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    # ── scraped ──────────────────────────────────────────────────────────────────────────
    def render(self) -> tuple[bytes, str]:
        """The exposition (body, content type), from memory; the first call starts the
        sampler, so the sampled gauges appear from the next scrape on."""
        self.start()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose this process's metrics on ``host:port`` (prometheus_client's own server):
        for a worker process, which serves no API but is where deliveries are counted. No key
        is asked there, so it listens on the loopback unless told otherwise."""
        start_http_server(port, addr=host, registry=self.registry)


def _service_of(event: Event, services: Mapping[str, str]) -> str:
    """The service an outcome belongs to: named in its details, or by the ``received`` event
    committed with it (a synchronous call, a parked message)."""
    named = (event.details or {}).get("service")
    return named or services.get(event.message_id, UNKNOWN)
