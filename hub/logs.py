"""Logging set-up: every record passes through ``MaskingFilter`` so a citizen ID number or a
phone number that reaches a log line (an error text from a partner, say) is masked there, and
a control character in it (from a URL, a header, a partner's answer) is shown escaped: a raw
line feed would forge a log line of its own, a raw NUL or escape sequence garble a terminal.

Two formats (``LGSP_LOG_FORMAT``): ``json``, one object per line with the message id,
correlation id and trace id of the work in hand (``hub.tracecontext``), for a log collector to
index; ``text``, for a person at a console. ``auto`` (the default) is text when the log goes
to a terminal (``./run demo``) and JSON otherwise (a container, a service manager, a pipe)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO

from hub.security import escape_controls, mask_text
from hub.tracecontext import ContextFilter

__all__ = ["FORMATS", "JsonFormatter", "MaskingFilter", "configure", "handler"]

FORMATS = ("auto", "json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What the work in hand adds to a JSON line; the ids the hub made or checked are kept as they
# are (masking digits in a hex id would break it as a search key), the caller's are masked.
CONTEXT_FIELDS = ("message_id", "correlation_id", "trace_id", "span_id")


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_controls(mask_text(record.getMessage()))
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        correlation_id = getattr(record, "correlation_id", None)
        if isinstance(correlation_id, str):  # the caller's: may hold anything
            record.correlation_id = escape_controls(mask_text(correlation_id))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601 to the millisecond), ``level``,
    ``logger``, ``message``, the ids of the work in hand when known, ``exception`` when there
    is one. Used after ``MaskingFilter`` (see ``handler``); ``json.dumps`` escapes what a
    line feed or a quote would break."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.exc_text:  # made and masked by MaskingFilter
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = mask_text(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def handler(fmt: str = "json", stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing ``fmt`` lines (``json`` or ``text``) to ``stream`` (stderr), every
    record given the work in hand, then masked and escaped."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be json or text, not {fmt!r}")
    out = logging.StreamHandler(stream)
    out.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    out.addFilter(ContextFilter())
    out.addFilter(MaskingFilter())
    return out


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """The root logger writes to stderr at ``level`` (``LGSP_LOG_LEVEL``, INFO) in ``fmt``
    (``LGSP_LOG_FORMAT``: ``auto``, ``json`` or ``text``)."""
    fmt = (fmt or os.environ.get("LGSP_LOG_FORMAT") or "auto").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"LGSP_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    root = logging.getLogger()
    root.handlers[:] = [handler(fmt)]
    root.setLevel(level or os.environ.get("LGSP_LOG_LEVEL", "INFO"))
    # each migration's docstring at INFO is noise at every start; its failure is still logged
    logging.getLogger("alembic").setLevel(logging.WARNING)
