"""Agency codes as QĐ 20/2020 writes them (``000.00.00.H49``, read right to left) and as newer
systems write them since the 2025 mergers (``H56.14``, the body first); aliases; names folded
for search. Pure functions: no store."""

from __future__ import annotations

import pytest

from hub.bootstrap import OPERATOR_AGENCY
from hub.directory.codes import (
    INTERNAL_CODES,
    AgencyCode,
    alias_problem,
    check_alias,
    check_code,
    fold,
    is_code,
    parse,
)
from hub.errors import SchemaViolation


@pytest.mark.parametrize(
    "code,body,units,depth",
    [
        ("000.00.00.H49", "H49", ("00", "00", "000"), 0),  # the People's Committee itself
        ("000.00.00.G22", "G22", ("00", "00", "000"), 0),  # the Government Office
        ("000.00.11.H53", "H53", ("11", "00", "000"), 1),  # a unit under province H53
        ("000.01.21.H56", "H56", ("21", "01", "000"), 2),
        ("001.00.00.H57", "H57", ("00", "00", "001"), 3),
        ("H56", "H56", (), 0),
        ("H56.14", "H56", ("14",), 1),
        ("K57.03.12", "K57", ("03", "12"), 2),
        ("A53.01.02.03", "A53", ("01", "02", "03"), 3),
    ],
)
def test_a_code_is_read_into_its_body_and_units(code, body, units, depth):
    parsed = parse(code)
    assert isinstance(parsed, AgencyCode)
    assert (parsed.body, parsed.units, parsed.depth) == (body, units, depth)
    assert parsed.form == ("short" if code[0].isalpha() else "full")
    assert is_code(code) and check_code("code", code) == code


@pytest.mark.parametrize(
    "code",
    [
        "",
        "000.00.00.h49",  # the body's letter is a capital
        "00.00.00.H49",
        "0000.00.00.H49",
        "000.0.00.H49",
        "000.00.00.H4",
        "000.00.00.H490",
        "000-00-00-H49",
        "000.00.00.H49 ",
        " 000.00.00.H49",
        "000.00.00.H49\n",
        "H56.1",
        "H56.14.",
        "H56.14.03.01.02",  # deeper than the full form goes
        "56.14",
        "HH6.14",
        "H56,14",
        "vdxp.namson.ubnd",
        "٠٠٠.٠٠.٠٠.H49",  # Arabic-Indic digits are digits to \d in Python, not to QĐ 20/2020
    ],
)
def test_anything_else_is_not_a_code_and_the_refusal_names_the_field(code):
    assert parse(code) is None and not is_code(code)
    with pytest.raises(SchemaViolation) as info:
        check_code("parent_code", code)
    assert info.value.details["errors"] == [
        {"path": "/parent_code", "message": "not an agency code"}
    ]
    assert "000.00.00.H49" in info.value.message and "H56.14" in info.value.message


def test_not_text_is_not_a_code():
    assert parse(None) is None and parse(49) is None  # type: ignore[arg-type]


def test_the_operator_agency_is_the_one_code_outside_the_format():
    assert INTERNAL_CODES == {OPERATOR_AGENCY}
    assert check_code("code", OPERATOR_AGENCY) == OPERATOR_AGENCY
    assert not is_code(OPERATOR_AGENCY)


@pytest.mark.parametrize("alias", ["H56.14", "vdxp.namson.ubnd", "000.00.00.H49", "a" * 64, "x"])
def test_an_alias_is_any_short_text(alias):
    assert alias_problem(alias) is None and check_alias(alias) == alias


@pytest.mark.parametrize(
    "alias,problem",
    [
        ("", "must be 1–64 characters"),
        ("   ", "must be 1–64 characters"),
        ("a" * 65, "must be 1–64 characters"),
        (" H56.14", "must not begin or end with a blank"),
        ("a/b", "must not hold / or a control character"),
        ("a\tb", "must not hold / or a control character"),
        (None, "must be 1–64 characters"),
    ],
)
def test_a_bad_alias_is_refused_naming_it(alias, problem):
    assert alias_problem(alias) == problem
    with pytest.raises(SchemaViolation) as info:
        check_alias(alias)
    assert info.value.details["errors"][0]["path"] == "/alias"


@pytest.mark.parametrize(
    "name,folded",
    [
        ("Sở Tài chính", "so tai chinh"),
        ("ỦY BAN NHÂN DÂN  tỉnh   Đắk Lắk", "uy ban nhan dan tinh dak lak"),
        ("Phường Đông Hà", "phuong dong ha"),
        ("so tai chinh", "so tai chinh"),
        # the same letters decomposed (NFD), as some systems send them
        ("So\u031b\u0309 Ta\u0300i chi\u0301nh", "so tai chinh"),
    ],
)
def test_names_fold_without_accents_or_case(name, folded):
    assert fold(name) == folded
