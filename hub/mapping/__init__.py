"""The mapping engine: a route may name a mapping, applied in the worker before delivery.

Mappings are data, not code: a document (YAML or JSON) validated against the shipped
``mapping.schema.json`` when it is loaded, with example pairs beside it. For example::

    description: A one-stop system's progress → DVCQG progress (CapNhatTienDoHoSoMC)
    source: {type: json}                   # json or xml; `schema: NAME` checks that side
    target: {type: json}
    fields:
      data.MaHoSo: hoSo.ma                 # a string: a JMESPath expression on the source
      data.TrangThai: {from: trangThai, code_list: trang-thai, required: true}
      data.ThoiDiemXuLy: {from: thoiDiem, date: {from: iso, to: yyyyMMddHHmmss}}
      data.NguoiXuLy: {from: canBo.hoTen, default: "Bộ phận một cửa"}
    constants: {service: CapNhatTienDoHoSoMC}
    code_lists:
      trang-thai: {entries: {receiving: 1, new: 2, processing: 4, done: 10}}

The parts: ``engine`` compiles a document into a ``Mapping`` (source and target sides, field
rules, stylesheet) that parses, checks and maps one value; ``rules`` (field rules in JMESPath —
a specified language with a compliance suite, pure Python, no code execution, no loops — and
code lists), ``dates``, ``xmljson`` (the XML ↔ JSON convention),
``xslt`` (XML → XML, sandboxed); ``examples`` runs the pairs; ``sources`` is where documents
come from (the registry's uploaded versions over the built-in folder); ``catalog`` is
``Mappings``, the object the hub holds (``hub.mappings``), and ``verify``, what an upload must
pass.
"""

from __future__ import annotations

from hub.mapping.catalog import Mappings
from hub.mapping.engine import MAX_MAPPED_BYTES, Mapping, Trial, compile_mapping
from hub.mapping.errors import InvalidMapping, MappingFailed
from hub.mapping.examples import Example, ExampleResult
from hub.mapping.sources import FolderSource, MappingSource, read_document

__all__ = [
    "MAX_MAPPED_BYTES",
    "Example",
    "ExampleResult",
    "FolderSource",
    "InvalidMapping",
    "Mapping",
    "MappingFailed",
    "MappingSource",
    "Mappings",
    "Trial",
    "compile_mapping",
    "read_document",
]
