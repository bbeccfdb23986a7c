"""Routing: which connector takes a message, per recipient.

A route names a service (or any), a recipient agency (or any), optional content conditions, a
connector instance and optionally a mapping. For each recipient of a message the enabled route
with the lowest ``priority`` that matches wins, giving one delivery per recipient; a message
without recipients is routed once, by service and content alone.

Conditions are data, all of which must hold::

    [{"path": "TrangThaiHoSo", "op": "eq", "value": 9},        # JSON: dotted path
     {"xpath": "//*[local-name()='Priority']", "op": "in", "value": ["3", "4"]},  # XML
     {"header": "x-channel", "op": "exists"}]

Operators: eq, ne, in, not_in, exists, regex, gt, lt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
from lxml import etree

from hub.errors import NoRoute

__all__ = ["Target", "check_conditions", "matches", "resolve"]

CONDITION_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1},
            "xpath": {"type": "string", "minLength": 1},
            "header": {"type": "string", "minLength": 1},
            "op": {"enum": ["eq", "ne", "in", "not_in", "exists", "regex", "gt", "lt"]},
            "value": {},
        },
        "required": ["op"],
        "oneOf": [{"required": ["path"]}, {"required": ["xpath"]}, {"required": ["header"]}],
        "additionalProperties": False,
    },
}
_MISSING = object()


@dataclass(frozen=True)
class Target:
    """Where one delivery goes. ``held_for``: no connector takes it; it is held until that
    system picks it up and confirms (a document system's inbox, ``hub.documents.inbox``)."""

    route: str
    connector: str
    mapping: str | None
    recipient: str | None
    held_for: str | None = None


def check_conditions(conditions: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``conditions`` is not a valid condition list."""
    jsonschema.validate(conditions, CONDITION_SCHEMA)
    for cond in conditions:
        if "xpath" in cond:
            etree.XPath(cond["xpath"])
        if cond["op"] == "regex":
            re.compile(str(cond.get("value", "")))


def _lookup(document: Any, headers: Mapping[str, str], cond: Mapping[str, Any]) -> Any:
    if "header" in cond:
        return headers.get(cond["header"].lower(), _MISSING)
    if "xpath" in cond:
        if not isinstance(document, etree._Element):
            return _MISSING
        found = document.xpath(cond["xpath"])
        if isinstance(found, list):
            if not found:
                return _MISSING
            first = found[0]
            return first.text if isinstance(first, etree._Element) else str(first)
        return found
    value = document
    for part in cond["path"].split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _holds(value: Any, op: str, expected: Any) -> bool:
    if op == "exists":
        return value is not _MISSING
    if value is _MISSING:
        return op in ("ne", "not_in")
    try:
        return {
            "eq": lambda: value == expected,
            "ne": lambda: value != expected,
            "in": lambda: value in expected,
            "not_in": lambda: value not in expected,
            "regex": lambda: re.search(str(expected), str(value)) is not None,
            "gt": lambda: value > expected,
            "lt": lambda: value < expected,
        }[op]()
    except TypeError:
        return False


def matches(route: Mapping[str, Any], document: Any, headers: Mapping[str, str]) -> bool:
    return all(
        _holds(_lookup(document, headers, c), c["op"], c.get("value"))
        for c in route.get("condition") or []
    )


def resolve(
    routes: Sequence[Mapping[str, Any]],
    service: str | None,
    recipients: Sequence[str],
    document: Any,
    headers: Mapping[str, str],
) -> list[Target]:
    """One target per recipient (or one for a message without recipients); ``NoRoute`` naming
    every recipient nothing routes."""
    ordered = sorted((r for r in routes if r["enabled"]), key=lambda r: (r["priority"], r["name"]))
    targets, unrouted = [], []
    for recipient in recipients or [None]:
        for route in ordered:
            if route["service_code"] not in (None, service):
                continue
            if route["recipient"] not in (None, recipient):
                continue
            if matches(route, document, headers):
                targets.append(
                    Target(route["name"], route["connector"], route["mapping"], recipient)
                )
                break
        else:
            unrouted.append(recipient)
    if unrouted:
        raise NoRoute(
            "no route takes this message",
            service=service,
            recipients=[r for r in unrouted if r is not None],
        )
    return targets
