"""Schema registry: JSON Schemas (draft 2020-12) and XSDs under ``schemas/``, named by file
(``dossier-notify.v1.json``, ``citizen-lookup.v1.xsd``). Validation errors name the field:
a JSON pointer-like path for JSON, the element path and line for XML.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree

from hub import xmlsafe
from hub.errors import NotFound, SchemaViolation

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
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


def schema_names() -> list[str]:
    return sorted(p.name for p in SCHEMA_DIR.glob("*") if p.suffix in (".json", ".xsd"))


def _path(name: str) -> Path:
    path = (SCHEMA_DIR / name).resolve()
    if path.parent != SCHEMA_DIR or not path.is_file():
        raise NotFound(f"schema {name!r} is not in the registry")
    return path


@lru_cache(maxsize=256)
def json_validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(_path(name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@lru_cache(maxsize=64)
def xml_schema(name: str) -> etree.XMLSchema:
    doc = etree.parse(str(_path(name)), xmlsafe.parser())
    return etree.XMLSchema(doc)


def _element_path(document: etree._Element, xpath: str | None) -> str:
    """lxml reports ``/*/*[2]``; people need ``/TienDoHoSo/TrangThaiHoSo``."""
    try:
        found = document.getroottree().xpath(xpath) if xpath else []
    except etree.XPathError:
        found = []
    if not found or not isinstance(found[0], etree._Element):
        return xpath or "/"
    names = [etree.QName(el).localname for el in reversed([found[0], *found[0].iterancestors()])]
    return "/" + "/".join(names)


def validate(name: str, document: Any) -> None:
    """Validate a parsed JSON value or an lxml element against schema ``name``."""
    if name.endswith(".xsd"):
        if not isinstance(document, etree._Element):
            raise SchemaViolation(f"schema {name} expects an XML document")
        schema = xml_schema(name)
        if not schema.validate(document):
            errors = [{"path": _element_path(document, e.path), "line": e.line,
                       "message": e.message} for e in schema.error_log]
            raise SchemaViolation(f"document does not match {name}", schema=name, errors=errors)
        return
    if isinstance(document, etree._Element):
        raise SchemaViolation(f"schema {name} expects a JSON document, not XML")
    errors = [error for e in sorted(json_validator(name).iter_errors(document),
                                    key=lambda e: list(map(str, e.absolute_path)))
              for error in field_errors(e)]
    if errors:
        raise SchemaViolation(f"document does not match {name}", schema=name, errors=errors)


_REQUIRED = re.compile(r"^'(.+)' is a required property$")
_UNEXPECTED = re.compile(r"'([^']+)'")


def field_errors(error: jsonschema.ValidationError) -> list[dict[str, str]]:
    """One entry per offending field, its path pointing at the field itself — also for a
    missing required property or an unexpected one, which jsonschema reports on the parent."""
    base = "/" + "/".join(str(p) for p in error.absolute_path)
    join = base.rstrip("/") + "/"
    if error.validator == "required" and (found := _REQUIRED.match(error.message)):
        return [{"path": join + found.group(1), "message": f"{found.group(1)!r} is required"}]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in allowed] or \
            _UNEXPECTED.findall(error.message)
        return [{"path": join + k, "message": f"{k!r} is not allowed here"} for k in extra]
    return [{"path": base, "message": error.message}]
