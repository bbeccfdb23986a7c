"""The layout stays as DESIGN.md draws it: public modules say what they export (``__all__``),
connectors depend only on the connector seam, and the sandbox on nothing of the hub's."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import hub

ROOT = Path(__file__).resolve().parents[2]
# What a connector may import from the hub: the seam, its payload handle, the errors, the
# shipped contract suite.
CONNECTOR_MAY_IMPORT = {"hub.connector", "hub.payload", "hub.errors", "hub.testing"}


def _modules(package) -> list[str]:
    """Public modules, and packages whose ``__init__`` holds more than a docstring."""
    names = []
    for m in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".migrations" in m.name or m.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        if m.ispkg:
            init = ROOT.joinpath(*m.name.split("."), "__init__.py")
            body = ast.parse(init.read_text(encoding="utf-8")).body
            if all(
                isinstance(n, ast.Expr)
                and isinstance(n.value, ast.Constant)
                or isinstance(n, ast.ImportFrom)
                and n.module == "__future__"
                for n in body
            ):
                continue
        names.append(m.name)
    return names


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_public_hub_module_declares_what_it_exports():
    missing, unknown = [], []
    for name in _modules(hub):
        module = importlib.import_module(name)
        exported = getattr(module, "__all__", None)
        if exported is None:
            missing.append(name)
            continue
        unknown += [f"{name}.{n}" for n in exported if not hasattr(module, n)]
    assert not missing, f"modules without __all__: {missing}"
    assert not unknown, f"__all__ names that do not exist: {unknown}"


def test_connectors_import_only_the_connector_seam_of_the_hub():
    for path in (ROOT / "connectors").glob("*.py"):
        from_hub = {m for m in _imports(path) if m == "hub" or m.startswith("hub.")}
        assert from_hub <= CONNECTOR_MAY_IMPORT, f"{path.name} imports {from_hub}"


def test_the_sandbox_imports_nothing_from_the_hub():
    for path in (ROOT / "sandbox").glob("*.py"):
        from_hub = {m for m in _imports(path) if m == "hub" or m.startswith("hub.")}
        assert not from_hub, f"sandbox/{path.name} imports {from_hub}"
