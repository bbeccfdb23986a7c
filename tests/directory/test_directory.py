"""The agency directory on the store, on SQLite and on PostgreSQL: a province's agencies before
and after the 2025 reform imported from one file (a province with two districts and three
communes; then the districts closed, the communes merged, the province merged into another),
the two eras' trees, resolving old codes and aliases, merges and their refusals, history, search
with and without accents, which agencies a system speaks for, imports that are all or nothing
and idempotent, and the registry's own writes keeping the directory's rules."""

from __future__ import annotations

import codecs
import json
import uuid
from datetime import date
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text, update

from hub import directory, registry
from hub.directory import changes, grants, lists
from hub.directory.history import history
from hub.errors import Conflict, MalformedInput, NotFound, PayloadTooLarge, SchemaViolation
from hub.registry import ascode
from hub.store.db import make_engine, upgrade
from hub.store.tables import agencies, agency_aliases, agency_history, audit_log
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).with_name("data")
PROVINCE_CSV = (DATA / "province-2025.csv").read_bytes()
OLD, NEW = "000.00.00.H56", "000.00.00.H57"  # the province merged, the one it merged into
DISTRICTS = ("000.00.21.H56", "000.00.22.H56")
OLD_COMMUNES = ("000.01.21.H56", "000.02.21.H56", "000.01.22.H56")
NEW_COMMUNES = ("001.00.00.H57", "H57.32")
FINANCE = "000.00.05.H57"  # Sở Tài chính
CENTRAL = "000.00.00.G22"


def count(hub, table) -> int:
    with hub.reader.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def codes_of(nodes: list[dict]) -> list[str]:
    return [n["code"] for n in nodes]


def find(nodes: list[dict], code: str) -> dict:
    for node in nodes:
        if node["code"] == code:
            return node
        found = find(node["children"], code)
        if found:
            return found
    return {}


def depth(node: dict) -> int:
    return 1 + max((depth(c) for c in node["children"]), default=0)


@pytest.fixture
def province(hub):
    """The province-2025 data set, imported."""
    directory.import_agencies(hub, "tester", PROVINCE_CSV, "csv", reason="the 2025 reform")
    return hub


# ── the two eras from one file ───────────────────────────────────────────────────────────


def test_one_imported_file_gives_the_four_level_tree_before_the_reform_and_three_after(province):
    before = directory.tree(province, as_of=date(2025, 6, 30))
    assert codes_of(before["roots"]) == [CENTRAL]
    central = before["roots"][0]
    assert codes_of(central["children"]) == [OLD, NEW]
    old = find(before["roots"], OLD)
    assert codes_of(old["children"]) == list(DISTRICTS)
    assert codes_of(find(old["children"], DISTRICTS[0])["children"]) == list(OLD_COMMUNES[:2])
    assert codes_of(find(old["children"], DISTRICTS[1])["children"]) == [OLD_COMMUNES[2]]
    assert depth(central) == 4  # central → province → district → commune
    assert not any(find(before["roots"], c) for c in NEW_COMMUNES)

    after = directory.tree(province)  # today
    assert after["as_of"] >= date(2025, 7, 1)
    central = after["roots"][0]
    assert codes_of(central["children"]) == [NEW]
    assert codes_of(central["children"][0]["children"]) == [FINANCE, *NEW_COMMUNES]
    assert depth(central) == 3  # no districts any more
    for gone in (OLD, *DISTRICTS, *OLD_COMMUNES):
        assert not find(after["roots"], gone)
    # the first day of the new era is already the new tree
    assert directory.tree(province, as_of=date(2025, 7, 1)) == {**after, "as_of": date(2025, 7, 1)}


def test_a_tree_under_a_root_given_by_code_or_alias_and_a_root_out_of_force(province):
    old_era = directory.tree(province, root="H56", as_of=date(2025, 6, 30))  # an alias of OLD
    assert codes_of(old_era["roots"]) == [OLD] and depth(old_era["roots"][0]) == 3
    with pytest.raises(NotFound, match="was not in force on"):
        directory.tree(province, root=OLD)
    with pytest.raises(NotFound):
        directory.tree(province, root="000.00.99.H99")


