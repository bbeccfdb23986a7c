"""The mapping hook: a route may name a mapping applied in the worker before delivery.

This is the minimal engine the spine needs; the full mapping engine (JMESPath rules, code lists,
XSLT, example pairs) replaces ``apply`` without changing its signature. A mapping is a JSON file
``<name>.json`` in ``LGSP_MAPPING_DIR`` (by default the ones shipped in
``hub/catalog/mappings``)::

    {"source_schema": "x.v1.json", "target_schema": "y.v1.json",
     "fields": {"target.dotted.path": "source.dotted.path"},
     "constants": {"target.path": "fixed value"}}

The output is validated against ``target_schema`` when one is named. A mapping file is re-read
when it changes, so a replay uses the mapping as it is now.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.content import loads_json
from hub.errors import HubError, LocalDeliveryError, SchemaViolation
from hub.payload import Payload
from hub.schemas import FileCache, Schemas

__all__ = ["Mappings"]

# A mapping works on a whole JSON value; larger payloads are not mapped in memory.
MAX_MAPPED_BYTES = 16 * 1024 * 1024


def _get(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[last] = value


class Mappings:
    def __init__(self, root: Path, schemas: Schemas) -> None:
        self._files = FileCache(root, "mapping")
        self._schemas = schemas

    def load(self, name: str) -> dict[str, Any]:
        return self._files.get(
            f"{name}.json", lambda path: json.loads(path.read_text(encoding="utf-8"))
        )

    def apply(self, name: str, payload: Payload) -> Payload:
        """Map ``payload``; raises ``LocalDeliveryError`` (retrying cannot fix a mapping, and
        the partner is not to blame)."""
        try:
            spec = self.load(name)
            if not payload.content_type.startswith("application/json"):
                raise LocalDeliveryError(f"mapping {name} maps JSON, got {payload.content_type}")
            source = loads_json(payload.read(MAX_MAPPED_BYTES))
            if spec.get("source_schema"):
                self._schemas.validate(spec["source_schema"], source)
            target: dict[str, Any] = {}
            for out_path, in_path in spec.get("fields", {}).items():
                value = _get(source, in_path)
                if value is not None:
                    _set(target, out_path, value)
            for out_path, value in spec.get("constants", {}).items():
                _set(target, out_path, value)
            if spec.get("target_schema"):
                self._schemas.validate(spec["target_schema"], target)
        except LocalDeliveryError:
            raise
        except SchemaViolation as exc:
            raise LocalDeliveryError(f"mapping {name}: {exc.message}", **exc.details) from None
        except (HubError, ValueError) as exc:
            message = exc.message if isinstance(exc, HubError) else str(exc)
            raise LocalDeliveryError(f"mapping {name}: {message}") from None
        return Payload.of(json.dumps(target, ensure_ascii=False).encode(), "application/json")
