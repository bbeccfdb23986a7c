"""``hub.testing`` (the shipped contract suite) needs pytest, a test extra: hub code must never
import it, so ``import hub`` works without pytest. (The connector and sandbox import rules are
in ``tests/unit/test_layout.py``.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports_test_support(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if isinstance(node, ast.ImportFrom) and node.module
            else []
        )
        if any(name == "hub.testing" or name.startswith("hub.testing.") for name in names):
            return True
    return False


def test_hub_code_never_imports_the_test_support() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "hub").rglob("*.py"))
        if "testing" not in p.relative_to(ROOT).parts and imports_test_support(p)
    ]
    assert offenders == []
