"""Agency identification codes (QĐ 20/2020/QĐ-TTg, amended by QĐ 09/2025/QĐ-TTg).

The full form is ``V1V2V3.Z1Z2.Y1Y2.L1L2L3`` (``000.00.00.H49``), read right to left: the
level-1 body (a letter and two digits: ``H49`` a provincial People's Committee, ``G22`` the
Government Office), then ``Y1Y2`` (level 2: departments, districts), ``Z1Z2`` (level 3) and
``V1V2V3`` (level 4: communes, units); zeros mean "the body itself". Since the 2025 mergers newer
systems also write a short form, the body first and then its units (``H56.14``). A directory
entry's code is one of the two; an alias (another spelling seen in traffic, such as a hosted
VDXP client's system account) may be any text.

Pure functions, no store: the registry's checks and the CLI load this module cheaply.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from hub.errors import SchemaViolation

__all__ = [
    "FULL",
    "INTERNAL_CODES",
    "MAX_ALIAS_LENGTH",
    "SHORT",
    "AgencyCode",
    "alias_problem",
    "check_alias",
    "check_code",
    "fold",
    "is_code",
    "parse",
]

# ASCII digits only, the whole text (``fullmatch``: ``$`` would let a trailing newline in)
FULL = re.compile(r"([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Z][0-9]{2})")
SHORT = re.compile(r"([A-Z][0-9]{2})((?:\.[0-9]{2}){0,3})")
MAX_ALIAS_LENGTH = 64
# The hub's own operator agency (``hub.bootstrap.OPERATOR_AGENCY``, made at first start) is
# not a government body and has no QĐ 20/2020 code; a test keeps the two names equal.
INTERNAL_CODES = frozenset({"lgsp-hub"})


@dataclass(frozen=True)
class AgencyCode:
    """A code read into its groups: ``body`` (level 1, e.g. ``H49``) and ``units``, the groups
    below it from level 2 down, as written (a full code always has three, zeros included)."""

    text: str
    form: Literal["full", "short"]
    body: str
    units: tuple[str, ...]

    @property
    def depth(self) -> int:
        """How many levels below the body the code names (0: the body itself)."""
        named = [i for i, unit in enumerate(self.units, 1) if unit.strip("0")]
        return named[-1] if named else 0


def parse(code: str) -> AgencyCode | None:
    """The code's groups, or None if it is neither the full nor the short form."""
    if not isinstance(code, str):
        return None
    full = FULL.fullmatch(code)
    if full:
        v, z, y, body = full.groups()
        return AgencyCode(code, "full", body, (y, z, v))
    short = SHORT.fullmatch(code)
    if short:
        body, rest = short.groups()
        return AgencyCode(code, "short", body, tuple(rest.split(".")[1:]))
    return None


def is_code(code: str) -> bool:
    return parse(code) is not None


def check_code(field: str, code: str) -> str:
    """``code`` if it is a directory code, else ``SchemaViolation`` naming ``field``."""
    if code in INTERNAL_CODES or is_code(code):
        return code
    raise SchemaViolation(
        f"{field} must be a QĐ 20/2020 agency code such as 000.00.00.H49, or a short form such "
        "as H56.14",
        errors=[{"path": f"/{field}", "message": "not an agency code"}],
    )


def alias_problem(alias: object) -> str | None:
    """What is wrong with ``alias``, or None: an alias is any text of 1–64 characters without
    surrounding blanks, control characters or ``/`` (it is a segment of the API's paths)."""
    if not isinstance(alias, str) or not alias.strip() or len(alias) > MAX_ALIAS_LENGTH:
        return f"must be 1–{MAX_ALIAS_LENGTH} characters"
    if alias != alias.strip():
        return "must not begin or end with a blank"
    if "/" in alias or any(unicodedata.category(c) == "Cc" for c in alias):
        return "must not hold / or a control character"
    return None


def check_alias(alias: str) -> str:
    """``alias`` if it is one (``alias_problem``), else ``SchemaViolation`` naming it."""
    problem = alias_problem(alias)
    if problem is not None:
        raise SchemaViolation(f"alias {problem}", errors=[{"path": "/alias", "message": problem}])
    return alias


def fold(name: str) -> str:
    """A name as search compares it: without accents (đ as d), case folded, blanks collapsed —
    so "so tai chinh" finds "Sở Tài chính"."""
    name = name.replace("đ", "d").replace("Đ", "D")
    bare = "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())