# ── resolving ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "code,resolved,chain,state,alias",
    [
        ("000.01.21.H56", "001.00.00.H57", ["000.01.21.H56", "001.00.00.H57"], "active", False),
        ("000.01.22.H56", "H57.32", ["000.01.22.H56", "H57.32"], "active", False),
        (OLD, NEW, [OLD, NEW], "active", False),
        ("H56", NEW, [OLD, NEW], "active", True),  # an alias of a merged agency
        ("vdxp.namson.ubnd", NEW, [NEW], "active", True),  # a system account as an alias
        ("H57.31", "001.00.00.H57", ["001.00.00.H57"], "active", True),
        ("000.00.21.H56", "000.00.21.H56", ["000.00.21.H56"], "closed", False),
        (FINANCE, FINANCE, [FINANCE], "active", False),
    ],
)
def test_a_code_resolves_to_the_agency_that_answers_for_it_today(
    province, code, resolved, chain, state, alias
):
    found = directory.resolve(province, code)
    assert (found.original, found.code, list(found.chain), found.state) == (
        code,
        resolved,
        chain,
        state,
    )
    assert found.known and found.alias is alias and found.changed is (resolved != code)


def test_an_unknown_code_is_not_known_and_keeps_its_value(province):
    found = directory.resolve(province, "000.00.00.H99")
    assert (found.known, found.code, found.chain, found.state) == (
        False,
        "000.00.00.H99",
        (),
        None,
    )


def test_a_merge_of_the_successor_lengthens_the_chain(province):
    changes.merge(province, "tester", "H57.32", "001.00.00.H57", reason="communes merged again")
    found = directory.resolve(province, "000.01.22.H56")
    assert list(found.chain) == ["000.01.22.H56", "H57.32", "001.00.00.H57"]
    assert found.code == "001.00.00.H57" and found.state == "active"
    many = directory.resolve_many(province, ["000.01.22.H56", "nope", "000.01.22.H56"])
    assert list(many) == ["000.01.22.H56", "nope"] and not many["nope"].known


def test_a_loop_of_successors_in_the_store_stops_where_it_closes(province):
    """The checks never let a loop in; a store edited by hand may still hold one."""
    with province.engine.begin() as conn:
        conn.execute(
            update(agencies)
            .where(agencies.c.code == NEW)
            .values(state="merged", successor_code=OLD)
        )
    found = directory.resolve(province, OLD)
    assert list(found.chain) == [OLD, NEW] and found.state == "merged" and found.known


# ── changes and their history ────────────────────────────────────────────────────────────


def test_merge_moves_the_children_and_every_change_is_in_the_history(province):
    registry.add_agency(province, "tester", "000.00.23.H57", "UBND huyện Mới", NEW, level=3)
    registry.add_agency(province, "tester", "000.01.23.H57", "UBND xã Mới", "000.00.23.H57", 4)
    merged = changes.merge(
        province,
        "tester",
        "000.00.23.H57",
        NEW,
        reason="districts abolished",
        reparent_children=True,
        on=date(2026, 1, 1),
    )
    assert merged["state"] == "merged" and merged["successor_code"] == NEW
    assert merged["valid_to"] == date(2026, 1, 1)
    assert directory.detail(province, "000.01.23.H57")["parent_code"] == NEW
    with province.reader.connect() as conn:
        district = history(conn, "000.00.23.H57")["items"]
        commune = history(conn, "000.01.23.H57")["items"]
    assert [h["change"] for h in district] == ["merge", "create"]
    assert district[0]["before"] == {"state": "active", "successor_code": None, "valid_to": None}
    assert district[0]["after"] == {
        "state": "merged",
        "successor_code": NEW,
        "valid_to": "2026-01-01",
    }
    assert district[0]["actor"] == "tester" and "districts abolished" in district[0]["reason"]
    assert [h["change"] for h in commune] == ["reparent", "create"]
    assert commune[0]["before"] == {"parent_code": "000.00.23.H57"}
    assert commune[0]["after"] == {"parent_code": NEW}
    # merging again into the same successor changes nothing
    changes.merge(province, "tester", "000.00.23.H57", NEW)
    with province.reader.connect() as conn:
        assert len(history(conn, "000.00.23.H57")["items"]) == 2

    changes.close(province, "tester", FINANCE, reason="split", on=date(2026, 3, 1))
    changes.reopen(province, "tester", FINANCE, reason="closed by mistake")
    changes.rename(province, "tester", FINANCE, "Sở Tài chính tỉnh Nam Sơn")
    changes.add_alias(province, "tester", FINANCE, "STC.H57", "the portal's spelling")
    changes.remove_alias(province, "tester", FINANCE, "STC.H57")
    with province.reader.connect() as conn:
        page = history(conn, FINANCE, limit=3)
        rest = history(conn, FINANCE, int(page["next_cursor"]))
    kinds = [h["change"] for h in page["items"] + rest["items"]]
    assert kinds == ["alias_remove", "alias_add", "rename", "reopen", "close", "create"]
    assert rest["next_cursor"] is None
    reopen = rest["items"][0]
    assert reopen["after"] == {"state": "active", "valid_to": None}  # what changed, only
    with province.reader.connect() as conn:
        audited = conn.execute(
            select(audit_log.c.action, audit_log.c.target, audit_log.c.reason)
            .where(audit_log.c.actor == "tester", audit_log.c.action != "register_agency")
            .order_by(audit_log.c.id)
        ).all()
    assert [(a.action, a.target) for a in audited] == [
        ("import_agencies", "csv file of 11 rows"),
        ("merge_agency", "000.00.23.H57"),
        ("update_agency", "000.01.23.H57"),  # the child moved under the successor
        ("close_agency", FINANCE),
        ("reopen_agency", FINANCE),
        ("update_agency", FINANCE),  # the rename
        ("add_agency_alias", f"{FINANCE}/STC.H57"),
        ("remove_agency_alias", f"{FINANCE}/STC.H57"),
    ]
    assert audited[1].reason == f"districts abolished; into: {NEW}"


