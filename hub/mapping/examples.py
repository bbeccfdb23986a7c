"""Example pairs: an input and the output a mapping must make of it, kept beside the mapping
and run by ``lgsp mappings test`` (and, later, before an uploaded mapping is accepted).

An example passes when the output, serialised as the partner would receive it and read back,
equals the expected one: JSON values exactly (key order aside; ``1`` is not ``1.0`` nor
``true``), XML trees by element names with their namespaces, attributes and text (whitespace
around text aside, so expected files may be indented). A failure names the first differing
path: ``/data/TrangThai``, ``/TienDoHoSo/MaHoSo``, ``/Root/Item[2]/@code``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from hub import xmlsafe
from hub.content import loads_json
from hub.errors import HubError
from hub.mapping.errors import MappingFailed

if TYPE_CHECKING:
    from hub.mapping.engine import Mapping

__all__ = ["Example", "ExampleResult", "first_difference", "run_example"]


@dataclass(frozen=True)
class Example:
    """One case; each side as ``(kind, bytes)`` with kind ``json`` or ``xml``, or None when
    the case's file is missing."""

    case: str
    given: tuple[str, bytes] | None
    expected: tuple[str, bytes] | None


@dataclass(frozen=True)
class ExampleResult:
    case: str
    passed: bool
    path: str | None = None
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_example(mapping: Mapping, example: Example) -> ExampleResult:
    case = example.case
    for direction, side, given in (
        ("in", mapping.source, example.given),
        ("out", mapping.target, example.expected),
    ):
        if given is None:
            return ExampleResult(case, False, None, f"no {case}.{direction}.{side.type}")
        if given[0] != side.type:
            return ExampleResult(
                case, False, None, f"{case}.{direction}.{given[0]}: the mapping's is {side.type}"
            )
    try:
        actual = _read(mapping.map(example.given[1]), mapping.target.type)
    except MappingFailed as exc:
        return ExampleResult(case, False, exc.details["errors"][0]["path"], exc.message)
    except HubError as exc:
        return ExampleResult(case, False, None, exc.message)
    try:
        expected = _read(example.expected[1], mapping.target.type)
    except HubError as exc:
        reason = exc.details.get("reason")
        message = f"{case}.out.{mapping.target.type}: {exc.message}"
        return ExampleResult(case, False, None, message + (f": {reason}" if reason else ""))
    difference = first_difference(expected, actual)
    if difference is None:
        return ExampleResult(case, True)
    return ExampleResult(case, False, *difference)


def _read(data: bytes, kind: str) -> Any:
    return loads_json(data) if kind == "json" else xmlsafe.parse(data)


def first_difference(expected: Any, actual: Any) -> tuple[str, str] | None:
    """``(path, what differs)`` for the first difference, in document order; None if equal."""
    if isinstance(expected, etree._Element):
        return _xml(expected, actual, "/" + etree.QName(expected).localname)
    return _json(expected, actual, "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _json(expected: Any, actual: Any, path: str) -> tuple[str, str] | None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                return f"{path}/{key}", f"missing (expected {_short(value)})"
            if found := _json(value, actual[key], f"{path}/{key}"):
                return found
        extra = next((k for k in actual if k not in expected), None)
        if extra is not None:
            return f"{path}/{extra}", f"not expected: {_short(actual[extra])}"
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        for n, (one, other) in enumerate(zip(expected, actual, strict=False)):
            if found := _json(one, other, f"{path}/{n}"):
                return found
        if len(expected) != len(actual):
            return path or "/", f"expected {len(expected)} items, got {len(actual)}"
        return None
    if type(expected) is type(actual) and expected == actual:
        return None
    return path or "/", f"expected {_short(expected)}, got {_short(actual)}"


def _children(element: etree._Element) -> list[etree._Element]:
    return [c for c in element if isinstance(c.tag, str)]


def _xml(expected: etree._Element, actual: etree._Element, path: str) -> tuple[str, str] | None:
    if expected.tag != actual.tag:
        return path, f"expected element {expected.tag}, got {actual.tag}"
    for name in sorted(set(expected.attrib) | set(actual.attrib)):
        if expected.get(name) != actual.get(name):
            return (
                f"{path}/@{etree.QName(name).localname}",
                f"expected {_short(expected.get(name))}, got {_short(actual.get(name))}",
            )
    if (found := _text(expected.text, actual.text)) is not None:
        return path, f"text: {found}"
    ours, theirs = _children(expected), _children(actual)
    total = Counter(c.tag for c in ours)
    seen: Counter[str] = Counter()
    for one, other in zip(ours, theirs, strict=False):
        seen[one.tag] += 1
        name = etree.QName(one).localname
        here = f"{path}/{name}" + (f"[{seen[one.tag]}]" if total[one.tag] > 1 else "")
        if found := _xml(one, other, here):
            return found
        if (found := _text(one.tail, other.tail)) is not None:
            return path, f"text after {name}: {found}"
    if len(ours) != len(theirs):
        return path, f"expected {len(ours)} child elements, got {len(theirs)}"
    return None


def _text(expected: str | None, actual: str | None) -> str | None:
    ours, theirs = (expected or "").strip(), (actual or "").strip()
    return None if ours == theirs else f"expected {_short(ours)}, got {_short(theirs)}"
