"""Dates and times as the partners write them: ISO 8601, ``yyyyMMddHHmmss`` (DVCQG, the payment
platform), ``yyyy/MM/dd`` and ``dd/MM/yyyy`` (forms and local systems).

Every value is read as a moment in Vietnam's time (Asia/Ho_Chi_Minh): a value without an offset
(all the local formats, and an ISO value without one) *is* Vietnam time; an ISO value with an
offset is converted to Vietnam time before it is written in a local format. ISO output always
carries ``+07:00``. A date-only value is midnight of that day.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["FORMATS", "VIETNAM", "convert"]

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

# name -> (the exact shape a value must have, strptime/strftime format); ISO is fromisoformat's
_LOCAL = {
    "yyyyMMddHHmmss": (re.compile(r"[0-9]{14}"), "%Y%m%d%H%M%S"),
    "yyyy/MM/dd": (re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2}"), "%Y/%m/%d"),
    "dd/MM/yyyy": (re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4}"), "%d/%m/%Y"),
}
FORMATS = ("iso", *_LOCAL)


def _read(value: str, fmt: str) -> datetime:
    if fmt == "iso":
        moment = datetime.fromisoformat(value)
    else:
        shape, pattern = _LOCAL[fmt]
        if not shape.fullmatch(value):
            raise ValueError
        moment = datetime.strptime(value, pattern)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=VIETNAM)
    return moment.astimezone(VIETNAM)


def convert(value: object, source: str, target: str) -> str:
    """``value`` read as ``source`` and written as ``target`` (names from ``FORMATS``);
    ``ValueError`` saying why when it is not such a date. A compact date given as a JSON
    number (``20261125090000``) is read as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a date ({source}) as a string, got {type(value).__name__}")
    try:
        moment = _read(value, source)
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a date in the {source} format") from None
    if target == "iso":
        return moment.isoformat()
    return moment.strftime(_LOCAL[target][1])