@pytest.mark.parametrize(
    "code,into,error,words",
    [
        (FINANCE, FINANCE, SchemaViolation, "cannot be merged into itself"),
        (FINANCE, "000.00.21.H56", Conflict, "is closed"),
        (FINANCE, OLD, Conflict, f"merge into '{NEW}' instead"),
        (FINANCE, "H56", Conflict, f"merge into '{NEW}' instead"),  # the alias of a merged one
        ("000.01.21.H56", NEW, Conflict, "already merged into '001.00.00.H57'"),
        (FINANCE, "000.00.99.H99", NotFound, "no agency has the code or alias"),
        (NEW, FINANCE, SchemaViolation, "its children cannot move under it"),
    ],
)
def test_a_merge_is_refused_naming_why_and_changes_nothing(province, code, into, error, words):
    before = count(province, agency_history)
    with pytest.raises(error, match=words):
        changes.merge(province, "tester", code, into, reparent_children=True)
    assert count(province, agency_history) == before
    assert directory.resolve(province, FINANCE).code == FINANCE


def test_close_and_reopen_keep_their_rules(province):
    with pytest.raises(Conflict, match="reopen it first"):
        changes.close(province, "tester", OLD)
    with pytest.raises(SchemaViolation, match="can end only after"):
        changes.close(province, "tester", "001.00.00.H57", on=date(2025, 7, 1))
    assert changes.close(province, "tester", "000.00.21.H56")["state"] == "closed"  # no-op
    with pytest.raises(Conflict, match="already an alias"):
        changes.add_alias(province, "tester", FINANCE, "H56")
    with pytest.raises(Conflict, match="code of an agency"):
        changes.add_alias(province, "tester", FINANCE, OLD)
    with pytest.raises(NotFound):
        changes.remove_alias(province, "tester", FINANCE, "H56")  # OLD's, not FINANCE's


# ── search ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "q,expected",
    [
        ("so tai chinh", [FINANCE]),
        ("Sở Tài chính", [FINANCE]),
        ("SỞ TÀI CHÍNH", [FINANCE]),
        ("tai chinh so", [FINANCE]),  # every word, in any order
        ("dong ha", ["000.00.21.H56", "000.02.21.H56", "001.00.00.H57"]),  # Hà, Hai: prefixes
        ("000.00.00.H5", [OLD, NEW]),
        ("h57.3", ["001.00.00.H57", "H57.32"]),  # a code or alias (H57.31) prefix, any case
        ("vdxp.namson", [NEW]),  # an alias's prefix
        ("%", []),  # LIKE's wildcards are text
        ("no such agency", []),
    ],
)
def test_search_by_name_without_accents_or_by_code_prefix(province, q, expected):
    assert codes_of(directory.search(province, q)["items"]) == expected


