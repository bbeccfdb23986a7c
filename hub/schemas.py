"""Schema registry: JSON Schemas (draft 2020-12) and XSDs in a folder (``LGSP_SCHEMA_DIR``, by
default the ones shipped in ``hub/catalog/schemas``), named by file (``dossier-status.v1.json``,
``citizen-lookup.v1.xsd``). Validation errors name the field: a JSON pointer-like path for JSON,
the element path and line for XML.

A compiled schema is kept while its file is unchanged (same size and modification time): a
fixed schema is used by the next message, without a restart.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree

from hub import xmlsafe
from hub.errors import NotFound, SchemaViolation

__all__ = ["FileCache", "Schemas", "field_errors"]

_PLAIN_NAME = re.compile(r"[^/\\\x00]+")  # one file name: no folder part, no NUL


class FileCache:
    """Values built from files in one folder, rebuilt when a file's size or mtime changes.
    Names are plain file names: nothing outside the folder is ever read."""

    def __init__(self, root: Path, what: str) -> None:
        self.root = Path(root).resolve()
        self._what = what
        self._entries: dict[str, tuple[tuple[int, int], Any]] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if path.parent != self.root or not path.is_file():
            raise NotFound(f"{self._what} {name!r} is not in the registry")
        return path

    def get(self, name: str, build) -> Any:
        # One stat per use; the full check of ``path`` (a realpath, several syscalls) runs
        # only when the value is (re)built, which is also when the file is read.
        try:
            stat = os.stat(self.root / name) if _PLAIN_NAME.fullmatch(name) else None
        except OSError:
            stat = None
        if stat is None:
            raise NotFound(f"{self._what} {name!r} is not in the registry")
        version = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            hit = self._entries.get(name)
        if hit and hit[0] == version:
            return hit[1]
        value = build(self.path(name))
        with self._lock:
            self._entries[name] = (version, value)
        return value

    def names(self, suffixes: tuple[str, ...]) -> list[str]:
        return sorted(p.name for p in self.root.glob("*") if p.suffix in suffixes)


class Schemas:
    def __init__(self, root: Path) -> None:
        self._files = FileCache(root, "schema")

    def names(self) -> list[str]:
        return self._files.names((".json", ".xsd"))

    def json_validator(self, name: str) -> jsonschema.Draft202012Validator:
        def build(path: Path) -> jsonschema.Draft202012Validator:
            schema = json.loads(path.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
            return jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.FormatChecker()
            )

        return self._files.get(name, build)

    def xml_schema(self, name: str) -> etree.XMLSchema:
        return self._files.get(
            name, lambda path: etree.XMLSchema(etree.parse(str(path), xmlsafe.parser()))
        )

    def validate(self, name: str, document: Any) -> None:
        """Validate a parsed JSON value, an lxml element, or a large XML document scanned from
        its file (``xmlsafe.Scanned``, validated in a second streaming pass), against ``name``."""
        if name.endswith(".xsd"):
            self._validate_xml(name, document)
            return
        if isinstance(document, etree._Element | xmlsafe.Scanned):
            raise SchemaViolation(f"schema {name} expects a JSON document, not XML")
        errors = [
            error
            for e in sorted(
                self.json_validator(name).iter_errors(document),
                key=lambda e: list(map(str, e.absolute_path)),
            )
            for error in field_errors(e)
        ]
        if errors:
            raise SchemaViolation(f"document does not match {name}", schema=name, errors=errors)

    def _validate_xml(self, name: str, document: Any) -> None:
        schema = self.xml_schema(name)
        if isinstance(document, xmlsafe.Scanned):
            errors = xmlsafe.scan(document.path, schema=schema).errors
        elif isinstance(document, etree._Element):
            errors = (
                []
                if schema.validate(document)
                else [
                    {"path": _element_path(document, e.path), "line": e.line, "message": e.message}
                    for e in schema.error_log
                ]
            )
        else:
            raise SchemaViolation(f"schema {name} expects an XML document")
        if errors:
            raise SchemaViolation(f"document does not match {name}", schema=name, errors=errors)


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
        extra = [k for k in error.instance if k not in allowed] or _UNEXPECTED.findall(
            error.message
        )
        return [{"path": join + k, "message": f"{k!r} is not allowed here"} for k in extra]
    return [{"path": base, "message": error.message}]
