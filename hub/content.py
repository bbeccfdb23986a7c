"""What a payload is: its media family, and its value parsed the one safe way.

JSON is strict (RFC 8259): a duplicate key or a ``NaN``/``Infinity`` literal is refused, naming
the key, because the schema would check one value while the partner receives another. XML goes
through ``hub.xmlsafe`` (no DOCTYPE, no entities, no network), from memory or from the stored
file. The edXML header fields the hub needs (DocumentId, business type) are read here too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from lxml import etree

from hub import xmlsafe
from hub.errors import MalformedInput, UnsupportedMediaType
from hub.payload import Payload

__all__ = [
    "JSON_TYPES",
    "XML_TYPES",
    "edxml_document_id",
    "edxml_idempotency_key",
    "loads_json",
    "loads_yaml",
    "media_family",
    "parse",
]

JSON_TYPES = ("application/json",)
XML_TYPES = ("application/xml", "text/xml", "application/soap+xml")


def media_family(content_type: str) -> str | None:
    """'json', 'xml', or None for a media type the hub does not take."""
    media = content_type.split(";")[0].strip().lower()
    if media in JSON_TYPES or media.endswith("+json"):
        return "json"
    if media in XML_TYPES or media.endswith("+xml"):
        return "xml"
    return None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise MalformedInput("body is not valid JSON", reason=f"duplicate key {key!r}", key=key)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise MalformedInput(
        "body is not valid JSON", reason=f"{name} is not a JSON number", literal=name
    )


def loads_json(data: bytes | str) -> Any:
    """Strict JSON: duplicate keys and non-finite numbers are refused, naming them."""
    try:
        return json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedInput("body is not valid JSON", reason=str(exc)) from None
    except RecursionError:
        raise MalformedInput("body is not valid JSON", reason="nested too deeply") from None


class _StrictYamlLoader(yaml.SafeLoader):
    """YAML as a spelling of JSON: no anchors or aliases (the "billion laughs" of YAML: a few
    lines that expand to gigabytes once serialised), no tags, no duplicate keys; timestamps
    and other YAML 1.1 extras stay strings."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise MalformedInput(
                "YAML anchors and aliases are not accepted",
                reason=f"alias *{event.anchor} at line {event.start_mark.line + 1}",
            )
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise MalformedInput(
                "YAML anchors and aliases are not accepted",
                reason=f"anchor &{event.anchor} at line {event.start_mark.line + 1}",
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        # JSON object keys are strings: a code list's ``1: Mới`` means the code "1"
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise MalformedInput(
                    "YAML is not valid here",
                    reason=f"a key must be a string (line {key_node.start_mark.line + 1})",
                )
            if not isinstance(key, str):
                key = json.dumps(key)
            if key in mapping:
                raise MalformedInput(
                    "YAML is not valid here",
                    reason=f"duplicate key {key!r} at line {key_node.start_mark.line + 1}",
                    key=key,
                )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_float(self, node):  # type: ignore[override]
        value = super().construct_yaml_float(node)
        if value != value or value in (float("inf"), float("-inf")):
            raise MalformedInput(
                "YAML is not valid here",
                reason=f"{node.value} is not a finite number (line {node.start_mark.line + 1})",
            )
        return value


# YAML 1.2's core schema, as JSON reads it: ``yes``/``on`` stay strings (YAML 1.1 made them
# booleans, "the Norway problem"), so do ``1:30`` and ``2026-01-01``; an explicit tag
# (``!!python/…``, ``!!binary``, ``!!set``, a custom one) has no constructor and is refused.
_StrictYamlLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^[-+]?[0-9]+$", "-+0123456789"),
    ("float", r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$", "-+.0123456789"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
):
    _StrictYamlLoader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first)
    )
_StrictYamlLoader.yaml_constructors = {
    tag: constructor
    for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
    if tag is None
    or tag.rsplit(":", 1)[-1] in ("null", "bool", "int", "float", "str", "seq", "map")
}
_StrictYamlLoader.add_constructor("tag:yaml.org,2002:float", _StrictYamlLoader.construct_yaml_float)


def loads_yaml(text: str | bytes) -> Any:
    """A YAML document (a registry file, a mapping) read strictly, as JSON-like values; a
    refusal names the line. JSON is YAML, so a JSON file reads the same."""
    try:
        return yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - strict SafeLoader
    except MalformedInput:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MalformedInput(
            "YAML is not valid here", reason=f"{exc.problem or exc}{where}"
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedInput(
            "YAML is not valid here", reason=str(exc) or type(exc).__name__
        ) from None


def parse(payload: Payload, expected: str | None = None, *, tree_limit: int) -> Any:
    """The payload as a JSON value or an lxml element, by content type; ``expected`` is the
    service's declared content type, whose family (JSON or XML) the payload must share. An
    XML payload above ``tree_limit`` bytes is checked from its file without building a tree
    and comes back as ``xmlsafe.Scanned`` (its well-formedness proven, its header fields
    read); a JSON payload that large is refused as too large to hold."""
    family = media_family(payload.content_type)
    if family is None or (expected and family != media_family(expected)):
        raise UnsupportedMediaType(
            f"content type {payload.content_type.split(';')[0]!r} is not accepted here",
            accepted=[expected] if expected else [*JSON_TYPES, *XML_TYPES],
        )
    if family == "xml":
        if payload.size > tree_limit and payload.path is not None:
            return xmlsafe.scan(payload.path)
        return xmlsafe.parse(payload.read())
    if payload.size > tree_limit:
        raise MalformedInput(
            "a JSON body this large is not accepted",
            reason=f"over {tree_limit} bytes",
            limit=tree_limit,
        )
    return loads_json(payload.read())


def edxml_document_id(document: Any) -> str | None:
    """The edXML ``MessageHeader/DocumentId`` (status messages carry theirs under
    ``ResponseFor`` and have none of their own)."""
    if isinstance(document, xmlsafe.Scanned):
        return document.document_id
    if not isinstance(document, etree._Element):
        return None
    found = document.xpath("//*[local-name()='MessageHeader']/*[local-name()='DocumentId']")
    return found[0].text.strip() if found and found[0].text else None


def edxml_idempotency_key(document: Any, document_id: str | None) -> str | None:
    """A resubmitted edXML document is recognised by its DocumentId *and* business type: a new
    document, its update, its replacement and its revocation share the DocumentId."""
    if document_id is None:
        return None
    if isinstance(document, xmlsafe.Scanned):
        kind = document.business_doc_type or ""
    else:
        kind = document.xpath(
            "string(//*[local-name()='TraceHeaderList']"
            "/*[local-name()='Bussiness']/*[local-name()='BussinessDocType'])"
        )
    return f"edxml:{document_id}#{kind.strip() or '0'}"
