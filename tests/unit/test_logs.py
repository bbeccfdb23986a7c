"""Log lines and the context they carry: a JSON object per record with the message id, the
correlation id and the trace of the work in hand, personal data masked and control characters
escaped as in the text format; and the W3C ``traceparent`` rules behind the trace ids
(``hub.tracecontext``): a bad one is ignored, never an error."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from opentelemetry import propagate

from hub import logs, tracecontext
from hub.tracecontext import Trace

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
MESSAGE_ID = "0190f3a2-7b1c-7d2e-8f90-123456789abc"
CITIZEN_ID = "079123456789"
PHONE = "0912345678"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines, as ``configure`` sets up the root one."""
    out = io.StringIO()
    logger = logging.getLogger("tests.logs")
    handler = logs.handler("json", out)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)
    logger.propagate = True


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_record_is_one_json_line_with_the_ids_of_the_work_in_hand(captured):
    logger, out = captured
    trace = tracecontext.parse(TRACEPARENT).child()
    with tracecontext.bound(message_id=MESSAGE_ID, correlation_id="case-7", traceparent=trace):
        logger.info("delivering %s", "dossier")
    logger.warning("outside")
    inside, outside = lines(out)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", inside["time"])
    assert inside == {
        "time": inside["time"],
        "level": "INFO",
        "logger": "tests.logs",
        "message": "delivering dossier",
        "message_id": MESSAGE_ID,
        "correlation_id": "case-7",
        "trace_id": TRACE_ID,
        "span_id": trace.span_id,
    }
    assert set(outside) == {"time", "level", "logger", "message"}


def test_personal_numbers_are_masked_in_the_message_the_exception_and_the_correlation_id(
    captured,
):
    logger, out = captured
    with tracecontext.bound(correlation_id=f"cccd-{CITIZEN_ID}"):
        try:
            raise ValueError(f"partner refused {CITIZEN_ID}")
        except ValueError:
            logger.exception("lookup of %s (phone %s) failed", CITIZEN_ID, PHONE)
    text = out.getvalue()
    assert CITIZEN_ID not in text and PHONE not in text
    (entry,) = lines(out)
    assert entry["message"] == "lookup of *********789 (phone *******678) failed"
    assert entry["correlation_id"] == "cccd-*********789"
    assert "ValueError: partner refused *********789" in entry["exception"]
    assert entry["exception"].startswith("Traceback")


def test_a_line_feed_in_a_message_is_escaped_not_a_new_line(captured):
    logger, out = captured
    logger.error("bad header %r", "x\nFAKE 2024 INFO forged line")
    assert len(out.getvalue().splitlines()) == 1
    assert lines(out)[0]["message"] == "bad header 'x\\nFAKE 2024 INFO forged line'"
    logger.error("raw: %s", "a\nb\x1b[31m")
    assert lines(out)[1]["message"] == "raw: a\\x0ab\\x1b[31m"


def test_the_text_format_still_masks_and_escapes():
    out = io.StringIO()
    logger = logging.getLogger("tests.text")
    handler = logs.handler("text", out)
    logger.addHandler(handler)
    logger.warning("citizen %s\nsecond", CITIZEN_ID)
    logger.removeHandler(handler)
    (line,) = out.getvalue().splitlines()
    assert line.endswith(" WARNING tests.text citizen *********789\\x0asecond")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "setting", "json_lines"),
    [
        (io.StringIO, None, True),  # a pipe, a container: JSON
        (Terminal, None, False),  # a person at a console: text
        (Terminal, "json", True),
        (io.StringIO, "text", False),
    ],
)
def test_configure_picks_the_format_from_the_setting_or_the_terminal(
    monkeypatch, stream, setting, json_lines
):
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    err = stream()
    monkeypatch.setattr("sys.stderr", err)
    if setting:
        monkeypatch.setenv("LGSP_LOG_FORMAT", setting)
    else:
        monkeypatch.delenv("LGSP_LOG_FORMAT", raising=False)
    try:
        logs.configure("INFO")
        logging.getLogger("tests.configured").info("started")
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)
    line = err.getvalue().strip()
    if json_lines:
        assert json.loads(line)["message"] == "started"
    else:
        assert line.endswith(" INFO tests.configured started")


def test_configure_refuses_an_unknown_format():
    with pytest.raises(ValueError, match="LGSP_LOG_FORMAT"):
        logs.configure("INFO", "xml")


# ── W3C trace context ────────────────────────────────────────────────────────────────────


