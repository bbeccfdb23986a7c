"""Logging set-up: every record passes through ``MaskingFilter`` so a citizen ID number or a
phone number that reaches a log line (an error text from a partner, say) is masked there, and
a control character in it (from a URL, a header, a partner's answer) is shown escaped: a raw
line feed would forge a log line of its own, a raw NUL or escape sequence garble a terminal."""

from __future__ import annotations

import logging
import os

from hub.security import escape_controls, mask_text

__all__ = ["MaskingFilter", "configure"]


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_controls(mask_text(record.getMessage()))
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure(level: str | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("LGSP_LOG_LEVEL", "INFO"))
    # each migration's docstring at INFO is noise at every start; its failure is still logged
    logging.getLogger("alembic").setLevel(logging.WARNING)
