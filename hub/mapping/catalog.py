"""The mappings the hub uses (``hub.mappings``): by name, from a source, compiled once per
version, applied to payloads in the worker.

A compiled mapping is kept until its source reports another version, and so is a refusal: a
broken mapping is not recompiled for every message, and a fixed one is used by the next.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hub.content import media_family
from hub.errors import HubError, LocalDeliveryError, SchemaViolation
from hub.mapping.engine import MAX_MAPPED_BYTES, Mapping, compile_mapping, too_large
from hub.mapping.errors import InvalidMapping
from hub.mapping.examples import Example, ExampleResult, run_example
from hub.mapping.sources import FolderSource, MappingSource
from hub.payload import Payload
from hub.schemas import Schemas

__all__ = ["Mappings", "verify"]


class Mappings:
    def __init__(self, source: MappingSource | Path, schemas: Schemas) -> None:
        self.source = FolderSource(source) if isinstance(source, Path | str) else source
        self._schemas = schemas
        self._compiled: dict[str, tuple[str, Mapping | InvalidMapping]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return self.source.names()

    def load(self, name: str) -> Mapping:
        """The compiled mapping; ``NotFound`` if there is none of that name, ``InvalidMapping``
        (naming each problem's place in the document) if it cannot be used."""
        version, document = self.source.get(name)
        with self._lock:
            cached = self._compiled.get(name)
        if cached is None or cached[0] != version:
            try:
                compiled: Mapping | InvalidMapping = compile_mapping(
                    name, version, document, self._schemas
                )
            except InvalidMapping as exc:
                compiled = exc
            cached = (version, compiled)
            with self._lock:
                self._compiled[name] = cached
        if isinstance(cached[1], InvalidMapping):
            raise cached[1]
        return cached[1]

    def apply(self, name: str, payload: Payload) -> Payload:
        """Map ``payload``; raises ``LocalDeliveryError`` (retrying cannot fix a mapping, and
        the partner is not to blame) with the failure's details: ``side``, ``errors``."""
        try:
            mapping = self.load(name)
            family = media_family(payload.content_type)
            if family != mapping.source.type:
                raise LocalDeliveryError(
                    f"mapping {name} maps {mapping.source.type}, got {payload.content_type}",
                    mapping=name,
                )
            if payload.size > MAX_MAPPED_BYTES:
                raise LocalDeliveryError(f"mapping {name}: {too_large(payload.size)}", mapping=name)
            output = mapping.map(payload.read(MAX_MAPPED_BYTES))
        except LocalDeliveryError:
            raise
        except InvalidMapping as exc:
            raise LocalDeliveryError(exc.message, **exc.details) from None
        except HubError as exc:
            details = {**exc.details, "mapping": name}
            raise LocalDeliveryError(f"mapping {name}: {exc.message}", **details) from None
        return Payload.of(output, mapping.target.content_type)

    def test(self, name: str) -> list[ExampleResult]:
        """Run the mapping's example pairs (``InvalidMapping`` if it cannot be compiled)."""
        mapping = self.load(name)
        return [run_example(mapping, example) for example in self.source.examples(name)]


def verify(name: str, document: dict[str, Any], examples: list[Example], schemas: Schemas) -> None:
    """What an upload must pass before it is kept: the document compiles (``InvalidMapping``,
    naming each problem's place) and it has example pairs that all come out as given
    (``SchemaViolation`` naming each failing case and the first difference)."""
    compiled = compile_mapping(name, "upload", document, schemas)
    if not examples:
        raise SchemaViolation(
            f"mapping {name} has no example pairs; an upload carries at least one",
            errors=[{"path": "/examples", "message": "at least one pair"}],
        )
    failed = [r for r in (run_example(compiled, e) for e in examples) if not r.passed]
    if failed:
        raise SchemaViolation(
            f"{len(failed)} example pair(s) of mapping {name} do not come out as given",
            errors=[
                {"path": f"/examples/{r.case}{r.path or ''}", "message": r.message or ""}
                for r in failed
            ],
        )