def test_search_filters_and_pages(province):
    communes = directory.search(province, level=4, state="merged")
    assert codes_of(communes["items"]) == sorted(OLD_COMMUNES)
    in_force = directory.search(province, "uy ban", as_of=date(2025, 6, 30))
    assert NEW_COMMUNES[0] not in codes_of(in_force["items"]) and OLD in codes_of(in_force["items"])
    seen, cursor = [], None
    while True:
        page = directory.search(province, limit=4, cursor=cursor)
        seen += codes_of(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen) and len(seen) == 11 == len(set(seen))


# ── speaks for ───────────────────────────────────────────────────────────────────────────


def test_a_system_speaks_for_its_own_agency_what_it_is_granted_and_old_codes_of_them(province):
    registry.add_system(province, "tester", "qlvb-namson", NEW, "QLVB tỉnh Nam Sơn")
    speaks = lambda agency: directory.speaks_for(province, "qlvb-namson", agency)  # noqa: E731
    assert speaks(NEW)
    assert speaks(OLD) and speaks("H56")  # merged into its agency; an alias of that
    assert speaks("vdxp.namson.ubnd")
    assert not speaks(FINANCE) and not speaks("001.00.00.H57") and not speaks(CENTRAL)
    assert not speaks("000.00.99.H99") and not directory.speaks_for(province, "nobody", NEW)

    grants.grant(province, "tester", "qlvb-namson", FINANCE, reason="hosts its documents")
    assert speaks(FINANCE) and not speaks("001.00.00.H57")

    grants.grant(province, "tester", "qlvb-namson", NEW, subtree=True)
    assert speaks("001.00.00.H57") and speaks("H57.31") and speaks("H57.32")
    assert speaks("000.01.21.H56")  # an old commune, resolved to a commune under NEW
    assert not speaks("000.00.21.H56")  # a closed district under the old province
    assert not speaks(CENTRAL)
    with province.reader.connect() as conn:
        listed = grants.grants(conn, "qlvb-namson")
    assert [(g["agency_code"], g["own"], g["subtree"]) for g in listed] == [
        (NEW, True, True),
        (FINANCE, False, False),
    ]

    grants.revoke(province, "tester", "qlvb-namson", NEW)
    assert speaks(NEW) and not speaks("001.00.00.H57")  # its own agency stays
    with pytest.raises(NotFound):
        grants.revoke(province, "tester", "qlvb-namson", NEW)
    with pytest.raises(NotFound):
        grants.grant(province, "tester", "qlvb-namson", "000.00.99.H99")


# ── imports: all or nothing, idempotent ──────────────────────────────────────────────────


def test_importing_the_same_file_again_changes_nothing_and_writes_no_history(province):
    rows, audited = count(province, agency_history), count(province, audit_log)
    assert rows == 11 + 3  # a creation per agency, an alias_add per alias
    again = directory.import_agencies(province, "tester", PROVINCE_CSV, "csv")
    assert again == {
        "applied": True,
        "rows": 11,
        "created": [],
        "changed": [],
        "aliases_added": [],
        "unchanged": 11,
    }
    assert (count(province, agency_history), count(province, audit_log)) == (rows, audited)


def test_a_changed_file_changes_only_what_differs(province):
    edited = PROVINCE_CSV.decode().replace("Sở Tài chính,000.00.00.H57,2", "Sở Tài chính mới,,2")
    result = directory.import_agencies(province, "tester", edited.encode(), "csv")
    assert result["changed"] == [{"code": FINANCE, "fields": ["name", "parent_code"]}]
    with province.reader.connect() as conn:
        kinds = [h["change"] for h in history(conn, FINANCE)["items"]]
    assert kinds == ["reparent", "rename", "create"]
    assert codes_of(directory.search(province, "tai chinh moi")["items"]) == [FINANCE]


