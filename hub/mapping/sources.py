"""Where mapping documents come from, apart from what the engine does with them.

A source answers three questions: which mappings there are, a mapping's document with a version
token (any string that changes whenever the document does: the engine compiles a mapping once
per version), and its example pairs. ``FolderSource`` reads a folder (``LGSP_MAPPING_DIR``, the
built-in set); ``RegistrySource`` puts the versions uploaded to the registry in front of it,
so every replica maps with the same version.

In a folder a mapping ``NAME`` is ``NAME.yaml``, ``NAME.yml`` or ``NAME.json`` (read as strict
YAML: JSON is YAML), with an optional stylesheet ``NAME.xsl`` (used as the document's ``xslt``)
and example pairs in ``NAME.examples/``: ``CASE.in.json`` or ``CASE.in.xml`` and
``CASE.out.json`` or ``CASE.out.xml``. The version is the size and modification time of the
document and its stylesheet, checked on every use: an edited file is used by the next message,
without a restart.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hub.content import loads_yaml
from hub.errors import MalformedInput, NotFound
from hub.mapping.errors import InvalidMapping
from hub.mapping.examples import Example

if TYPE_CHECKING:
    from hub.registry.documents import Documents

__all__ = ["MAX_DOCUMENT_BYTES", "FolderSource", "MappingSource", "read_document"]

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
SUFFIXES = (".yaml", ".yml", ".json")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}")
_CASE = re.compile(r"(.+)\.(in|out)\.(json|xml)")


class MappingSource(Protocol):
    def names(self) -> list[str]:
        """The mappings there are, sorted."""

    def get(self, name: str) -> tuple[str, dict[str, Any]]:
        """``(version, document)``; ``NotFound`` if there is no such mapping,
        ``InvalidMapping`` if its document cannot be read. Cheap while it is unchanged."""

    def examples(self, name: str) -> list[Example]:
        """The example pairs of the mapping's current version, sorted by case."""


class FolderSource:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._cache: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        found = {p.stem for p in self.root.glob("*") if p.suffix in SUFFIXES and p.is_file()}
        return sorted(n for n in found if _NAME.fullmatch(n))

    def get(self, name: str) -> tuple[str, dict[str, Any]]:
        path, stat = self._find(name)
        stylesheet = self.root / f"{name}.xsl"
        try:
            xsl = stylesheet.stat()
        except OSError:
            xsl = None
        version = f"{path.suffix}:{stat.st_size}:{stat.st_mtime_ns}"
        if xsl is not None:
            version += f"/xsl:{xsl.st_size}:{xsl.st_mtime_ns}"
        with self._lock:
            cached = self._cache.get(name)
        if cached and cached[0] == version:
            return cached
        document = self._read(name, path, stylesheet if xsl else None)
        with self._lock:
            self._cache[name] = (version, document)
        return version, document

    def _find(self, name: str) -> tuple[Path, os.stat_result]:
        """The one document file of ``name``: a plain name, nothing outside the folder."""
        found = []
        if _NAME.fullmatch(name) and ".." not in name:
            for suffix in SUFFIXES:
                path = self.root / f"{name}{suffix}"
                try:
                    found.append((path, path.stat()))
                except OSError:
                    continue
        if not found:
            raise NotFound(f"mapping {name!r} is not in the registry")
        if len(found) > 1:
            files = ", ".join(p.name for p, _ in found)
            raise InvalidMapping(name, [{"path": "/", "message": f"several files: {files}"}])
        return found[0]

    def _read(self, name: str, path: Path, stylesheet: Path | None) -> dict[str, Any]:
        document = read_document(name, _small(name, path), path.name)
        if stylesheet is not None and isinstance(document, dict):
            if "xslt" in document:
                raise InvalidMapping(
                    name,
                    [{"path": "/xslt", "message": f"given inline and as {stylesheet.name}"}],
                )
            try:
                document["xslt"] = _small(name, stylesheet).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidMapping(
                    name, [{"path": "/xslt", "message": f"{stylesheet.name} is not UTF-8: {exc}"}]
                ) from None
        return document

    def examples(self, name: str) -> list[Example]:
        self._find(name)  # NotFound for a name that is not a mapping here
        folder = self.root / f"{name}.examples"
        pairs: dict[str, dict[str, tuple[str, bytes]]] = {}
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if (matched := _CASE.fullmatch(path.name)) and path.is_file():
                case, direction, kind = matched.groups()
                pairs.setdefault(case, {})[direction] = (kind, path.read_bytes())
        return [Example(case, sides.get("in"), sides.get("out")) for case, sides in pairs.items()]


def read_document(name: str, data: bytes | str, label: str) -> Any:
    """A mapping document's text as a value (strict YAML: JSON is YAML; no anchors, aliases or
    tags); ``InvalidMapping`` naming ``label`` (its file) and the line when it cannot be read.
    The value is then checked by ``compile_mapping``."""
    try:
        return loads_yaml(data)
    except MalformedInput as exc:
        reason = exc.details.get("reason")
        message = f"{label}: {exc.message}" + (f": {reason}" if reason else "")
        raise InvalidMapping(name, [{"path": "/", "message": message}]) from None


def _small(name: str, path: Path) -> bytes:
    if not path.is_file() or path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise InvalidMapping(
            name, [{"path": "/", "message": f"{path.name} is not a file of at most 4 MiB"}]
        )
    return path.read_bytes()


class RegistrySource:
    """Mappings uploaded to the registry (``hub.registry.documents``), each version with its
    example pairs, over the built-in ``FolderSource``: a name never uploaded is the file.
    ``name@N`` pins an uploaded version. Every replica reads the same versions from the store
    (the latest within the registry cache window)."""

    def __init__(self, documents: Documents, builtin: MappingSource) -> None:
        self._documents = documents
        self._builtin = builtin
        self._parsed: dict[tuple[str, int], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted({*self._builtin.names(), *self._documents.latest("mapping")})

    def get(self, name: str) -> tuple[str, dict[str, Any]]:
        uploaded = self._documents.get("mapping", name)
        if uploaded is None:
            return self._builtin.get(name)
        key = (uploaded.name, uploaded.version)
        with self._lock:
            document = self._parsed.get(key)
        if document is None:
            document = read_document(name, uploaded.content, f"{name}@{uploaded.version}")
            with self._lock:
                self._parsed[key] = document
        return f"registry:{uploaded.version}", document

    def examples(self, name: str) -> list[Example]:
        uploaded = self._documents.get("mapping", name)
        if uploaded is None:
            return self._builtin.examples(name)
        return stored_examples(uploaded.examples or [])


def stored_examples(stored: list[dict[str, Any]]) -> list[Example]:
    """Example pairs as the registry stores them (``bundle_examples``), back as ``Example``."""
    return [
        Example(
            e["case"],
            (e["in"]["type"], e["in"]["text"].encode()),
            (e["out"]["type"], e["out"]["text"].encode()),
        )
        for e in stored
    ]


def bundle_examples(examples: list[Example]) -> list[dict[str, Any]]:
    """Example pairs as the registry stores them (text, with each side's type)."""
    stored = []
    for example in examples:
        if example.given is None or example.expected is None:
            raise InvalidMapping(
                "examples", [{"path": f"/examples/{example.case}", "message": "half a pair"}]
            )
        stored.append(
            {
                "case": example.case,
                "in": {"type": example.given[0], "text": example.given[1].decode("utf-8")},
                "out": {"type": example.expected[0], "text": example.expected[1].decode("utf-8")},
            }
        )
    return stored
