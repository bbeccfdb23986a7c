"""``lgsp edxml check|to-json|from-json`` as an integrator runs them: one line per file, exit 1
on any failure, one-line errors and never a stack trace."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.edxml.samples import SAMPLES, STRAY_BYTES, sample_files
from tests.edxml.test_jsonform import DOCUMENT


def lgsp(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def edxml_samples() -> list[str]:
    return [str(SAMPLES / n) for n in sample_files() if n.endswith((".edxml", "minimal.xml"))]


def test_check_accepts_every_real_sample_but_the_one_with_stray_bytes():
    files = edxml_samples()
    done = lgsp("edxml", "check", *files)
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if not line.startswith("     ")]
    assert len(lines) == len(files) == 17  # 16 messages and the minimal test file
    failed = [line for line in lines if line.startswith("FAIL")]
    assert failed == [
        f"FAIL {SAMPLES / STRAY_BYTES}: malformed_input: XML is not well-formed (line 1: 4 stray "
        "bytes before the XML declaration (b'1212'))"
    ]
    assert "Traceback" not in done.stderr
    ok = lgsp("edxml", "check", *[f for f in files if not f.endswith(STRAY_BYTES)])
    assert ok.returncode == 0, ok.stdout


def test_check_as_json_reports_fields_and_warnings():
    path = SAMPLES / "bkav-edoc-integrator/edoc_new_tayninh.edxml"
    done = lgsp("edxml", "check", "--json", str(path))
    (result,) = json.loads(done.stdout)
    assert result["ok"] and result["document_id"] == "000.00.11.H53,2020/10/30,2491/STC-BCTC"
    assert result["sender"] == "000.00.11.H53" and result["recipients"] == ["000.00.01.A53"]
    assert result["business_type"] == "new" and result["attachments"] == 1
    assert any("PromulgationDate" in w for w in result["warnings"])


def test_hostile_and_missing_files_fail_in_one_line(tmp_path):
    hostile = tmp_path / "x.edxml"
    hostile.write_text('<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><edXML>&a;</edXML>')
    done = lgsp("edxml", "check", str(hostile), str(tmp_path / "none.edxml"))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        f"FAIL {hostile}: hostile_input: XML with a DOCTYPE or entity declaration is refused "
        "(dtd_forbidden)",
        f"FAIL {tmp_path / 'none.edxml'}: no such file",
    ]


def test_from_json_then_to_json(tmp_path):
    source = tmp_path / "doc.json"
    source.write_text(json.dumps(DOCUMENT, ensure_ascii=False), encoding="utf-8")
    built = tmp_path / "doc.edxml"
    done = lgsp("edxml", "from-json", str(source), "-o", str(built))
    assert done.returncode == 0, done.stderr
    back = json.loads(lgsp("edxml", "to-json", str(built)).stdout)
    assert back["document_id"] == DOCUMENT["document_id"]
    assert lgsp("edxml", "check", str(built)).returncode == 0


def test_from_json_errors_are_one_line():
    done = lgsp("edxml", "from-json", "-", stdin=json.dumps({"kind": "edoc", "from": {}}))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "schema_violation" in done.stderr and "/to" in done.stderr
    bad = lgsp("edxml", "from-json", "-", stdin="{not json")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
