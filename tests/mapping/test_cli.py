"""``lgsp mappings test|try`` as a subprocess: a table (or JSON) and exit 1 on a failure;
errors are one line on stderr, never a traceback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli_errors import lgsp as run_lgsp
from tests.mapping.conftest import write

pytestmark = pytest.mark.timeout(60)

MAPPING = """\
    source: {type: json, schema: dossier-status.v1.json}
    target: {type: json}
    fields:
      data.MaHoSo: MaHoSo
      data.TrangThai: {from: TrangThaiHoSo, code_list: trang-thai}
    code_lists:
      trang-thai: {entries: {4: processing}}
"""
STATUS = {
    "MaHoSo": "000.00.00.H49-261125-0100",
    "TrangThaiHoSo": 4,
    "ThoiDiemXuLy": "20261125090000",
}


def lgsp(tmp_path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_lgsp(tmp_path, "mappings", *args, stdin=stdin)


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    for needle in needles:
        assert needle in line, line


def test_the_shipped_mappings_pass_their_examples(tmp_path):
    result = lgsp(tmp_path, "test", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] is True
    assert "dossier-status-to-dvcqg-progress" in {m["mapping"] for m in report["mappings"]}


def test_a_failing_example_is_a_fail_row_with_its_path_and_exit_1(tmp_path, folder):
    write(folder, "m.yaml", MAPPING)
    write(folder, "m.examples/ok.in.json", json.dumps(STATUS))
    write(
        folder,
        "m.examples/ok.out.json",
        '{"data": {"MaHoSo": "000.00.00.H49-261125-0100", "TrangThai": "processing"}}',
    )
    write(folder, "m.examples/off.in.json", json.dumps(STATUS))
    write(
        folder,
        "m.examples/off.out.json",
        '{"data": {"MaHoSo": "000.00.00.H49-261125-0100", "TrangThai": "done"}}',
    )
    write(folder, "broken.yaml", "source: {type: json}\ntarget: {type: json}\nfields: {a: 'b.'}\n")
    write(folder, "bare.yaml", "source: {type: json}\ntarget: {type: json}\n")
    result = lgsp(tmp_path, "test", "--dir", str(folder))
    assert result.returncode == 1 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert any("bare" in line and "no examples" in line for line in lines)
    assert any("broken" in line and "FAIL" in line and "/fields/a/from" in line for line in lines)
    assert any(" off " in line and "FAIL" in line and "/data/TrangThai" in line for line in lines)
    assert any(" ok " in line and "pass" in line for line in lines)

    only = lgsp(tmp_path, "test", "m", "--dir", str(folder), "--json")
    assert only.returncode == 1
    (mapping,) = json.loads(only.stdout)["mappings"]
    assert [e["case"] for e in mapping["examples"] if not e["passed"]] == ["off"]


def test_try_prints_the_output_and_both_sides(tmp_path, folder):
    write(folder, "m.yaml", MAPPING)
    (tmp_path / "in.json").write_text(json.dumps(STATUS))
    result = lgsp(tmp_path, "try", "m", "in.json", "--dir", str(folder))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        "source (dossier-status.v1.json): valid",
        "mapping: ok",
        "target: no schema",
    ]
    assert json.loads("\n".join(result.stdout.splitlines()[3:])) == {
        "data": {"MaHoSo": "000.00.00.H49-261125-0100", "TrangThai": "processing"}
    }
    piped = lgsp(
        tmp_path,
        "try",
        "m",
        "-",
        "--dir",
        str(folder),
        "--json",
        stdin=json.dumps({**STATUS, "TrangThaiHoSo": 9, "Extra": 1}),
    )
    assert piped.returncode == 1
    report = json.loads(piped.stdout)
    assert report["ok"] is False and report["output"] is None
    assert report["source"]["errors"] == [
        {"path": "/Extra", "message": "'Extra' is not allowed here"}
    ]
    assert report["mapping"]["errors"] == [
        {"path": "/data/TrangThai", "message": "'9' is not in code list trang-thai"}
    ]


def test_try_on_hostile_xml_reports_the_source(tmp_path, folder):
    write(folder, "x.yaml", "source: {type: xml}\ntarget: {type: json}\n")
    (tmp_path / "in.xml").write_text('<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>')
    result = lgsp(tmp_path, "try", "x", "in.xml", "--dir", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [
        "source: 1 error(s)",
        "  /: XML with a DOCTYPE or entity declaration is refused: dtd_forbidden",
        "mapping: not reached",
        "target: not reached",
    ]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["test", "nope"], ["mapping 'nope' is not in the registry"]),
        (["try", "nope", "in.json"], ["mapping 'nope' is not in the registry"]),
        (["try", "broken", "in.json"], ["mapping broken is not valid: /fields/a/from"]),
        (["try", "bare", "missing.json"], ["cannot read missing.json"]),
        (["try", "bare", "big.json"], ["big.json is over the 16 MiB a mapping takes"]),
        (["test", "--dir", "no-such-folder"], ["no mapping folder"]),
        (["try", "bomb", "in.json"], ["anchors and aliases are not accepted"]),
    ],
)
def test_errors_are_one_line(tmp_path, folder, args, needles):
    write(folder, "broken.yaml", "source: {type: json}\ntarget: {type: json}\nfields: {a: 'b.'}\n")
    write(folder, "bare.yaml", "source: {type: json}\ntarget: {type: json}\n")
    write(folder, "bomb.yaml", "a: &a [1, 2]\nb: [*a, *a]\n")
    (tmp_path / "in.json").write_text("{}")
    with open(tmp_path / "big.json", "wb") as fh:
        fh.truncate(16 * 1024 * 1024 + 1)
    dir_args = [] if "--dir" in args else ["--dir", str(folder)]
    one_line_error(lgsp(tmp_path, *args, *dir_args), *needles)
