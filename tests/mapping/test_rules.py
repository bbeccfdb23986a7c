"""JSON → JSON field rules: the shorthand, const, default, required, when, code lists and dates;
a failure names the target field (and the value), every failing field at once."""

from __future__ import annotations

import json

import pytest

from hub.errors import LocalDeliveryError
from hub.mapping import MappingFailed
from hub.mapping.dates import FORMATS, convert
from hub.mapping.engine import _DOCUMENT_SCHEMA
from tests.mapping.conftest import as_json, write

PROGRESS = """\
    source: {type: json}
    target: {type: json, schema: dvcqg-progress.v1.json}
    fields:
      data.MaHoSo: {from: hoSo.ma, required: true}
      data.TrangThai: {from: trangThai, code_list: trang-thai, required: true}
      data.ThoiDiemXuLy: {from: thoiDiem, date: {from: iso, to: yyyyMMddHHmmss}}
      data.NguoiXuLy: {from: canBo.hoTen, default: Bộ phận một cửa}
      data.ChucDanh: {from: canBo.chucDanh, when: canBo.hoTen}
      data.HinhThuc: {const: 1, when: "kenh == 'buu-chinh'"}
      data.SoTep: {from: length(tep), when: tep}
    constants:
      service: CapNhatTienDoHoSoMC
    code_lists:
      trang-thai:
        entries: {receiving: 1, new: 2, processing: 4, done: 10}
"""


def mapped(mappings, name, value):
    return json.loads(mappings.apply(name, as_json(value)).read())


def test_every_kind_of_rule(folder, mappings):
    write(folder, "progress.yaml", PROGRESS)
    source = {
        "hoSo": {"ma": "000.00.00.H49-261125-0100"},
        "trangThai": "processing",
        "thoiDiem": "2026-11-25T02:15:00Z",
        "canBo": {"chucDanh": "Chuyên viên"},
        "kenh": "buu-chinh",
        "tep": ["a.pdf", "b.pdf"],
    }
    assert mapped(mappings, "progress", source) == {
        "data": {
            "MaHoSo": "000.00.00.H49-261125-0100",
            "TrangThai": 4,
            "ThoiDiemXuLy": "20261125091500",  # 02:15 UTC is 09:15 in Vietnam
            "NguoiXuLy": "Bộ phận một cửa",  # the default
            # no ChucDanh: its `when` (an officer's name) is false
            "HinhThuc": 1,
            "SoTep": 2,
        },
        "service": "CapNhatTienDoHoSoMC",
    }


@pytest.mark.parametrize(
    ("value", "applies"),
    [(0, True), ("0", True), (False, False), (None, False), ("", False), ([], False), ({}, False)],
)
def test_when_is_true_as_jmespath_says(folder, mappings, value, applies):
    write(
        folder,
        "m.yaml",
        "source: {type: json}\ntarget: {type: json}\nfields: {a: {const: 1, when: w}}\n",
    )
    assert mapped(mappings, "m", {"w": value}) == ({"a": 1} if applies else {})


def test_a_field_that_gives_nothing_is_left_out_and_null_is_nothing(folder, mappings):
    write(folder, "m.yaml", "source: {type: json}\ntarget: {type: json}\nfields: {a.b: x, c: y}\n")
    assert mapped(mappings, "m", {"x": None}) == {}
    assert mapped(mappings, "m", {"x": 0, "y": False}) == {"a": {"b": 0}, "c": False}


def test_failures_name_each_target_field_and_the_value(folder, mappings):
    write(folder, "progress.yaml", PROGRESS)
    with pytest.raises(MappingFailed) as caught:
        mappings.load("progress").apply({"trangThai": "sending", "thoiDiem": "hôm qua"})
    assert caught.value.details["side"] == "mapping"
    assert caught.value.details["errors"] == [
        {"path": "/data/MaHoSo", "message": "required (hoSo.ma gave nothing)"},
        {"path": "/data/TrangThai", "message": "'sending' is not in code list trang-thai"},
        {
            "path": "/data/ThoiDiemXuLy",
            "message": "'hôm qua' is not a date in the iso format",
        },
    ]


def test_in_the_pipeline_a_failure_is_a_local_delivery_error_with_the_details(folder, mappings):
    write(folder, "progress.yaml", PROGRESS)
    with pytest.raises(LocalDeliveryError) as caught:
        mappings.apply("progress", as_json({"hoSo": {"ma": "X"}, "trangThai": "sending"}))
    error = caught.value
    assert error.code == "local_failure" and not error.retryable
    assert error.message.startswith("mapping progress: the mapping could not map the input")
    assert "/data/TrangThai" in error.message
    assert error.details["mapping"] == "progress"
    assert error.details["side"] == "mapping"
    assert error.details["errors"][0]["path"] == "/data/TrangThai"


