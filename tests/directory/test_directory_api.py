"""The directory over HTTP against a real hub: reads for any caller with a key, writes for
admins only (refused and recorded otherwise, before the body is read), imports all or nothing,
every refusal the structured ``{code, message, details}`` with a 4xx, never a stack trace,
every write in the audit log with its reason. The store-level behaviour runs on both backends
in ``test_directory.py``; these run on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from hub.directory.lists import MAX_BYTES
from hub.store.tables import agencies, agency_history
from tests.support.partners import register_sender
from tests.support.running import RunningHub

pytestmark = pytest.mark.timeout(60)

DATA = Path(__file__).with_name("data")
OLD, NEW, FINANCE = "000.00.00.H56", "000.00.00.H57", "000.00.05.H57"


@pytest.fixture
def backend() -> str:
    return "sqlite"


def call(
    running: RunningHub, method: str, path: str, key: str | None = "admin", **kwargs: Any
) -> requests.Response:
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {running.admin_key if key == 'admin' else key}"
    return requests.request(method, running.url + path, headers=headers, timeout=30, **kwargs)


def refused(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == code, body
    assert body["message"].strip() and "Traceback" not in response.text
    return body


def stored(running: RunningHub) -> tuple[int, int]:
    with running.hub.reader.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (agencies, agency_history)
        )


@pytest.fixture
def province(running) -> RunningHub:
    response = call(
        running,
        "POST",
        "/v1/directory/import",
        params={"format": "csv", "reason": "the 2025 reform"},
        data=(DATA / "province-2025.csv").read_bytes(),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["created"]) == 11
    return running


def test_reads_need_a_key_and_any_system_may_read(province):
    refused(call(province, "GET", "/v1/directory/agencies", key=None), 401, "unauthenticated")
    refused(call(province, "GET", "/v1/directory/tree", key="lgsp_nope"), 401, "unauthenticated")
    system = register_sender(province.admin(), "motcua", NEW)
    page = call(province, "GET", "/v1/directory/agencies", key=system, params={"q": "so tai chinh"})
    assert page.status_code == 200 and [a["code"] for a in page.json()["items"]] == [FINANCE]
    found = call(province, "GET", "/v1/directory/resolve", key=system, params={"code": "H56"})
    assert found.json() == {
        "original": "H56",
        "code": NEW,
        "chain": [OLD, NEW],
        "state": "active",
        "known": True,
        "alias": True,
    }
    unknown = call(province, "GET", "/v1/directory/resolve", key=system, params={"code": "x"})
    assert unknown.json()["known"] is False and unknown.json()["code"] == "x"


def test_an_agency_by_its_alias_with_what_surrounds_it(province):
    agency = call(province, "GET", "/v1/directory/agencies/H56").json()
    assert agency["code"] == OLD and agency["named_by_alias"] is True
    assert agency["state"] == "merged" and agency["valid_to"] == "2025-07-01"
    assert agency["resolution"]["code"] == NEW
    assert agency["parent"]["code"] == "000.00.00.G22"
    assert [c["code"] for c in agency["children"]] == ["000.00.21.H56", "000.00.22.H56"]
    assert agency["aliases"] == [{"alias": "H56", "note": None}]
    assert "name_key" not in agency
    refused(call(province, "GET", "/v1/directory/agencies/000.00.99.H99"), 404, "not_found")
    history = call(province, "GET", f"/v1/directory/agencies/{OLD}/history").json()
    assert [h["change"] for h in history["items"]] == ["alias_add", "create"]
    assert history["items"][1]["reason"] == "the 2025 reform"
    assert call(province, "GET", "/v1/directory/agencies/H56/history").json() == history
    nothing = call(province, "GET", "/v1/directory/agencies/000.00.99.H99/history").json()
    assert nothing == {"items": [], "next_cursor": None}


def test_the_tree_of_an_era_and_its_refusals(province):
    before = call(province, "GET", "/v1/directory/tree", params={"as_of": "2025-06-30"}).json()
    assert before["as_of"] == "2025-06-30"
    province_node = before["roots"][0]["children"][0]
    assert province_node["code"] == OLD and len(province_node["children"]) == 2
    today = call(province, "GET", "/v1/directory/tree", params={"root": NEW}).json()
    assert [c["code"] for c in today["roots"][0]["children"]] == [
        FINANCE,
        "001.00.00.H57",
        "H57.32",
    ]
    body = refused(
        call(province, "GET", "/v1/directory/tree", params={"as_of": "30/06/2025"}),
        422,
        "invalid_request",
    )
    assert body["details"]["errors"][0]["path"] == "/query/as_of"
    refused(call(province, "GET", "/v1/directory/tree", params={"root": OLD}), 404, "not_found")
    refused(
        call(province, "GET", "/v1/directory/agencies", params={"level": 5}), 422, "invalid_request"
    )


def test_writes_are_for_admins_and_refused_before_the_body_is_read(province):
    system = register_sender(province.admin(), "motcua", NEW)
    before = stored(province)
    for method, path, kwargs in [
        ("POST", "/v1/directory/import?format=csv", {"data": b"code,name\n000.00.09.H57,X\n"}),
        ("POST", f"/v1/directory/agencies/{FINANCE}/merge", {"json": {"into": NEW}}),
        ("POST", f"/v1/directory/agencies/{FINANCE}/close", {"data": b"not even json"}),
        ("POST", f"/v1/directory/agencies/{OLD}/reopen", {}),
        ("POST", f"/v1/directory/agencies/{FINANCE}/aliases", {"json": {"alias": "STC"}}),
        ("DELETE", f"/v1/directory/agencies/{OLD}/aliases/H56", {}),
        ("GET", "/v1/systems/motcua/agencies", {}),
        ("POST", "/v1/systems/motcua/agencies", {"json": {"agency_code": "000.00.00.G22"}}),
        ("DELETE", f"/v1/systems/motcua/agencies/{NEW}", {}),
    ]:
        refused(call(province, method, path, key=system, **kwargs), 403, "forbidden")
        refused(call(province, method, path, key=None, **kwargs), 401, "unauthenticated")
    assert stored(province) == before


def test_merge_close_reopen_and_aliases_are_audited_with_their_reason(province):
    merged = call(
        province,
        "POST",
        "/v1/directory/agencies/H57.32/merge",
        params={"reason": "wards merged"},
        json={"into": "H57.31", "on": "2026-01-01"},
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["successor_code"] == "001.00.00.H57"
    assert merged.json()["valid_to"] == "2026-01-01"
    chain = call(province, "GET", "/v1/directory/resolve", params={"code": "000.01.22.H56"})
    assert chain.json()["chain"] == ["000.01.22.H56", "H57.32", "001.00.00.H57"]
    closed = call(province, "POST", f"/v1/directory/agencies/{FINANCE}/close", json={})
    assert closed.json()["state"] == "closed"
    assert call(province, "POST", f"/v1/directory/agencies/{FINANCE}/reopen").json()["state"] == (
        "active"
    )
    added = call(
        province,
        "POST",
        f"/v1/directory/agencies/{FINANCE}/aliases",
        params={"reason": "the portal's spelling"},
        json={"alias": "STC.H57", "note": "cổng dịch vụ công"},
    )
    assert added.status_code == 201 and added.json() == {"alias": "STC.H57", "agency_code": FINANCE}
    assert call(province, "GET", "/v1/directory/resolve?code=STC.H57").json()["code"] == FINANCE
    gone = call(province, "DELETE", f"/v1/directory/agencies/{FINANCE}/aliases/STC.H57")
    assert gone.status_code == 204
    refused(
        call(province, "DELETE", f"/v1/directory/agencies/{FINANCE}/aliases/STC.H57"),
        404,
        "not_found",
    )
    audit = call(province, "GET", "/v1/audit-log", params={"limit": 20}).json()["items"]
    actions = {(a["action"], a["target"]): a for a in audit}
    assert "wards merged" in actions[("merge_agency", "H57.32")]["reason"]
    assert actions[("add_agency_alias", f"{FINANCE}/STC.H57")]["reason"] == "the portal's spelling"
    assert {("close_agency", FINANCE), ("reopen_agency", FINANCE)} <= set(actions)
    assert actions[("import_agencies", "csv file of 11 rows")]["actor"] == "lgsp-admin"


@pytest.mark.parametrize(
    "path,body,status,code",
    [
        (f"/v1/directory/agencies/{FINANCE}/merge", {"into": OLD}, 409, "conflict"),
        (f"/v1/directory/agencies/{FINANCE}/merge", {"into": FINANCE}, 422, "schema_violation"),
        (
            f"/v1/directory/agencies/{FINANCE}/merge",
            {"into": "x", "colour": 1},
            422,
            "invalid_request",
        ),
        (f"/v1/directory/agencies/{FINANCE}/merge", {}, 422, "invalid_request"),
        (f"/v1/directory/agencies/{FINANCE}/merge", {"into": "a\u0000b"}, 422, "invalid_request"),
        ("/v1/directory/agencies/000.00.99.H99/merge", {"into": NEW}, 404, "not_found"),
        (f"/v1/directory/agencies/{OLD}/close", {"on": "soon"}, 422, "invalid_request"),
        (f"/v1/directory/agencies/{FINANCE}/aliases", {"alias": OLD}, 409, "conflict"),
        (f"/v1/directory/agencies/{FINANCE}/aliases", {"alias": "a/b"}, 422, "schema_violation"),
        (f"/v1/directory/agencies/{FINANCE}/aliases", {"alias": "x", "note": "\u0007"}, 422, ""),
    ],
)
def test_a_refused_change_is_a_structured_4xx_that_changes_nothing(
    province, path, body, status, code
):
    before = stored(province)
    answer = refused(call(province, "POST", path, json=body), status, code or "invalid_request")
    assert stored(province) == before
    if status == 422 and answer["code"] == "invalid_request":
        assert answer["details"]["errors"][0]["path"].startswith("/body")


def test_imports_over_http_dry_run_bad_rows_and_bad_files(running):
    csv = (DATA / "province-2025.csv").read_bytes()
    dry = call(running, "POST", "/v1/directory/import?format=csv&dry_run=true", data=csv)
    assert dry.status_code == 200 and dry.json()["applied"] is False
    assert stored(running) == (1, 1)  # the operator agency bootstrap made, and its creation
    body = refused(
        call(
            running,
            "POST",
            "/v1/directory/import?format=csv",
            data=(DATA / "bad-level.csv").read_bytes(),
        ),
        422,
        "schema_violation",
    )
    assert "row 7: level: must be 1-4" in body["message"]
    assert body["details"]["errors"][0]["path"] == "/rows/7/level"
    refused(
        call(running, "POST", "/v1/directory/import?format=csv", data=b"code,name\n\xff\n"),
        400,
        "malformed_input",
    )
    refused(
        call(running, "POST", "/v1/directory/import?format=xml", data=b"[]"), 422, "invalid_request"
    )
    refused(
        call(running, "POST", "/v1/directory/import?format=csv", data=b"x" * (MAX_BYTES + 1)),
        413,
        "payload_too_large",
    )
    vdxp = call(
        running,
        "POST",
        "/v1/directory/import?format=vdxp",
        data=(DATA / "vdxp-agencies.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert vdxp.status_code == 200 and len(vdxp.json()["created"]) == 3
    assert stored(running)[0] == 4


def test_speaks_for_grants_through_the_registry_api(province):
    register_sender(province.admin(), "qlvb", NEW)
    granted = call(
        province,
        "POST",
        "/v1/systems/qlvb/agencies",
        params={"reason": "hosts the communes"},
        json={"agency_code": "H57.31", "subtree": True},  # an alias names the agency
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["agency_code"] == "001.00.00.H57" and granted.json()["subtree"] is True
    listed = call(province, "GET", "/v1/systems/qlvb/agencies").json()
    assert [(g["agency_code"], g["own"]) for g in listed] == [(NEW, True), ("001.00.00.H57", False)]
    refused(call(province, "GET", "/v1/systems/nobody/agencies"), 404, "not_found")
    refused(
        call(province, "POST", "/v1/systems/qlvb/agencies", json={"agency_code": "000.00.99.H99"}),
        404,
        "not_found",
    )
    gone = call(province, "DELETE", "/v1/systems/qlvb/agencies/001.00.00.H57")
    assert gone.status_code == 204
    refused(call(province, "DELETE", f"/v1/systems/qlvb/agencies/{NEW}"), 404, "not_found")


def test_the_registry_agencies_endpoints_show_and_take_the_new_fields(province):
    shown = call(province, "GET", f"/v1/agencies/{OLD}").json()
    assert shown["state"] == "merged" and shown["successor_code"] == NEW
    assert shown["valid_to"] == "2025-07-01" and shown["document_system"] is None
    created = call(
        province,
        "POST",
        "/v1/agencies",
        json={
            "code": "H57.40",
            "name": "Phường Mới",
            "parent_code": NEW,
            "valid_from": "2025-07-01",
        },
    )
    assert created.status_code == 201 and created.json()["valid_from"] == "2025-07-01"
    body = refused(
        call(province, "POST", "/v1/agencies", json={"code": "phuong-moi", "name": "x"}),
        422,
        "schema_violation",
    )
    assert body["details"]["errors"] == [{"path": "/code", "message": "not an agency code"}]
    patched = call(
        province, "PATCH", "/v1/agencies/H57.40", json={"state": "closed", "valid_to": "2026-01-01"}
    )
    assert patched.status_code == 200 and patched.json()["state"] == "closed"
    history = call(province, "GET", "/v1/directory/agencies/H57.40/history").json()["items"]
    assert [h["change"] for h in history] == ["close", "create"]
    body = refused(
        call(province, "PATCH", "/v1/agencies/H57.40", json={"state": "merged"}),
        422,
        "schema_violation",
    )
    assert body["details"]["errors"][0]["path"] == "/successor_code"
