"""What goes wrong with a mapping, in the shape of ``SchemaViolation``: a message, and
``errors=[{"path", "message"}]`` naming each field.

Two kinds, because they have different owners: ``InvalidMapping`` is the mapping document itself
(refused when loaded, its paths point into the document: ``/fields/data.MaHoSo/from``);
``MappingFailed`` is one value the mapping could not map, with the ``side`` that failed —
``source`` (the input does not match the source schema), ``mapping`` (a rule or the stylesheet:
a required field, a code missing from a list, a date that is not one; the path is the target
field) or ``target`` (the output does not match the target schema). The pipeline turns either
into a ``LocalDeliveryError``: our failure, never the partner's.
"""

from __future__ import annotations

from typing import Any

from hub.errors import SchemaViolation

__all__ = ["InvalidMapping", "MappingFailed", "pointer"]


class InvalidMapping(SchemaViolation):
    code = "invalid_mapping"

    def __init__(self, name: str, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"mapping {name} is not valid: {first['path']}: {first['message']}{more}",
            mapping=name,
            errors=errors,
        )


class MappingFailed(SchemaViolation):
    code = "mapping_failed"

    def __init__(self, side: str, errors: list[dict[str, Any]], schema: str | None = None) -> None:
        first = errors[0]
        what = {
            "source": f"the input does not match {schema}" if schema else "the input is not valid",
            "mapping": "the mapping could not map the input",
            "target": f"the output does not match {schema}",
        }[side]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(
            f"{what}: {first['path']}: {first['message']}{more}",
            side=side,
            errors=errors,
            **({"schema": schema} if schema else {}),
        )


def pointer(dotted: str) -> str:
    """A target field's dotted path as the JSON pointer-like path errors use."""
    return "/" + dotted.replace(".", "/")