def test_a_dry_run_says_what_would_change_and_stores_nothing(hub):
    result = directory.import_agencies(hub, "tester", PROVINCE_CSV, "csv", dry_run=True)
    assert result["applied"] is False and len(result["created"]) == 11
    assert {a["alias"] for a in result["aliases_added"]} == {"H56", "H57.31", "vdxp.namson.ubnd"}
    assert (count(hub, agencies), count(hub, agency_history), count(hub, audit_log)) == (0, 0, 0)


def test_a_file_with_a_byte_order_mark_imports_the_same(hub):
    result = directory.import_agencies(hub, "tester", codecs.BOM_UTF8 + PROVINCE_CSV, "csv")
    assert len(result["created"]) == 11
    assert directory.resolve(hub, "000.01.21.H56").code == "001.00.00.H57"


def test_json_and_the_vdxp_list_import_and_meet(hub):
    result = directory.import_agencies(hub, "tester", (DATA / "agencies.json").read_bytes(), "json")
    assert sorted(result["created"]) == ["000.00.00.H49", "000.00.01.H49", "000.00.31.H49"]
    assert directory.resolve(hub, "H49").code == "000.00.00.H49"
    vdxp = directory.import_agencies(
        hub, "tester", (DATA / "vdxp-agencies.json").read_bytes(), "vdxp"
    )
    # the axis spells the province's name its own way: a rename, nothing else of it touched
    assert vdxp["created"] == ["000.00.12.H49", "000.00.13.H49"]
    assert vdxp["changed"] == [{"code": "000.00.00.H49", "fields": ["name"]}]
    province = directory.detail(hub, "000.00.00.H49")
    assert province["level"] == 2 and [a["alias"] for a in province["aliases"]] == ["H49"]
    assert directory.detail(hub, "000.00.12.H49")["parent_code"] == "000.00.00.H49"
    enveloped = json.dumps({"data": json.loads((DATA / "vdxp-agencies.json").read_text())})
    again = directory.import_agencies(hub, "tester", enveloped.encode(), "vdxp")
    assert again["unchanged"] == 3 and not again["created"] and not again["changed"]


def test_a_bad_row_is_named_by_row_and_field_and_nothing_is_stored(hub):
    with pytest.raises(SchemaViolation) as info:
        directory.import_agencies(hub, "tester", (DATA / "bad-level.csv").read_bytes(), "csv")
    assert "row 7: level: must be 1-4" in info.value.message
    assert info.value.details["errors"] == [{"path": "/rows/7/level", "message": "must be 1-4"}]
    assert (count(hub, agencies), count(hub, agency_history), count(hub, audit_log)) == (0, 0, 0)


HEADER = "code,name,parent_code,level,state,successor_code,valid_from,valid_to,aliases\n"


@pytest.mark.parametrize(
    "body,path,words",
    [
        ("000.00.00.H49,A,000.00.00.H48,,,,,,\n", "/rows/2/parent_code", "neither in the file"),
        ("000.00.00.H49,A,,,merged,,,,\n", "/rows/2/successor_code", "required when the state"),
        ("000.00.00.H49,A,,,active,000.00.00.H49,,,\n", "/rows/2/successor_code", "only a merged"),
        ("000.00.00.H49,A,,,,,2025-07-01,2025-07-01,\n", "/rows/2/valid_to", "after valid_from"),
        ("000.00.00.H49,A,,,,,01/07/2025,,\n", "/rows/2/valid_from", "not a date as YYYY-MM-DD"),
        ("000.00.00.H49,A,,,gone,,,,\n", "/rows/2/state", "active, closed or merged"),
        ("UBND-TINH,A,,,,,,,\n", "/rows/2/code", "not an agency code"),
        ("000.00.00.H49,,,,,,,,\n", "/rows/2/name", "is required"),
        ("000.00.00.H49,A,,,,,,,\n000.00.00.H49,B,,,,,,,\n", "/rows/3/code", "listed twice"),
        (
            "000.00.01.H49,A,000.00.02.H49,,,,,,\n000.00.02.H49,B,000.00.01.H49,,,,,,\n",
            "/rows/2/parent_code",
            "makes a cycle",
        ),
        (
            "000.00.01.H49,A,,,merged,000.00.02.H49,,,\n000.00.02.H49,B,,,merged,000.00.01.H49,,,\n",
            "/rows/2/successor_code",
            "makes a cycle",
        ),
        (
            "000.00.01.H49,A,,,,,,,000.00.02.H49\n000.00.02.H49,B,,,,,,,\n",
            "/rows/2/aliases",
            "code",
        ),
        ("000.00.01.H49,A,,,,,,,X1\n000.00.02.H49,B,,,,,,,X1\n", "/rows/3/aliases", "row 2 too"),
        ("000.00.01.H49,A,,,,,,,a/b\n", "/rows/2/aliases", "must not hold /"),
        ("000.00.01.H49,A,,,,,\n", "/rows/2/row", "7 cells where the header has 9"),
    ],
)
def test_each_kind_of_bad_row_is_refused_whole_naming_it(hub, body, path, words):
    with pytest.raises(SchemaViolation) as info:
        directory.import_agencies(hub, "tester", (HEADER + body).encode(), "csv")
    error = info.value.details["errors"][0]
    assert error["path"] == path and words in info.value.message, info.value.message
    assert count(hub, agencies) == 0


