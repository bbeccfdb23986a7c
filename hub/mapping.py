"""The mapping hook: a route may name a mapping applied in the worker before delivery.

This is the minimal engine the spine needs; the full mapping engine (JMESPath rules, code lists,
XSLT, example pairs) replaces ``apply`` without changing its signature. A mapping is a JSON file
``mappings/<name>.json``::

    {"source_schema": "x.v1.json", "target_schema": "y.v1.json",
     "fields": {"target.dotted.path": "source.dotted.path"},
     "constants": {"target.path": "fixed value"}}

The output is validated against ``target_schema`` when one is named.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub import schemas
from hub.errors import NotFound, PermanentDeliveryError, SchemaViolation

MAPPING_DIR = Path(__file__).resolve().parent.parent / "mappings"


@lru_cache(maxsize=128)
def load(name: str) -> dict[str, Any]:
    path = (MAPPING_DIR / f"{name}.json").resolve()
    if path.parent != MAPPING_DIR or not path.is_file():
        raise NotFound(f"mapping {name!r} does not exist")
    return json.loads(path.read_text(encoding="utf-8"))


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


def apply(name: str, content_type: str, payload: bytes) -> tuple[str, bytes]:
    """Map ``payload``; raises ``PermanentDeliveryError`` (retrying cannot fix a mapping)."""
    spec = load(name)
    if not content_type.startswith("application/json"):
        raise PermanentDeliveryError(f"mapping {name} maps JSON, got {content_type}")
    try:
        source = json.loads(payload)
        if spec.get("source_schema"):
            schemas.validate(spec["source_schema"], source)
        target: dict[str, Any] = {}
        for out_path, in_path in spec.get("fields", {}).items():
            value = _get(source, in_path)
            if value is not None:
                _set(target, out_path, value)
        for out_path, value in spec.get("constants", {}).items():
            _set(target, out_path, value)
        if spec.get("target_schema"):
            schemas.validate(spec["target_schema"], target)
    except SchemaViolation as exc:
        raise PermanentDeliveryError(f"mapping {name}: {exc.message}", **exc.details) from None
    except ValueError as exc:
        raise PermanentDeliveryError(f"mapping {name}: payload is not JSON: {exc}") from None
    return "application/json", json.dumps(target, ensure_ascii=False).encode()
