"""The engine: a mapping document (already read from wherever it is kept) compiled into a
``Mapping`` that parses, checks and maps one value.

Compiling validates the document against the shipped ``mapping.schema.json`` and then what a
schema cannot say (every expression parses and calls known functions, every code list and
schema named exists, the stylesheet is safe): a bad mapping is refused when it is loaded,
naming the place in the document, never when the first message arrives.

Mapping a value, in order: check it against the source schema; run the stylesheet (XML source);
apply the field rules (to the JSON form of an XML value, ``hub.mapping.xmljson``); turn the
result into the target's type; check it against the target schema. A mapping without field
rules passes its value through (so an XML → JSON mapping without ``fields`` converts the whole
document, and a stylesheet alone maps XML → XML).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree

from hub import xmlsafe
from hub.content import loads_json
from hub.errors import HubError, SchemaViolation
from hub.mapping.errors import InvalidMapping, MappingFailed
from hub.mapping.rules import FieldRules, compile_fields
from hub.mapping.xmljson import to_json, to_xml
from hub.mapping.xslt import Stylesheet
from hub.schemas import Schemas, field_errors

__all__ = ["MAX_MAPPED_BYTES", "Mapping", "Side", "Trial", "compile_mapping"]

# A mapping works on a whole value in memory; larger payloads are not mapped.
MAX_MAPPED_BYTES = 16 * 1024 * 1024
_CONTENT_TYPES = {"json": "application/json", "xml": "application/xml"}
_DOCUMENT_SCHEMA = jsonschema.Draft202012Validator(
    json.loads(Path(__file__).with_name("mapping.schema.json").read_text(encoding="utf-8"))
)


@dataclass(frozen=True)
class Side:
    """The source or the target: its type, its schema, and how XML is read or written."""

    type: str
    schema: str | None = None
    lists: frozenset[str] = frozenset()
    namespace: str | None = None

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.type]


@dataclass
class Trial:
    """One value through a mapping, every step reported instead of raised (``lgsp mappings
    try``): the errors against each side's schema, the rules' failures, the output."""

    source: list[dict[str, Any]] = field(default_factory=list)
    mapping: list[dict[str, Any]] = field(default_factory=list)
    target: list[dict[str, Any]] = field(default_factory=list)
    output: bytes | None = None

    @property
    def ok(self) -> bool:
        return not (self.source or self.mapping or self.target)


class Mapping:
    def __init__(
        self,
        name: str,
        version: str,
        document: dict[str, Any],
        schemas: Schemas,
        stylesheet: Stylesheet | None,
        rules: FieldRules | None,
    ) -> None:
        self.name, self.version, self.document = name, version, document
        self.description: str = document.get("description", "")
        source, target = document["source"], document["target"]
        self.source = Side(source["type"], source.get("schema"), frozenset(source.get("lists", ())))
        self.target = Side(target["type"], target.get("schema"), namespace=target.get("namespace"))
        self._schemas = schemas
        self._stylesheet = stylesheet
        self._rules = rules

    def parse(self, data: bytes) -> Any:
        """The source value (a JSON value or an XML element); ``MappingFailed`` (``source``)
        when it is too large, not well-formed, or hostile (XML with a DOCTYPE)."""
        if len(data) > MAX_MAPPED_BYTES:
            raise MappingFailed("source", [{"path": "/", "message": too_large(len(data))}])
        try:
            if self.source.type == "json":
                return loads_json(data)
            return xmlsafe.parse(data)
        except HubError as exc:
            reason = exc.details.get("reason")
            line = exc.details.get("line")
            message = exc.message + (f" at line {line}" if line else "")
            error = {"path": "/", "message": message + (f": {reason}" if reason else "")}
            raise MappingFailed("source", [error]) from None

    def check(self, side: str, value: Any) -> list[dict[str, Any]]:
        """``value``'s errors against the ``source`` or ``target`` schema; none without one."""
        schema = getattr(self, side).schema
        if not schema:
            return []
        try:
            self._schemas.validate(schema, value)
        except SchemaViolation as exc:
            return exc.details.get("errors") or [{"path": "/", "message": exc.message}]
        return []

    def transform(self, value: Any) -> Any:
        """The mapped value, unchecked; ``MappingFailed`` (``mapping``) naming the fields."""
        if self._stylesheet is not None:
            value = self._stylesheet(value)
        if self._rules is not None:
            if isinstance(value, etree._Element):
                value = to_json(value, self.source.lists)
            value = self._rules.apply(value)
        if self.target.type == "xml" and not isinstance(value, etree._Element):
            return to_xml(value, self.target.namespace)
        if self.target.type == "json" and isinstance(value, etree._Element):
            return to_json(value, self.source.lists)
        return value

    def apply(self, value: Any) -> Any:
        """Check, map, check: the target value, or ``MappingFailed`` naming the side."""
        if errors := self.check("source", value):
            raise MappingFailed("source", errors, self.source.schema)
        output = self.transform(value)
        if errors := self.check("target", output):
            raise MappingFailed("target", errors, self.target.schema)
        return output

    def serialise(self, value: Any) -> bytes:
        if self.target.type == "xml":
            return etree.tostring(value, xml_declaration=True, encoding="UTF-8")
        return json.dumps(value, ensure_ascii=False).encode()

    def map(self, data: bytes) -> bytes:
        """Bytes of the source type in, bytes of the target type out."""
        return self.serialise(self.apply(self.parse(data)))

    def trial(self, data: bytes) -> Trial:
        trial = Trial()
        try:
            value = self.parse(data)
        except MappingFailed as exc:
            trial.source = exc.details["errors"]
            return trial
        trial.source = self.check("source", value)
        try:
            output = self.transform(value)
        except MappingFailed as exc:
            trial.mapping = exc.details["errors"]
            return trial
        trial.target = self.check("target", output)
        trial.output = self.serialise(output)
        return trial