def test_a_code_list_default_and_non_string_codes(folder, mappings):
    write(
        folder,
        "m.yaml",
        """\
        source: {type: json}
        target: {type: json}
        fields:
          kenh: {from: kenh, code_list: kenh}
          loai: {from: loai, code_list: loai}
        code_lists:
          kenh: {entries: {truc-tiep: 0, buu-chinh: 1}, default: 0}
          loai:
            entries:
              1: citizen      # YAML keys are strings: 1 is "1"
              true: business
        """,
    )
    assert mapped(mappings, "m", {"kenh": "qua-mang", "loai": 1}) == {"kenh": 0, "loai": "citizen"}
    assert mapped(mappings, "m", {"kenh": "buu-chinh", "loai": True}) == {
        "kenh": 1,
        "loai": "business",
    }


def test_an_expression_that_fails_at_run_time_names_the_field(folder, mappings):
    write(folder, "m.yaml", "source: {type: json}\ntarget: {type: json}\nfields: {n: length(x)}\n")
    with pytest.raises(MappingFailed) as caught:
        mappings.load("m").apply({"x": 5})
    (error,) = caught.value.details["errors"]
    assert error["path"] == "/n"
    assert error["message"].startswith("from: In function length(), invalid type")


def test_the_target_schema_checks_the_output_naming_the_side_and_field(folder, mappings):
    write(folder, "progress.yaml", PROGRESS.replace("processing: 4", "processing: 40"))
    with pytest.raises(LocalDeliveryError) as caught:
        mappings.apply("progress", as_json({"hoSo": {"ma": "X"}, "trangThai": "processing"}))
    details = caught.value.details
    assert details["side"] == "target" and details["schema"] == "dvcqg-progress.v1.json"
    assert details["errors"] == [
        {"path": "/data/TrangThai", "message": "40 is greater than the maximum of 10"}
    ]


def test_the_source_schema_checks_the_input_naming_the_side_and_field(folder, mappings):
    write(
        folder,
        "m.yaml",
        "source: {type: json, schema: dossier-status.v1.json}\ntarget: {type: json}\n"
        "fields: {a: MaHoSo}\n",
    )
    with pytest.raises(LocalDeliveryError) as caught:
        mappings.apply("m", as_json({"MaHoSo": "X", "TrangThaiHoSo": "4"}))
    details = caught.value.details
    assert details["side"] == "source" and details["schema"] == "dossier-status.v1.json"
    assert {e["path"] for e in details["errors"]} == {"/TrangThaiHoSo", "/ThoiDiemXuLy"}


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("20261125090000", "yyyyMMddHHmmss", "iso", "2026-11-25T09:00:00+07:00"),
        (20261125090000, "yyyyMMddHHmmss", "dd/MM/yyyy", "25/11/2026"),
        ("2026-11-25T09:00:00", "iso", "yyyyMMddHHmmss", "20261125090000"),  # naive: Vietnam
        ("2026-11-25T23:30:00+00:00", "iso", "yyyy/MM/dd", "2026/11/26"),  # next day in Vietnam
        ("2026-11-25T09:00:00-05:00", "iso", "iso", "2026-11-25T21:00:00+07:00"),
        ("2026-11-25", "iso", "yyyyMMddHHmmss", "20261125000000"),
        ("25/11/2026", "dd/MM/yyyy", "iso", "2026-11-25T00:00:00+07:00"),
        ("2026/11/25", "yyyy/MM/dd", "dd/MM/yyyy", "25/11/2026"),
    ],
)
def test_dates_are_converted_in_vietnam_time(value, source, target, expected):
    assert convert(value, source, target) == expected


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ("20261325090000", "yyyyMMddHHmmss"),  # month 13
        ("2026-11-25", "yyyyMMddHHmmss"),
        ("25/11/26", "dd/MM/yyyy"),
        ("2026/02/30", "yyyy/MM/dd"),
        ("next tuesday", "iso"),
        (True, "iso"),
        (["2026-11-25"], "iso"),
    ],
)
def test_a_value_that_is_not_such_a_date_is_refused(value, source):
    with pytest.raises(ValueError, match="date"):
        convert(value, source, "iso")


def test_the_date_formats_are_the_ones_the_mapping_schema_allows():
    assert list(FORMATS) == _DOCUMENT_SCHEMA.schema["$defs"]["date_format"]["enum"]
