"""Field rules: how each field of a JSON target is computed from the source value.

Expressions are JMESPath (https://jmespath.org): a specification with a compliance suite and
implementations in many languages, so a mapping means the same wherever it is read; the Python
one is pure Python; an expression only selects and reshapes data — it cannot execute code,
reach a file or the network, or loop (its cost is bounded by the size of the input). The
alternatives were Python expressions (code execution), JSONata (richer, but with recursive
user functions, so an expression can loop; its Python ports follow a JavaScript reference, not
a specification) and JSONPath (selection only).

Per target field (a dotted path, ``data.MaHoSo``): ``from`` (an expression) or ``const``;
``default`` when it gives nothing; ``required`` (nothing, and no default: the mapping fails,
naming the field); ``when`` (the rule applies only when this expression is true, in JMESPath's
sense: not null, false, or an empty string, list or object); ``code_list`` (the value looked up
in one of the mapping's named lists); ``date`` (``{from, to}``, see ``hub.mapping.dates``). A
value that is null counts as nothing: the field is left out. A rule written as a string is its
``from``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath import functions as jmespath_functions
from jmespath.exceptions import JMESPathError, LexerError, ParseError
from jmespath.parser import ParsedResult

from hub.mapping.dates import convert
from hub.mapping.errors import MappingFailed, pointer

__all__ = ["CodeList", "FieldRule", "FieldRules", "compile_fields"]

_NOTHING = object()
_FUNCTIONS = jmespath_functions.Functions().FUNCTION_TABLE


@dataclass(frozen=True)
class CodeList:
    """A local code → the partner's code; ``default`` (if given) for any other value."""

    name: str
    entries: dict[str, Any]
    default: Any = _NOTHING

    def look_up(self, value: Any) -> Any:
        if isinstance(value, list | dict):
            raise ValueError(f"code list {self.name} looks up one value, got a list or object")
        key = value if isinstance(value, str) else json.dumps(value)
        found = self.entries.get(key, self.default)
        if found is _NOTHING:
            raise ValueError(f"{key[:60]!r} is not in code list {self.name}")
        return found


@dataclass(frozen=True)
class FieldRule:
    target: str
    source: ParsedResult | None = None
    const: Any = None
    default: Any = None
    required: bool = False
    when: ParsedResult | None = None
    code_list: CodeList | None = None
    date: tuple[str, str] | None = None

    def value(self, document: Any) -> Any:
        """The field's value for ``document``; ``_NOTHING`` when the rule does not apply or
        gives nothing; ``ValueError`` saying why it cannot be mapped."""
        if self.when is not None and not _true(_search(self.when, document, "when")):
            return _NOTHING
        value = self.const if self.source is None else _search(self.source, document, "from")
        if value is not None:
            if self.code_list is not None:
                value = self.code_list.look_up(value)
            if self.date is not None:
                value = convert(value, *self.date)
        if value is None:
            value = self.default
        if value is None:
            if self.required:
                given = f" ({self.source.expression} gave nothing)" if self.source else ""
                raise ValueError(f"required{given}")
            return _NOTHING
        return value


class FieldRules:
    """The rules of one mapping, applied in order to a source JSON value."""

    def __init__(self, rules: list[FieldRule]) -> None:
        self.rules = rules

    def apply(self, document: Any) -> dict[str, Any]:
        target: dict[str, Any] = {}
        errors = []
        for rule in self.rules:
            try:
                value = rule.value(document)
            except ValueError as exc:
                errors.append({"path": pointer(rule.target), "message": str(exc)})
                continue
            if value is not _NOTHING:
                _put(target, rule.target, value)
        if errors:
            raise MappingFailed("mapping", errors)
        return target


def _true(value: Any) -> bool:
    """JMESPath's truth: ``0`` is true, an empty string, list or object is not."""
    if isinstance(value, str | list | dict):
        return bool(value)
    return value is not None and value is not False


