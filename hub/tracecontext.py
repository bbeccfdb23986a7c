"""The work in hand — which message, its correlation id, its W3C trace — kept in context
variables, so every log line says what it is about (``ContextFilter``, read by ``hub.logs``)
and every request to a partner carries the caller's trace (W3C Trace Context,
``traceparent``/``tracestate``).

A message keeps its trace across processes: the API binds the caller's trace (a child span of
it, or a new trace) for the request, ``stamp`` writes it into the message's envelope headers at
accept, and the worker, later and elsewhere, binds a child of it for each delivery attempt
(``for_attempt``). A ``traceparent`` that is not valid is ignored and a new trace started: a
caller's tracing never makes a request fail.

The bound trace is also made the current span of the OpenTelemetry context (the API package,
no SDK needed): the HTTP toolkit (``connectors.http``), which may import nothing of the hub but
the connector seam, injects it from there into each partner request — as would an operator's
own OpenTelemetry instrumentation.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, NamedTuple

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace

__all__ = [
    "TRACEPARENT",
    "TRACESTATE",
    "ContextFilter",
    "Trace",
    "bound",
    "current",
    "for_attempt",
    "parse",
    "stamp",
    "start",
]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
MAX_TRACESTATE_CHARS = 512  # what W3C asks every participant to pass on; longer is dropped
MAX_TRACESTATE_MEMBERS = 32
_FLAGS_KEPT = 0x03  # sampled, and (Trace Context level 2) random trace-id: both hold for a child

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_MEMBER = re.compile(
    r"(?:[a-z][_0-9a-z*/-]{0,255}|[a-z0-9][_0-9a-z*/-]{0,240}@[a-z][_0-9a-z*/-]{0,13})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)


class Trace(NamedTuple):
    """A place in a W3C trace: the trace-id, this span's id (the parent-id of whatever it
    calls), the flags, and the vendors' ``tracestate`` as the caller gave it."""

    trace_id: str
    span_id: str
    flags: str = "01"
    state: str | None = None

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> Trace:
        """The same trace, a new span: what the hub does on behalf of this one."""
        return self._replace(span_id=_random_hex(64))

    def headers(self) -> dict[str, str]:
        """The trace as HTTP (and envelope) headers."""
        if self.state:
            return {TRACEPARENT: self.traceparent, TRACESTATE: self.state}
        return {TRACEPARENT: self.traceparent}


def parse(traceparent: str | None, tracestate: str | None = None) -> Trace | None:
    """The trace a caller sent, or None when ``traceparent`` is missing or not valid: version
    00 exactly, a later version read as 00 (its extra fields after a ``-`` ignored), never
    version ff; a trace-id and a parent-id that are not all zeros. ``tracestate`` is kept only
    with a valid ``traceparent``, and only if it is well formed and at most 512 characters."""
    if not traceparent:
        return None
    value = traceparent.strip(" \t")
    match = _TRACEPARENT.fullmatch(value[:55])
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or (version == "00" and len(value) != 55):
        return None
    if len(value) > 55 and value[55] != "-":
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return Trace(trace_id, parent_id, f"{int(flags, 16) & _FLAGS_KEPT:02x}", _state(tracestate))


def start(trace_id: str | None = None) -> Trace:
    """A new trace (sampled: the hub records what it does in its log and trace rows)."""
    return Trace(trace_id or _random_hex(128), _random_hex(64))


def for_attempt(message_id: str, headers: Mapping[str, str]) -> Trace:
    """The span of one delivery attempt: a child of the trace stored with the message, else of
    the one bound now (a synchronous call, inside its request). A message that came without
    one (pulled from a national axis) is traced under its own id — a UUID is a valid
    trace-id — so all its attempts are one trace."""
    parent = parse(headers.get(TRACEPARENT), headers.get(TRACESTATE)) or current()
    if parent is not None:
        return parent.child()
    try:
        return start(uuid.UUID(message_id).hex)
    except ValueError:
        return start()


_message_id: ContextVar[str | None] = ContextVar("lgsp_message_id", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("lgsp_correlation_id", default=None)
_trace: ContextVar[Trace | None] = ContextVar("lgsp_trace", default=None)


def current() -> Trace | None:
    return _trace.get()


@contextmanager
def bound(
    *,
    message_id: str | None = None,
    correlation_id: str | None = None,
    traceparent: Trace | None = None,
) -> Iterator[None]:
    """The given parts of the work in hand, for the block (the others stay as they are)."""
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = []
    for var, value in (
        (_message_id, message_id),
        (_correlation_id, correlation_id),
        (_trace, traceparent),
    ):
        if value is not None:
            tokens.append((var, var.set(value)))
    otel_token = None
    if traceparent is not None:
        otel_token = otel_context.attach(otel_trace.set_span_in_context(_otel_span(traceparent)))
    try:
        yield
    finally:
        if otel_token is not None:
            otel_context.detach(otel_token)
        for var, token in reversed(tokens):
            var.reset(token)


def stamp(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` with the bound trace added, for a message's envelope: the worker that
    delivers it continues that trace."""
    trace = _trace.get()
    return {**headers, **trace.headers()} if trace is not None else headers


class ContextFilter(logging.Filter):
    """Puts the work in hand on every record (``message_id``, ``correlation_id``,
    ``trace_id``, ``span_id``), unless the record was given its own through ``extra``."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace = _trace.get()
        for name, value in (
            ("message_id", _message_id.get()),
            ("correlation_id", _correlation_id.get()),
            ("trace_id", trace.trace_id if trace else None),
            ("span_id", trace.span_id if trace else None),
        ):
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


def _state(tracestate: str | None) -> str | None:
    """``tracestate`` as given (its members' spacing tidied), or None if it is not valid:
    longer than 512 characters, over 32 members, a malformed member or a key given twice."""
    if not tracestate or len(tracestate) > MAX_TRACESTATE_CHARS:
        return None
    members = [m.strip(" \t") for m in tracestate.split(",")]
    members = [m for m in members if m]
    keys = {m.split("=", 1)[0] for m in members}
    if not members or len(members) > MAX_TRACESTATE_MEMBERS or len(keys) != len(members):
        return None
    if not all(_MEMBER.fullmatch(m) for m in members):
        return None
    return ",".join(members)


def _random_hex(bits: int) -> str:
    """A random id of ``bits`` in hex, never all zeros (an id W3C calls invalid). Not from
    ``secrets``: an id is not a secret, and this is made twice per request (as OpenTelemetry's
    own id generator does)."""
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


def _otel_span(trace: Trace) -> otel_trace.NonRecordingSpan:
    state = otel_trace.TraceState(
        [tuple(m.split("=", 1)) for m in trace.state.split(",")] if trace.state else None
    )
    return otel_trace.NonRecordingSpan(
        otel_trace.SpanContext(
            trace_id=int(trace.trace_id, 16),
            span_id=int(trace.span_id, 16),
            is_remote=False,
            trace_flags=otel_trace.TraceFlags(int(trace.flags, 16)),
            trace_state=state,
        )
    )
