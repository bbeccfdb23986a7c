"""Schema registry: JSON Schemas (draft 2020-12) and XSDs in a folder (``LGSP_SCHEMA_DIR``, by
default the ones shipped in ``hub/catalog/schemas``), named by file (``dossier-status.v1.json``,
``citizen-lookup.v1.xsd``). Validation errors name the field: a JSON pointer-like path for JSON,
the element path and line for XML.

A compiled schema is kept while its file is unchanged (same size and modification time): a
fixed schema is used by the next message, without a restart.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
from lxml import etree

from hub import xmlsafe
from hub.content import loads_json
from hub.errors import HubError, NotFound, SchemaViolation

if TYPE_CHECKING:
    from hub.registry.documents import Documents

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
    """JSON Schemas and XSDs by name: the latest version uploaded to the registry
    (``hub.registry.documents``; ``name@N`` pins one), else the built-in file of that name."""

    def __init__(self, root: Path, documents: Documents | None = None) -> None:
        self._files = FileCache(root, "schema")
        self._documents = documents
        self._compiled: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()
        self._pending: dict[str, str] = {}

    def names(self) -> list[str]:
        uploaded = self._documents.latest("schema") if self._documents else {}
        return sorted({*self._files.names((".json", ".xsd")), *uploaded})

    def with_pending(self, pending: dict[str, str]) -> Schemas:
        """These schemas as they will be once ``pending`` (name → content) is uploaded: a
        registry file's mappings are checked against the schemas the same file brings."""
        view = Schemas.__new__(Schemas)
        view.__dict__.update(self.__dict__)
        view._pending = pending
        return view

    def exists(self, ref: str) -> bool:
        """Does ``ref`` (``name`` or ``name@version``) name a schema the hub has?"""
        if ref in self._pending:
            return True
        try:
            if self._documents and self._documents.get("schema", ref) is not None:
                return True
        except (NotFound, SchemaViolation):  # no such version, or not a name at all
            return False
        return ref in self._files.names((".json", ".xsd"))

    def _get(self, ref: str, from_text, from_path) -> Any:
        if ref in self._pending:
            return from_text(self._pending[ref])
        document = self._documents.get("schema", ref) if self._documents else None
        if document is None:
            return self._files.get(ref, from_path)
        key = (document.name, document.version)
        with self._lock:
            hit = self._compiled.get(key)
        if hit is None:
            hit = from_text(document.content)
            with self._lock:
                self._compiled[key] = hit
        return hit

    def json_validator(self, name: str) -> jsonschema.Draft202012Validator:
        return self._get(
            name, _json_validator, lambda path: _json_validator(path.read_text(encoding="utf-8"))
        )

    def xml_schema(self, name: str) -> etree.XMLSchema:
        return self._get(
            name,
            lambda text: etree.XMLSchema(xmlsafe.parse(text.encode())),
            lambda path: etree.XMLSchema(etree.parse(str(path), xmlsafe.parser())),
        )

    @staticmethod
    def check(name: str, content: str) -> None:
        """Refuse (``SchemaViolation``, saying why) a document that is not a valid JSON Schema
        or XSD of its name's kind — before it is uploaded."""
        if not name.endswith((".json", ".xsd")):
            raise SchemaViolation(
                "a schema's name ends in .json (JSON Schema) or .xsd (XML Schema)",
                errors=[{"path": "/name", "message": "no .json or .xsd"}],
            )
        try:
            if name.endswith(".json"):
                _json_validator(content)
            else:
                etree.XMLSchema(xmlsafe.parse(content.encode()))
        except HubError:
            raise
        except jsonschema.SchemaError as exc:
            raise SchemaViolation(
                f"not a valid JSON Schema: {exc.message}",
                errors=[
                    {"path": "/" + "/".join(map(str, exc.absolute_path)), "message": exc.message}
                ],
            ) from None
        except (etree.XMLSyntaxError, etree.XMLSchemaParseError, ValueError) as exc:
            raise SchemaViolation(
                f"not a valid {'XSD' if name.endswith('.xsd') else 'JSON Schema'}: {exc}",
                errors=[{"path": "/", "message": str(exc)[:300]}],
            ) from None

    def builtin_text(self, name: str) -> str:
        return self._files.path(name).read_text(encoding="utf-8")

    @staticmethod
    def is_xml(name: str) -> bool:
        return name.split("@", 1)[0].endswith(".xsd")

    def validate(self, name: str, document: Any) -> None:
        """Validate a parsed JSON value, an lxml element, or a large XML document scanned from
        its file (``xmlsafe.Scanned``, validated in a second streaming pass), against ``name``."""
        if self.is_xml(name):
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
                    {"path": element_path(document, e.path), "line": e.line, "message": e.message}
                    for e in schema.error_log
                ]
            )
        else:
            raise SchemaViolation(f"schema {name} expects an XML document")
        if errors:
            raise SchemaViolation(f"document does not match {name}", schema=name, errors=errors)


def _json_validator(text: str) -> jsonschema.Draft202012Validator:
    schema = loads_json(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def element_path(document: etree._Element, xpath: str | None) -> str:
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
