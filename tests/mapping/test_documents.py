"""A mapping document is checked when it is loaded — against the shipped schema, then what a
schema cannot say — and refused naming the place in the document; a changed file is used at
once, without a restart."""

from __future__ import annotations

import json
import os

import pytest

from hub.errors import LocalDeliveryError, NotFound
from hub.mapping import InvalidMapping
from tests.mapping.conftest import as_json, write

MINIMAL = "source: {type: json}\ntarget: {type: json}\n"


def refusal(mappings, name: str) -> list[dict[str, str]]:
    with pytest.raises(InvalidMapping) as caught:
        mappings.load(name)
    assert caught.value.details["mapping"] == name
    return caught.value.details["errors"]


def test_a_yaml_bomb_is_refused_before_anything_is_expanded(folder, mappings):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{b}: &{b} [*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a},*{a}]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    write(folder, "bomb.yaml", MINIMAL + "\n".join(lines) + "\n")
    (error,) = refusal(mappings, "bomb")
    assert error["path"] == "/"
    assert "anchors and aliases are not accepted" in error["message"]
    assert "line 3" in error["message"]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (MINIMAL + "feilds: {a: b}\n", "/feilds", "'feilds' is not allowed here"),
        (MINIMAL + "fields: {a: {from: x, requird: true}}\n", "/fields/a/requird", "not allowed"),
        ("source: {type: csv}\ntarget: {type: json}\n", "/source/type", "is not one of"),
        ("target: {type: json}\n", "/source", "'source' is required"),
        (MINIMAL + "fields: {a: 5}\n", "/fields/a", "is not of type 'string', 'object'"),
        (MINIMAL + "fields: {a: {from: x, required: yes}}\n", "/fields/a/required", "boolean"),
        (MINIMAL + "fields: {a..b: x}\n", "/fields", "does not match"),
        (
            MINIMAL + "fields: {a: {from: x, date: {from: iso, to: unix}}}\n",
            "/fields/a/date/to",
            "is not one of",
        ),
        (
            MINIMAL + "code_lists: {s: {entries: {a: [1]}}}\n",
            "/code_lists/s/entries/a",
            "is not of type",
        ),
        ("- source\n- target\n", "/", "is not of type 'object'"),
    ],
)
def test_a_document_that_does_not_match_the_mapping_schema_names_the_key(
    folder, mappings, text, path, message
):
    write(folder, "m.yaml", text)
    errors = refusal(mappings, "m")
    assert any(e["path"] == path and message in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ("{from: 'a.'}", "/fields/t/from", "not a valid JMESPath expression: Expecting"),
        ("'a[?'", "/fields/t/from", "not a valid JMESPath expression"),
        ("'\"unclosed'", "/fields/t/from", 'Unclosed " delimiter at column 0'),
        ("{from: x, when: 'x =='}", "/fields/t/when", "not a valid JMESPath expression"),
        ("upper(x)", "/fields/t/from", "unknown function upper()"),
        ("length(x, y)", "/fields/t/from", "length() takes 1 argument(s), given 2"),
        ("{from: x, code_list: nope}", "/fields/t/code_list", "no code list 'nope'"),
        ("{required: true}", "/fields/t", "give one of 'from' or 'const'"),
        ("{from: x, const: 1}", "/fields/t", "give one of 'from' or 'const'"),
        ("{const: 1, date: {from: iso, to: iso}}", "/fields/t", "a 'const' is not converted"),
    ],
)
def test_rules_are_checked_when_loaded_naming_the_field(folder, mappings, rule, path, message):
    write(folder, "m.yaml", MINIMAL + f"fields:\n  t: {rule}\n")
    errors = refusal(mappings, "m")
    assert any(e["path"] == path and message in e["message"] for e in errors), errors


def test_a_field_set_twice_or_inside_another_is_refused(folder, mappings):
    write(
        folder, "m.yaml", MINIMAL + "fields: {data.a: x, data: y}\nconstants: {data.a: 1, b: 2}\n"
    )
    assert refusal(mappings, "m") == [
        {"path": "/fields/data", "message": "overlaps field 'data.a'"},
        {"path": "/constants/data.a", "message": "this field is set twice"},
        {"path": "/constants/data.a", "message": "overlaps field 'data'"},
    ]


