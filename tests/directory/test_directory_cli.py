"""``lgsp directory`` run as the real console script against a running hub (SQLite): an import,
the two eras' trees, resolving, a merge and its refusal, aliases and grants; every failure is
one ``error: …`` line on stderr with exit code 1, never a stack trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.store.tables import agencies
from tests.cli.test_cli_errors import assert_one_line_error, closed_port_url, lgsp
from tests.support.partners import register_sender

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).with_name("data")
OLD, NEW = "000.00.00.H56", "000.00.00.H57"


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def hub_at(running):
    return ["--url", running.url, "--key", running.admin_key]


def test_import_the_eras_resolve_and_change_from_the_command_line(running, hub_at, tmp_path):
    dry = lgsp(
        tmp_path, "directory", "import", str(DATA / "province-2025.csv"), "--dry-run", *hub_at
    )
    assert dry.returncode == 0, dry.stderr
    assert "would change (dry run: nothing changed): 11 rows — 11 created" in dry.stdout
    done = lgsp(
        tmp_path,
        "directory",
        "import",
        str(DATA / "province-2025.csv"),
        "--reason",
        "reform",
        *hub_at,
    )
    assert done.returncode == 0 and "imported: 11 rows — 11 created" in done.stdout, done.stderr

    before = lgsp(tmp_path, "directory", "tree", "--as-of", "2025-06-30", *hub_at)
    assert before.returncode == 0, before.stderr
    assert "agencies in force on 2025-06-30" in before.stdout
    assert "000.00.21.H56  Ủy ban nhân dân huyện Đông Hà  [closed]" in before.stdout
    today = lgsp(tmp_path, "directory", "tree", "--root", NEW, "--json", *hub_at)
    tree = json.loads(today.stdout)
    assert [c["code"] for c in tree["roots"][0]["children"]] == [
        "000.00.05.H57",
        "001.00.00.H57",
        "H57.32",
    ]

    found = lgsp(tmp_path, "directory", "resolve", "H56", *hub_at)
    assert found.returncode == 0
    assert found.stdout.strip() == f"H56 (an alias) → {OLD} → {NEW}  [active]"
    unknown = lgsp(tmp_path, "directory", "resolve", "000.00.00.H99", *hub_at)
    assert unknown.returncode == 1 and "unknown to the directory" in unknown.stdout

    shown = lgsp(tmp_path, "directory", "show", OLD, *hub_at)
    assert shown.returncode == 0 and f"{OLD} → {NEW}" in shown.stdout
    listed = lgsp(tmp_path, "directory", "list", "--q", "so tai chinh", "--json", *hub_at)
    assert [a["code"] for a in json.loads(listed.stdout)["items"]] == ["000.00.05.H57"]

    merged = lgsp(
        tmp_path,
        "directory",
        "merge",
        "H57.32",
        "--into",
        "001.00.00.H57",
        "--reason",
        "wards",
        *hub_at,
    )
    assert merged.returncode == 0 and "merged H57.32 into 001.00.00.H57" in merged.stdout
    history = lgsp(tmp_path, "directory", "history", "H57.32", "--json", *hub_at)
    assert [h["change"] for h in json.loads(history.stdout)["items"]] == ["merge", "create"]

    alias = lgsp(tmp_path, "directory", "alias", "add", NEW, "NAMSON", "--note", "VNPost", *hub_at)
    assert alias.returncode == 0, alias.stderr
    removed = lgsp(tmp_path, "directory", "alias", "remove", NEW, "NAMSON", *hub_at)
    assert removed.returncode == 0, removed.stderr
    closed = lgsp(tmp_path, "directory", "close", "000.00.05.H57", "--on", "2026-01-01", *hub_at)
    assert "closed 000.00.05.H57 (in force until 2026-01-01)" in closed.stdout
    reopened = lgsp(tmp_path, "directory", "reopen", "000.00.05.H57", *hub_at)
    assert "reopened 000.00.05.H57" in reopened.stdout


def test_grants_from_the_command_line(running, hub_at, tmp_path):
    lgsp(tmp_path, "directory", "import", str(DATA / "province-2025.csv"), *hub_at)
    register_sender(running.admin(), "qlvb", NEW)
    added = lgsp(tmp_path, "directory", "grants", "add", "qlvb", "H57.31", "--subtree", *hub_at)
    assert "qlvb speaks for 001.00.00.H57 and every agency below it" in added.stdout, added.stderr
    listed = lgsp(tmp_path, "directory", "grants", "list", "qlvb", "--json", *hub_at)
    assert [g["agency_code"] for g in json.loads(listed.stdout)] == [NEW, "001.00.00.H57"]
    removed = lgsp(tmp_path, "directory", "grants", "remove", "qlvb", "001.00.00.H57", *hub_at)
    assert removed.returncode == 0, removed.stderr
    again = lgsp(tmp_path, "directory", "grants", "remove", "qlvb", "001.00.00.H57", *hub_at)
    assert_one_line_error(again, "not_found", "has no grant")


def test_every_failure_is_one_line(running, hub_at, tmp_path):
    bad = lgsp(tmp_path, "directory", "import", str(DATA / "bad-level.csv"), *hub_at)
    assert_one_line_error(bad, "schema_violation", "row 7: level: must be 1-4")
    with running.hub.reader.connect() as conn:
        assert conn.execute(select(func.count()).select_from(agencies)).scalar() == 1  # operator
    (tmp_path / "list.txt").write_text("code,name\n")
    assert_one_line_error(
        lgsp(tmp_path, "directory", "import", "list.txt", *hub_at), "--format csv, json or vdxp"
    )
    assert_one_line_error(
        lgsp(tmp_path, "directory", "import", "missing.csv", *hub_at), "cannot read missing.csv"
    )
    (tmp_path / "latin.csv").write_bytes(b"code,name\n000.00.00.H49,T\xfd ph\xe1p\n")
    assert_one_line_error(
        lgsp(tmp_path, "directory", "import", "latin.csv", *hub_at), "malformed_input", "UTF-8"
    )
    lgsp(tmp_path, "directory", "import", str(DATA / "province-2025.csv"), *hub_at)
    refused = lgsp(tmp_path, "directory", "merge", "000.00.05.H57", "--into", OLD, *hub_at)
    assert_one_line_error(refused, "conflict", f"merge into '{NEW}' instead")
    assert_one_line_error(
        lgsp(tmp_path, "directory", "tree", "--as-of", "yesterday", *hub_at),
        "invalid_request",
        "/query/as_of",
    )
    assert_one_line_error(
        lgsp(tmp_path, "directory", "show", "000.00.99.H99", *hub_at), "not_found"
    )
    system = register_sender(running.admin(), "motcua", NEW)
    assert_one_line_error(
        lgsp(tmp_path, "directory", "close", OLD, "--url", running.url, "--key", system),
        "forbidden",
    )
    assert_one_line_error(
        lgsp(tmp_path, "directory", "list", "--url", closed_port_url(), "--key", "k"),
        "unreachable",
    )