def test_an_alias_given_twice_in_a_row_is_one_alias(hub):
    row = "000.00.01.H49,A,,,,,,,X1; X1 ;\n"
    result = directory.import_agencies(hub, "tester", (HEADER + row).encode(), "csv")
    assert result["aliases_added"] == [{"alias": "X1", "agency_code": "000.00.01.H49"}]


@pytest.mark.parametrize(
    "data,fmt,error,words",
    [
        (b"code,name\n000.00.00.H49,T\xfd ph\xe1p\n", "csv", MalformedInput, "not UTF-8"),
        (b"code,name\n000.00.00.H49,A\x00B\n", "csv", SchemaViolation, "control character"),
        (b'code,name\n000.00.00.H49,"A\n', "csv", MalformedInput, "not CSV"),
        (b"", "csv", SchemaViolation, "the file is empty"),
        (b"name,colour\nA,red\n", "csv", SchemaViolation, "the first row must name"),
        (b'{"code": "000.00.00.H49"}', "json", SchemaViolation, "must be a JSON list"),
        (
            b'[{"code": "000.00.00.H49", "name": "A", "colour": 1}]',
            "json",
            SchemaViolation,
            "not a field",
        ),
        (b'[{"code": "000.00.00.H49", "name": ["A"]}]', "json", SchemaViolation, "must be text"),
        (b'[{"code": "1", "code": "2"}]', "json", MalformedInput, "not valid JSON"),
        (b"[1, 2", "vdxp", MalformedInput, "not valid JSON"),
        (b"[]", "xml", SchemaViolation, "format must be one of"),
    ],
)
def test_a_malformed_file_is_a_clear_refusal(hub, data, fmt, error, words):
    with pytest.raises(error, match=words):
        directory.import_agencies(hub, "tester", data, fmt)
    assert count(hub, agencies) == 0


def test_a_file_over_the_caps_is_refused_before_it_is_read(hub, monkeypatch):
    with pytest.raises(PayloadTooLarge, match="over"):
        lists.read(b" " * (lists.MAX_BYTES + 1), "csv")
    monkeypatch.setattr(lists, "MAX_ROWS", 5)
    rows = "".join(f"000.00.{i:02d}.H49,Sở {i}\n" for i in range(6))
    with pytest.raises(PayloadTooLarge, match="over 5 rows"):
        directory.import_agencies(hub, "tester", ("code,name\n" + rows).encode(), "csv")
    with pytest.raises(PayloadTooLarge, match="over 5 rows"):
        directory.import_agencies(hub, "tester", json.dumps([{}] * 6).encode(), "json")


# ── the registry keeps the directory's rules ─────────────────────────────────────────────