def too_large(size: int) -> str:
    return f"{size} bytes is over the {MAX_MAPPED_BYTES // (1024 * 1024)} MiB a mapping takes"


def compile_mapping(name: str, version: str, document: Any, schemas: Schemas) -> Mapping:
    """``InvalidMapping`` listing every problem found, each with its place in the document."""
    errors = [
        error
        for e in sorted(
            _DOCUMENT_SCHEMA.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
        )
        for error in field_errors(e)
    ]
    if errors:
        raise InvalidMapping(name, errors)
    source, target = document["source"], document["target"]
    if source.get("lists") and source["type"] != "xml":
        errors.append({"path": "/source/lists", "message": "only an XML source has lists"})
    if target.get("namespace") and target["type"] != "xml":
        errors.append({"path": "/target/namespace", "message": "only an XML target has one"})
    for side in ("source", "target"):
        _check_schema(document[side], f"/{side}/schema", schemas, errors)
    stylesheet = None
    if "xslt" in document:
        if source["type"] != "xml":
            errors.append({"path": "/xslt", "message": "a stylesheet needs an XML source"})
        try:
            stylesheet = Stylesheet(document["xslt"])
        except ValueError as exc:
            errors.append({"path": "/xslt", "message": str(exc)})
    rules = None
    if "fields" in document or "constants" in document:
        rules = compile_fields(document, errors)
    if errors:
        raise InvalidMapping(name, errors)
    return Mapping(name, version, document, schemas, stylesheet, rules)


def _check_schema(
    side: dict[str, Any], where: str, schemas: Schemas, errors: list[dict[str, str]]
) -> None:
    name = side.get("schema")
    if not name:
        return
    if name.split("@", 1)[0].endswith(".xsd") != (side["type"] == "xml"):
        errors.append({"path": where, "message": f"{name} is not a schema for {side['type']}"})
        return
    try:
        if side["type"] == "xml":
            schemas.xml_schema(name)
        else:
            schemas.json_validator(name)
    except HubError as exc:
        errors.append({"path": where, "message": exc.message})
    except (ValueError, etree.Error, jsonschema.SchemaError) as exc:
        errors.append({"path": where, "message": f"schema {name} cannot be read: {exc}"})