@pytest.mark.parametrize(
    ("sides", "path", "message"),
    [
        (
            "source: {type: json, schema: nope.v1.json}\ntarget: {type: json}",
            "/source/schema",
            "schema 'nope.v1.json' is not in the registry",
        ),
        (
            "source: {type: json, schema: dossier-status.v1.xsd}\ntarget: {type: json}",
            "/source/schema",
            "dossier-status.v1.xsd is not a schema for json",
        ),
        (
            "source: {type: json, lists: [a]}\ntarget: {type: json}",
            "/source/lists",
            "only an XML source",
        ),
        (
            "source: {type: json}\ntarget: {type: json, namespace: 'urn:x'}",
            "/target/namespace",
            "only an XML target",
        ),
        (
            "source: {type: json}\ntarget: {type: xml}\nxslt: '<x/>'",
            "/xslt",
            "a stylesheet needs an XML source",
        ),
        (
            "source: {type: json, schema: ../schemas/x.json}\ntarget: {type: json}",
            "/source/schema",
            "does not match",
        ),
    ],
)
def test_the_sides_are_checked_when_loaded(folder, mappings, sides, path, message):
    write(folder, "m.yaml", sides + "\n")
    errors = refusal(mappings, "m")
    assert any(e["path"] == path and message in e["message"] for e in errors), errors


def test_yaml_yml_and_json_are_read_alike_and_two_files_for_one_name_are_refused(folder, mappings):
    write(folder, "a.yml", MINIMAL + "constants: {x: 1}\n")
    document = {"source": {"type": "json"}, "target": {"type": "json"}, "constants": {"x": 1}}
    write(folder, "b.json", json.dumps(document))
    assert mappings.names() == ["a", "b"]
    assert json.loads(mappings.apply("a", as_json({})).read()) == {"x": 1}
    assert json.loads(mappings.apply("b", as_json({})).read()) == {"x": 1}
    write(folder, "a.json", "{}")
    (error,) = refusal(mappings, "a")
    assert error["message"] == "several files: a.yml, a.json"


@pytest.mark.parametrize("name", ["nope", "../mappings/m", "/etc/passwd", "m.yaml", "", ".m"])
def test_an_unknown_name_is_not_found_and_nothing_outside_the_folder_is_read(
    folder, mappings, name
):
    write(folder, "m.yaml", MINIMAL)
    with pytest.raises(NotFound):
        mappings.load(name)


def test_a_changed_file_is_used_at_once_and_a_broken_one_is_refused_until_fixed(folder, mappings):
    path = write(folder, "m.yaml", MINIMAL + "constants: {v: 1}\n")
    assert json.loads(mappings.apply("m", as_json({})).read()) == {"v": 1}
    first = mappings.load("m")
    assert mappings.load("m") is first  # compiled once per version

    path.write_text(MINIMAL + "constants: {v: 2}\n")
    os.utime(path, ns=(1, 2))  # a new version even within the clock's resolution
    assert json.loads(mappings.apply("m", as_json({})).read()) == {"v": 2}

    path.write_text(MINIMAL + "constants: {v: 2}\nfields: {w: 'a.'}\n")
    with pytest.raises(LocalDeliveryError) as caught:
        mappings.apply("m", as_json({}))
    assert caught.value.message.startswith("mapping m is not valid: /fields/w/from")
    assert caught.value.details["errors"][0]["path"] == "/fields/w/from"

    path.write_text(MINIMAL + "constants: {v: 3}\n")
    os.utime(path, ns=(3, 4))
    assert json.loads(mappings.apply("m", as_json({})).read()) == {"v": 3}


def test_an_oversized_mapping_file_is_refused(folder, mappings):
    write(folder, "m.yaml", MINIMAL + "description: " + "x" * (4 * 1024 * 1024) + "\n")
    (error,) = refusal(mappings, "m")
    assert "at most 4 MiB" in error["message"]


def test_every_problem_is_listed_at_once(folder, mappings):
    write(
        folder,
        "m.yaml",
        MINIMAL + "fields: {a: 'x.', b: {from: y, code_list: c}, c: 'nope(z)'}\n",
    )
    assert [e["path"] for e in refusal(mappings, "m")] == [
        "/fields/a/from",
        "/fields/b/code_list",
        "/fields/c/from",
    ]