def test_registry_writes_keep_the_rules_and_the_history(province):
    with pytest.raises(SchemaViolation) as info:
        registry.add_agency(province, "tester", "SO-TU-PHAP", "Sở Tư pháp")
    assert info.value.details["errors"][0]["path"] == "/code"
    with pytest.raises(Conflict, match="already an alias"):
        registry.add_agency(province, "tester", "H56", "Sở Tư pháp")
    with pytest.raises(SchemaViolation, match="successor_code: required"):
        registry.add_agency(province, "tester", "000.00.06.H57", "Sở Y tế", state="merged")
    registry.update_entry(
        province, "tester", "agencies", FINANCE, {"name": "Sở Tài chính mới", "level": 2}
    )
    registry.update_entry(
        province, "tester", "agencies", FINANCE, {"state": "merged", "successor_code": NEW}
    )
    with pytest.raises(SchemaViolation, match="own successor"):
        registry.update_entry(
            province, "tester", "agencies", NEW, {"state": "merged", "successor_code": FINANCE}
        )
    with province.reader.connect() as conn:
        kinds = [h["change"] for h in history(conn, FINANCE)["items"]]
    assert kinds == ["merge", "rename", "create"]  # level did not change: no row for it
    assert codes_of(directory.search(province, "tai chinh moi")["items"]) == [FINANCE]
    with pytest.raises(Conflict) as refused:  # a structured 409, not a foreign-key failure
        registry.delete_entry(province, "tester", "agencies", OLD)
    assert "alias H56" in refused.value.details["references"]
    assert "merged agency 000.01.21.H56" not in refused.value.details["references"]
    assert "agency 000.00.21.H56" in refused.value.details["references"]
    with pytest.raises(Conflict) as refused:
        registry.delete_entry(province, "tester", "agencies", NEW)
    assert f"merged agency {OLD}" in refused.value.details["references"]


def test_the_registry_file_carries_the_new_fields_whole(hub):
    """A file creating agencies with a successor listed after them and a document system the
    same file creates applies whole; the export is the file again, and a second apply has
    nothing to do."""
    registry.add_agency(hub, "boot", "lgsp-hub", "LGSP Hub operator")
    registry.add_system(hub, "boot", "lgsp-admin", "lgsp-hub", "Admins", role="admin")
    with hub.reader.connect() as conn:
        document = ascode.export(conn)
    document["agencies"] = [
        {
            "code": OLD,
            "name": "UBND tỉnh Bắc Sơn",
            "level": 2,
            "state": "merged",
            "successor_code": NEW,
            "valid_to": "2025-07-01",
        },
        {
            "code": NEW,
            "name": "UBND tỉnh Nam Sơn",
            "level": 2,
            "valid_from": "2025-07-01",
            "document_system": "qlvb-namson",
        },
        *document["agencies"],
    ]
    document["systems"].append({"code": "qlvb-namson", "agency_code": NEW, "name": "QLVB"})
    result = ascode.apply(hub, "lgsp-admin", document, reason="the 2025 reform")
    assert [(c["key"], c["action"]) for c in result["changes"]] == [
        (NEW, "create"),
        (OLD, "create"),
        ("qlvb-namson", "create"),
        (NEW, "update"),
    ]
    with hub.reader.connect() as conn:
        exported = json.loads(json.dumps(ascode.export(conn), default=str))
    shown = {a["code"]: a for a in exported["agencies"]}
    assert shown[OLD] == {**document["agencies"][0]}
    assert shown[NEW] == {**document["agencies"][1], "state": "active"}
    assert directory.resolve(hub, OLD).code == NEW
    again = ascode.apply(hub, "lgsp-admin", exported)
    assert again["changes"] == []
    with pytest.raises(Conflict) as refused:
        registry.delete_entry(hub, "t", "systems", "qlvb-namson")
    assert f"agency receiving by it {NEW}" in refused.value.details["references"]


# ── the migration ────────────────────────────────────────────────────────────────────────


@pytest.fixture
def empty_store_url(backend, tmp_path, request):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/m.db"
        return
    request.getfixturevalue("pg_url")  # skips or fails like the other PostgreSQL tests
    name = f"lgsp_dir_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_keeps_agencies_registered_before_it(empty_store_url):
    engine = make_engine(empty_store_url)
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO agencies (code, name, enabled, created_at)"
                " VALUES ('legacy-agency', 'Sở Tài chính', true, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO systems (code, agency_code, name, role, key_prefix, key_hash,"
                " active, created_at) VALUES ('s', 'legacy-agency', 'S', 'system', 'p', 'h',"
                " true, CURRENT_TIMESTAMP)"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(select(agencies)).mappings().one()
        assert (row["state"], row["name_key"], row["successor_code"]) == (
            "active",
            "so tai chinh",
            None,
        )
        assert conn.execute(select(func.count()).select_from(agency_aliases)).scalar() == 0
    engine.dispose()