def test_a_valid_traceparent_is_read_with_its_tracestate():
    trace = tracecontext.parse(TRACEPARENT, "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7")
    assert trace == Trace(TRACE_ID, PARENT_ID, "01", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
    assert trace.traceparent == TRACEPARENT
    assert tracecontext.parse(f" {TRACEPARENT[:-2]}00 ").flags == "00"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "nonsense",
        TRACEPARENT.upper(),  # hex is lower case
        f"00-{'0' * 32}-{PARENT_ID}-01",  # all-zero trace-id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent-id
        f"ff-{TRACE_ID}-{PARENT_ID}-01",  # version ff is forbidden
        f"00-{TRACE_ID}-{PARENT_ID}-01-extra",  # version 00 has nothing after the flags
        f"01-{TRACE_ID}-{PARENT_ID}-01extra",  # a later version's fields follow a dash
        f"00-{TRACE_ID[:-1]}-{PARENT_ID}-01",
        f"00-{TRACE_ID}-{PARENT_ID}-1",
        f"00_{TRACE_ID}_{PARENT_ID}_01",
    ],
)
def test_an_invalid_traceparent_is_ignored(value):
    assert tracecontext.parse(value, "congo=t61rcWkgMzE") is None


def test_a_later_version_is_read_as_version_00_and_undefined_flags_dropped():
    trace = tracecontext.parse(f"cc-{TRACE_ID}-{PARENT_ID}-ff-what-comes-later")
    assert trace == Trace(TRACE_ID, PARENT_ID, "03")
    assert trace.traceparent == f"00-{TRACE_ID}-{PARENT_ID}-03"


@pytest.mark.parametrize(
    "state",
    [
        "x" * 600,  # over 512 characters
        "Congo=1",  # a key is lower case
        "congo=1,congo=2",  # a key once
        "congo=",  # a value is not empty
        ",".join(f"k{i}=v" for i in range(33)),  # at most 32 members
    ],
)
def test_a_tracestate_that_is_not_valid_is_dropped_but_the_trace_kept(state):
    assert tracecontext.parse(TRACEPARENT, state) == Trace(TRACE_ID, PARENT_ID, "01")


def test_a_child_keeps_the_trace_and_takes_a_new_span():
    parent = tracecontext.parse(TRACEPARENT, "congo=1")
    child = parent.child()
    assert (child.trace_id, child.flags, child.state) == (TRACE_ID, "01", "congo=1")
    assert re.fullmatch("[0-9a-f]{16}", child.span_id) and child.span_id != PARENT_ID
    fresh = tracecontext.start()
    assert re.fullmatch("[0-9a-f]{32}", fresh.trace_id) and fresh.trace_id != TRACE_ID


def test_an_accepted_message_keeps_the_bound_trace_in_its_headers():
    headers = {"x-lgsp-district": "7"}
    assert tracecontext.stamp(headers) == headers
    trace = tracecontext.parse(TRACEPARENT, "congo=1")
    with tracecontext.bound(traceparent=trace):
        stamped = tracecontext.stamp(headers)
    assert stamped == {**headers, "traceparent": TRACEPARENT, "tracestate": "congo=1"}


def test_an_attempt_continues_the_stored_trace_else_the_bound_one_else_its_message_id():
    stored = tracecontext.for_attempt(MESSAGE_ID, {"traceparent": TRACEPARENT})
    assert stored.trace_id == TRACE_ID and stored.span_id != PARENT_ID
    bound = tracecontext.start()
    with tracecontext.bound(traceparent=bound):
        inside_a_call = tracecontext.for_attempt(MESSAGE_ID, {"traceparent": "junk"})
    assert inside_a_call.trace_id == bound.trace_id and inside_a_call.span_id != bound.span_id
    first = tracecontext.for_attempt(MESSAGE_ID, {})
    again = tracecontext.for_attempt(MESSAGE_ID, {})
    assert first.trace_id == again.trace_id == MESSAGE_ID.replace("-", "")
    assert first.span_id != again.span_id


def test_binding_is_undone_when_the_block_ends():
    trace = tracecontext.start()
    with tracecontext.bound(message_id="m-1", traceparent=trace):
        with tracecontext.bound(correlation_id="c-1"):
            record = logging.makeLogRecord({})
            tracecontext.ContextFilter().filter(record)
            carried: dict[str, str] = {}
            propagate.inject(carried)  # what the HTTP toolkit puts on a partner's request
        assert tracecontext.current() == trace
    assert carried == {"traceparent": trace.traceparent}
    assert tracecontext.current() is None
    propagate.inject(carried := {})
    assert carried == {}
    assert (record.message_id, record.correlation_id, record.trace_id) == (
        "m-1",
        "c-1",
        trace.trace_id,
    )
    after = logging.makeLogRecord({})
    tracecontext.ContextFilter().filter(after)
    assert not hasattr(after, "message_id") and not hasattr(after, "trace_id")
