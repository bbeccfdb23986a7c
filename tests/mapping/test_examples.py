"""Example pairs beside each mapping: the shipped mappings pass theirs; a failing pair names the
first differing path; a source other than a folder (the database, later) plugs in."""

from __future__ import annotations

import json

import pytest
from lxml import etree

from hub.config import CATALOG
from hub.mapping import Example, Mappings
from hub.mapping.examples import first_difference
from hub.schemas import Schemas
from tests.mapping.conftest import write

SHIPPED = Mappings(CATALOG / "mappings", Schemas(CATALOG / "schemas"))


@pytest.mark.parametrize("name", SHIPPED.names())
def test_each_shipped_mapping_has_examples_and_passes_them(name):
    results = SHIPPED.test(name)
    assert results, f"{name} has no examples"
    assert [r for r in results if not r.passed] == []


def test_a_failing_pair_names_the_first_differing_path(folder, mappings):
    write(folder, "m.yaml", "source: {type: json}\ntarget: {type: json}\nfields: {a.b: x}\n")
    write(folder, "m.examples/ok.in.json", '{"x": 1}')
    write(folder, "m.examples/ok.out.json", '{"a": {"b": 1}}')
    write(folder, "m.examples/wrong.in.json", '{"x": 1}')
    write(folder, "m.examples/wrong.out.json", '{"a": {"b": 1.0}}')
    write(folder, "m.examples/lonely.in.json", '{"x": 1}')
    write(folder, "m.examples/bad.in.xml", "<x/>")
    write(folder, "m.examples/bad.out.json", "{}")
    write(folder, "m.examples/broken.in.json", '{"x": 1}')
    write(folder, "m.examples/broken.out.json", '{"a": ')
    write(folder, "m.examples/README.txt", "not an example")
    assert [r.as_dict() for r in mappings.test("m")] == [
        {
            "case": "bad",
            "passed": False,
            "path": None,
            "message": "bad.in.xml: the mapping's is json",
        },
        {
            "case": "broken",
            "passed": False,
            "path": None,
            "message": "broken.out.json: body is not valid JSON: Expecting value: line 1 column 7 "
            "(char 6)",
        },
        {"case": "lonely", "passed": False, "path": None, "message": "no lonely.out.json"},
        {"case": "ok", "passed": True, "path": None, "message": None},
        {"case": "wrong", "passed": False, "path": "/a/b", "message": "expected 1.0, got 1"},
    ]


def test_a_pair_the_mapping_fails_on_says_where(folder, mappings):
    write(
        folder,
        "m.yaml",
        "source: {type: json}\ntarget: {type: json}\nfields: {a: {from: x, required: true}}\n",
    )
    write(folder, "m.examples/empty.in.json", "{}")
    write(folder, "m.examples/empty.out.json", "{}")
    (result,) = mappings.test("m")
    assert not result.passed and result.path == "/a"
    assert result.message == "the mapping could not map the input: /a: required (x gave nothing)"


@pytest.mark.parametrize(
    ("expected", "actual", "difference"),
    [
        ({"a": 1}, {"a": 1}, None),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, None),
        ({"a": 1}, {"a": True}, ("/a", "expected 1, got True")),
        ({"a": 1}, {}, ("/a", "missing (expected 1)")),
        ({}, {"z": [1]}, ("/z", "not expected: [1]")),
        ({"l": [1, 2]}, {"l": [1, 3]}, ("/l/1", "expected 2, got 3")),
        ({"l": [1, 2]}, {"l": [1]}, ("/l", "expected 2 items, got 1")),
        ("x", ["x"], ("/", "expected 'x', got ['x']")),
    ],
)
def test_json_differences(expected, actual, difference):
    assert first_difference(expected, actual) == difference


@pytest.mark.parametrize(
    ("expected", "actual", "difference"),
    [
        ("<r>\n  <a>1</a>\n</r>", "<r><a>1</a></r>", None),
        ("<r><a>1</a></r>", "<r><a>2</a></r>", ("/r/a", "text: expected '1', got '2'")),
        ("<r><a/><a k='1'/></r>", "<r><a/><a k='2'/></r>", ("/r/a[2]/@k", "expected '1', got '2'")),
        ("<r xmlns='urn:a'/>", "<r/>", ("/r", "expected element {urn:a}r, got r")),
        ("<r><a/><b/></r>", "<r><a/></r>", ("/r", "expected 2 child elements, got 1")),
        ("<r><a/>x</r>", "<r><a/>y</r>", ("/r", "text after a: expected 'x', got 'y'")),
    ],
)
def test_xml_differences(expected, actual, difference):
    assert first_difference(etree.fromstring(expected), etree.fromstring(actual)) == difference


class MemorySource:
    """What a database source will be: documents by name and version, examples with them."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[str, dict]] = {}

    def names(self) -> list[str]:
        return sorted(self.documents)

    def get(self, name: str) -> tuple[str, dict]:
        return self.documents[name]

    def examples(self, name: str) -> list[Example]:
        return [Example("one", ("json", b'{"x": 1}'), ("json", b'{"y": 1}'))]


def test_mappings_take_any_source_and_compile_once_per_version(schemas):
    source = MemorySource()
    document = {"source": {"type": "json"}, "target": {"type": "json"}, "fields": {"y": "x"}}
    source.documents["m"] = ("v1", document)
    mappings = Mappings(source, schemas)
    first = mappings.load("m")
    assert mappings.load("m") is first and first.version == "v1"
    assert [r.passed for r in mappings.test("m")] == [True]
    source.documents["m"] = ("v2", {**document, "fields": {"y": "z"}})
    assert mappings.load("m").version == "v2"
    assert json.loads(mappings.load("m").map(b'{"z": 5}')) == {"y": 5}
    assert [r.path for r in mappings.test("m")] == ["/y"]
