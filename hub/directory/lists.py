"""A list of agencies as a file, read into entries: a CSV file (header row ``code,name,
parent_code,level,state,successor_code,valid_from,valid_to,aliases``; only ``code`` and
``name`` required, aliases ``;``-separated), a JSON list of objects with the same fields, or the
VDXP agency list as the national axis returns it (``{code, pcode, name, …}``: ``pcode`` the
parent, other fields ignored; bare, or under ``data`` as the axis's answer carries it). UTF-8,
with or without a byte-order mark, at most ``MAX_BYTES`` and ``MAX_ROWS``.

Each field is read and checked on its own here; every error names its row and field (``row 7:
level: must be 1-4``; a CSV file's rows are numbered as a spreadsheet shows them, the header
being row 1, a JSON list's items from 1). What needs the directory is ``hub.directory.imports``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from hub.content import loads_json
from hub.directory.codes import INTERNAL_CODES, alias_problem, is_code
from hub.directory.rules import STATES
from hub.errors import MalformedInput, PayloadTooLarge, SchemaViolation

__all__ = [
    "FIELDS",
    "FORMATS",
    "MAX_BYTES",
    "MAX_ROWS",
    "Entry",
    "Errors",
    "Format",
    "read",
]

Format = Literal["csv", "json", "vdxp"]
FORMATS: tuple[str, ...] = ("csv", "json", "vdxp")
FIELDS = (
    "code",
    "name",
    "parent_code",
    "level",
    "state",
    "successor_code",
    "valid_from",
    "valid_to",
    "aliases",
)
MAX_BYTES = 20 * 1024 * 1024  # a whole country's agencies fit in a few megabytes
MAX_ROWS = 200_000
MAX_ERRORS = 50  # reported at most; the count says how many more
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass
class Entry:
    """One row of the file: its number, the fields it gives, its aliases."""

    row: int
    values: dict[str, Any]
    aliases: list[str] = field(default_factory=list)


class Errors:
    """The file's errors, each naming its row and field (the first ``MAX_ERRORS`` kept, all
    counted); raised together at the end."""

    def __init__(self) -> None:
        self.found: list[dict[str, Any]] = []
        self.named: set[tuple[int | None, str]] = set()
        self.count = 0

    def add(self, row: int | None, name: str, message: str) -> None:
        self.count += 1
        self.named.add((row, name))
        if len(self.found) < MAX_ERRORS:
            self.found.append({"row": row, "field": name, "message": message})

    def raise_any(self) -> None:
        if not self.found:
            return
        first = self.found[0]
        where = f"row {first['row']}: " if first["row"] is not None else ""
        more = self.count - 1
        raise SchemaViolation(
            f"the file is not valid, nothing was imported: {where}{first['field']}: "
            f"{first['message']}" + (f" (and {more} more)" if more else ""),
            errors=[
                {
                    "path": f"/rows/{e['row']}/{e['field']}" if e["row"] else f"/{e['field']}",
                    "message": e["message"],
                }
                for e in self.found
            ],
            count=self.count,
        )


def _text(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"the file is over {MAX_BYTES} bytes", limit=MAX_BYTES)
    try:
        return data.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(
            f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None


def _csv_rows(text: str, errors: Errors) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    header: list[str] | None = None
    try:
        for number, cells in enumerate(reader, 1):
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                unknown = [h for h in header if h not in FIELDS]
                if (
                    unknown
                    or len(set(header)) != len(header)
                    or not {"code", "name"} <= set(header)
                ):
                    errors.add(
                        None,
                        "header",
                        f"the first row must name the columns, code and name among them, each "
                        f"once, from {', '.join(FIELDS)}; it has {', '.join(header)}",
                    )
                    errors.raise_any()
                continue
            if len(cells) != len(header):
                errors.add(number, "row", f"{len(cells)} cells where the header has {len(header)}")
                continue
            rows.append(
                (number, {h: c.strip() or None for h, c in zip(header, cells, strict=True)})
            )
            if len(rows) > MAX_ROWS:
                raise PayloadTooLarge(f"the file has over {MAX_ROWS} rows", limit=MAX_ROWS)
    except csv.Error as exc:
        raise MalformedInput(f"the file is not CSV: line {reader.line_num}: {exc}") from None
    if header is None:
        errors.add(None, "header", "the file is empty: the first row must name the columns")
    return rows


def _json_rows(text: str, fmt: Format, errors: Errors) -> list[tuple[int, dict[str, Any]]]:
    document = loads_json(text)
    if fmt == "vdxp" and isinstance(document, dict) and isinstance(document.get("data"), list):
        document = document["data"]  # the list inside the axis's answer envelope
    if not isinstance(document, list):
        errors.add(None, "file", "must be a JSON list of agencies")
        errors.raise_any()
    if len(document) > MAX_ROWS:
        raise PayloadTooLarge(f"the file has over {MAX_ROWS} rows", limit=MAX_ROWS)
    rows = []
    for number, item in enumerate(document, 1):
        if not isinstance(item, dict):
            errors.add(number, "row", "must be an object")
            continue
        if fmt == "vdxp":  # the axis's own fields: the rest is the axis's business
            item = {
                "code": item.get("code"),
                "name": item.get("name"),
                "parent_code": item.get("pcode"),
            }
        else:
            for name in item:
                if name not in FIELDS:
                    errors.add(number, name, f"not a field of an agency ({', '.join(FIELDS)})")
        rows.append((number, {k: v for k, v in item.items() if k in FIELDS}))
    return rows


def _value(number: int, name: str, raw: Any, errors: Errors) -> Any:
    """One field's value, read and checked on its own; None after an error."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if name == "aliases":
        items = raw.split(";") if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
            errors.add(number, name, "must be text (;-separated) or a list of text")
            return None
        aliases = list(dict.fromkeys(a.strip() for a in items if a.strip()))
        for alias in aliases:
            problem = alias_problem(alias)
            if problem is not None:
                errors.add(number, name, f"{alias[:20]!r}: {problem}")
        return aliases
    if name == "level":
        if isinstance(raw, str) and re.fullmatch("[0-9]{1,2}", raw.strip()):
            raw = int(raw.strip())
        if isinstance(raw, bool) or raw not in range(1, 5):
            errors.add(number, name, "must be 1-4")
            return None
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool) and name in ("code", "name"):
        raw = str(raw)
    if not isinstance(raw, str):
        errors.add(number, name, "must be text")
        return None
    raw = raw.strip()
    if any(unicodedata.category(c) == "Cc" for c in raw):
        errors.add(number, name, "holds a control character")
        return None
    if name in ("valid_from", "valid_to"):
        try:
            if not ISO_DATE.fullmatch(raw):
                raise ValueError
            return date.fromisoformat(raw)
        except ValueError:
            errors.add(number, name, f"{raw[:20]!r} is not a date as YYYY-MM-DD")
            return None
    if name == "state" and raw not in STATES:
        errors.add(number, name, "must be active, closed or merged")
        return None
    if name == "code" and not (is_code(raw) or raw in INTERNAL_CODES):
        errors.add(number, name, f"{raw[:20]!r} is not an agency code (000.00.00.H49 or H56.14)")
        return None
    if name == "name" and len(raw) > 300:
        errors.add(number, name, "is over 300 characters")
        return None
    if len(raw) > 64 and name != "name":
        errors.add(number, name, "is over 64 characters")
        return None
    return raw


def read(data: bytes, fmt: Format) -> list[Entry]:
    """The file's rows, each field read and checked on its own; ``SchemaViolation`` naming
    every bad row and field, ``MalformedInput`` for a file that is not UTF-8 CSV or JSON,
    ``PayloadTooLarge`` over ``MAX_BYTES`` or ``MAX_ROWS``."""
    if fmt not in FORMATS:
        raise SchemaViolation(
            f"format must be one of {', '.join(FORMATS)}",
            errors=[{"path": "/format", "message": "unknown format"}],
        )
    errors = Errors()
    text = _text(data)
    rows = _csv_rows(text, errors) if fmt == "csv" else _json_rows(text, fmt, errors)
    entries = []
    for number, raw in rows:
        values = {name: _value(number, name, value, errors) for name, value in raw.items()}
        for required in ("code", "name"):
            if values.get(required) is None and (number, required) not in errors.named:
                errors.add(number, required, "is required")
        aliases = values.pop("aliases", None) or []
        entries.append(Entry(number, values, aliases))
    errors.raise_any()
    return entries
