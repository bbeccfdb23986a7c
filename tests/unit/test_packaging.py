"""A wheel of the project carries what the hub reads at run time: the shipped schemas and
mappings (the default ``LGSP_SCHEMA_DIR`` / ``LGSP_MAPPING_DIR``), the migrations and the
sandbox's WSDL — so a ``pip install`` runs as a checkout does."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hub.config import Settings

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns("__pycache__", "*.egg-info")


@pytest.mark.timeout(180)
def test_the_wheel_ships_schemas_mappings_migrations_and_wsdl(tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ beside the sources
    source.mkdir()
    for part in ("pyproject.toml", "README.md", "hub", "connectors", "sandbox"):
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy2
        copy(ROOT / part, source / part, **({"ignore": IGNORED} if copy is shutil.copytree else {}))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (wheel,) = tmp_path.glob("lgsp_hub-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    settings = Settings()
    shipped = [
        p.relative_to(ROOT).as_posix()
        for folder in (settings.schema_dir, settings.mapping_dir)
        for p in folder.rglob("*")
        if p.is_file()  # a mapping's examples are files in a folder beside it
    ]
    assert shipped and set(shipped) <= names
    assert "hub/store/migrations/versions/0003_outlast_outages.py" in names
    assert "sandbox/citizen_lookup.wsdl" in names
    assert "hub/mapping/mapping.schema.json" in names
