"""The agency directory: every agency old and new — its QĐ 20/2020 code (``codes``), level,
parent, state (active, closed, merged into a successor) and the dates its code was in force —
with other spellings of its code (aliases), the history of every change, which system
receives its documents and which systems speak for it.

``resolution`` turns the code a document carries into the agency that answers for it today;
``agencies`` reads (one agency, search, the tree of an era); ``changes`` merges, closes,
reopens, renames and keeps aliases; ``grants`` says which agencies a system speaks for;
``imports`` loads a CSV, JSON or VDXP list whole or not at all; ``rules`` is what an entry must
satisfy, ``history`` what changed.

The names below are loaded when first used: ``hub.registry`` checks agencies with ``rules``
and this package's modules use the registry's writes.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "Resolution": "resolution",
    "resolve": "resolution",
    "resolve_many": "resolution",
    "detail": "agencies",
    "search": "agencies",
    "tree": "agencies",
    "add_alias": "changes",
    "close": "changes",
    "merge": "changes",
    "remove_alias": "changes",
    "rename": "changes",
    "reopen": "changes",
    "grant": "grants",
    "revoke": "grants",
    "speaks_for": "grants",
    "import_agencies": "imports",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
