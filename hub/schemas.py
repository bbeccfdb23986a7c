"""Schema registry: JSON Schemas (draft 2020-12) and XSDs under ``schemas/``, named by file
(``dossier-notify.v1.json``, ``citizen-lookup.v1.xsd``). Validation errors name the field:
a JSON pointer-like path for JSON, the element path and line for XML.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree

from hub import xmlsafe
from hub.errors import NotFound, SchemaViolation

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


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
    errors = [
        {"path": "/" + "/".join(str(p) for p in e.absolute_path), "message": e.message}
        for e in sorted(json_validator(name).iter_errors(document), key=lambda e: e.path)
    ]
    if errors:
        raise SchemaViolation(f"document does not match {name}", schema=name, errors=errors)