def _search(expression: ParsedResult, document: Any, what: str) -> Any:
    try:
        return expression.search(document)
    except JMESPathError as exc:  # a type error at run time, e.g. length(`1`)
        raise ValueError(f"{what}: {exc}") from None


def _put(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value


# --- compiling --------------------------------------------------------------------------------
def compile_fields(document: dict[str, Any], errors: list[dict[str, str]]) -> FieldRules:
    """The rules of a mapping document already valid against the mapping schema; each problem
    found (an expression that does not parse, an unknown function or code list, a field set
    twice) is appended to ``errors`` naming where it is in the document."""
    lists = {
        name: CodeList(name, spec["entries"], spec.get("default", _NOTHING))
        for name, spec in document.get("code_lists", {}).items()
    }
    rules, paths = [], []
    for target, spec in document.get("fields", {}).items():
        if isinstance(spec, str):
            spec = {"from": spec}
        where = f"/fields/{target}"
        paths.append(where)
        if ("from" in spec) == ("const" in spec):
            errors.append({"path": where, "message": "give one of 'from' or 'const'"})
        if "const" in spec and ({"code_list", "date"} & spec.keys()):
            errors.append({"path": where, "message": "a 'const' is not converted"})
        code_list = lists.get(spec.get("code_list", ""))
        if "code_list" in spec and code_list is None:
            errors.append(
                {"path": f"{where}/code_list", "message": f"no code list {spec['code_list']!r}"}
            )
        date = spec.get("date")
        rules.append(
            FieldRule(
                target,
                source=_expression(spec["from"], f"{where}/from", errors)
                if "from" in spec
                else None,
                const=spec.get("const"),
                default=spec.get("default"),
                required=spec.get("required", False),
                when=_expression(spec["when"], f"{where}/when", errors) if "when" in spec else None,
                code_list=code_list,
                date=(date["from"], date["to"]) if date else None,
            )
        )
    for target, value in document.get("constants", {}).items():
        rules.append(FieldRule(target, const=value))
        paths.append(f"/constants/{target}")
    _check_targets(rules, paths, errors)
    return FieldRules(rules)


def _expression(text: str, where: str, errors: list[dict[str, str]]) -> ParsedResult | None:
    try:
        parsed = jmespath.compile(text)
    except LexerError as exc:
        message = f"{exc.message} at column {exc.lexer_position}"
    except ParseError as exc:
        message = f"{exc.msg} at column {exc.lex_position}: {text!r}"
    except RecursionError:
        message = "the expression is nested too deeply"
    else:
        problem = _unknown_function(parsed.parsed)
        if problem is None:
            return parsed
        message = problem
    errors.append({"path": where, "message": f"not a valid JMESPath expression: {message}"})
    return None


def _unknown_function(node: dict[str, Any]) -> str | None:
    """A call to a function JMESPath does not have, or with the wrong number of arguments:
    found now rather than when the first message arrives."""
    if node.get("type") == "function_expression":
        name, given = node["value"], len(node["children"])
        known = _FUNCTIONS.get(name)
        if known is None:
            return f"unknown function {name}()"
        signature = known["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if given < len(signature) or (given > len(signature) and not variadic):
            return f"{name}() takes {len(signature)} argument(s), given {given}"
    for child in node.get("children", []):
        if isinstance(child, dict) and (problem := _unknown_function(child)):
            return problem
    return None


def _check_targets(rules: list[FieldRule], where: list[str], errors: list[dict[str, str]]) -> None:
    """A field set twice, or set inside another field's value, would be overwritten quietly."""
    seen: list[str] = []
    for rule, path in zip(rules, where, strict=True):
        target = rule.target
        for other in seen:
            if other == target:
                errors.append({"path": path, "message": "this field is set twice"})
            elif target.startswith(other + ".") or other.startswith(target + "."):
                errors.append({"path": path, "message": f"overlaps field {other!r}"})
        seen.append(target)
