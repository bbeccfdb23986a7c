"""A mapping folder and a schema folder of the test's own, and the ``Mappings`` over them."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from hub.config import CATALOG
from hub.mapping import Mappings
from hub.payload import Payload
from hub.schemas import Schemas

# A DVCQG progress body, as a partner's schema would pin it (the target of several tests).
PROGRESS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["service", "data"],
    "properties": {
        "service": {"const": "CapNhatTienDoHoSoMC"},
        "data": {
            "type": "object",
            "required": ["MaHoSo", "TrangThai"],
            "properties": {
                "MaHoSo": {"type": "string"},
                "TrangThai": {"type": "integer", "minimum": 1, "maximum": 10},
            },
        },
    },
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "mappings"
    path.mkdir()
    return path


@pytest.fixture
def schemas(tmp_path: Path) -> Schemas:
    path = tmp_path / "schemas"
    shutil.copytree(CATALOG / "schemas", path)
    (path / "dvcqg-progress.v1.json").write_text(json.dumps(PROGRESS_SCHEMA))
    return Schemas(path)


@pytest.fixture
def mappings(folder: Path, schemas: Schemas) -> Mappings:
    return Mappings(folder, schemas)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def as_json(value: object) -> Payload:
    return Payload.of(json.dumps(value, ensure_ascii=False).encode(), "application/json")


def as_xml(text: str) -> Payload:
    return Payload.of(text.encode(), "application/xml")
