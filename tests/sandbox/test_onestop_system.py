"""The one-stop system simulator spoken to with plain HTTP: it authenticates, keeps dossiers and
their progress, pages its change feed by cursor, and injects faults in its own error shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from sandbox.onestop import LOCAL_TZ, SEED_DOSSIERS, OnestopSystem

TOKEN = "tok-onestop"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MA = SEED_DOSSIERS[0]["MaHoSo"]
PROGRESS: dict[str, Any] = {
    "MaHoSo": MA,
    "NguoiXuLy": "Hoàng Minh Tuấn",
    "ThoiDiemXuLy": "20260112093000",
    "NoiDungXuLy": "Thẩm định hồ sơ",
}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


@pytest.fixture
def system() -> Iterator[OnestopSystem]:
    with OnestopSystem(token=TOKEN, api_key="key-onestop") as server:
        yield server


def call(http: requests.Session, system: OnestopSystem, path: str, body: Any = None, **kw: Any):
    headers = {**AUTH, **kw.pop("headers", {})}
    if body is None:
        return http.get(system.url + path, headers=headers, timeout=5, **kw)
    return http.post(system.url + path, json=body, headers=headers, timeout=5, **kw)


# --- auth -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}, {"Authorization": TOKEN}],
)
def test_a_missing_or_wrong_credential_is_refused(
    http: requests.Session, system: OnestopSystem, headers: dict[str, str]
) -> None:
    answer = http.get(system.url + "/dossiers/changes", headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["code"] == "UNAUTHORIZED"
    assert "Bearer" in answer.headers["WWW-Authenticate"]
    assert system.received == []


def test_a_bearer_token_or_an_api_key_is_accepted(
    http: requests.Session, system: OnestopSystem
) -> None:
    by_key = http.get(
        system.url + "/dossiers/changes", headers={"X-API-Key": "key-onestop"}, timeout=5
    )
    assert call(http, system, "/dossiers/changes").status_code == 200
    assert by_key.status_code == 200


def test_unknown_paths_and_methods_are_refused_in_the_systems_shape(
    http: requests.Session, system: OnestopSystem
) -> None:
    assert call(http, system, "/nowhere").json()["code"] == "NOT_FOUND"
    wrong = call(http, system, "/dossiers/progress")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "METHOD_NOT_ALLOWED")


# --- progress -------------------------------------------------------------------------------
def test_progress_is_appended_once_per_idempotency_key_and_moves_the_change_time(
    http: requests.Session, system: OnestopSystem
) -> None:
    before = system.changed_at(MA)
    first = call(http, system, "/dossiers/progress", PROGRESS, headers={"Idempotency-Key": "k1"})
    again = call(http, system, "/dossiers/progress", PROGRESS, headers={"Idempotency-Key": "k1"})
    other = call(http, system, "/dossiers/progress", PROGRESS, headers={"Idempotency-Key": "k2"})

    assert first.json() == {
        "code": "0",
        "message": "Thành công",
        "data": {"MaHoSo": MA, "SoThuTu": 1, "duplicate": False},
    }
    assert again.json()["data"] == {"MaHoSo": MA, "SoThuTu": 1, "duplicate": True}
    assert other.json()["data"]["SoThuTu"] == 2
    assert system.progress(MA) == [PROGRESS, PROGRESS]
    assert system.changed_at(MA) > before
    assert [r.duplicate for r in system.received] == [False, True, False]


@pytest.mark.parametrize(
    ("change", "status", "code", "names"),
    [
        ({"MaHoSo": "H57-000000-00000"}, 404, "DOSSIER_NOT_FOUND", "H57-000000-00000"),
        ({"NguoiXuLy": ""}, 422, "VALIDATION_FAILED", "NguoiXuLy"),
        ({"NgayBatDau": "2026-01-12"}, 422, "VALIDATION_FAILED", "NgayBatDau"),
    ],
)
def test_an_unknown_dossier_or_an_invalid_update_is_refused(
    http: requests.Session,
    system: OnestopSystem,
    change: dict[str, Any],
    status: int,
    code: str,
    names: str,
) -> None:
    answer = call(http, system, "/dossiers/progress", {**PROGRESS, **change})
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert names in answer.json()["message"]
    assert system.progress(MA) == [] and system.received == []


# --- lookup ---------------------------------------------------------------------------------
def test_lookup_by_dossier_code_or_owner_id_answers_whole_dossiers(
    http: requests.Session, system: OnestopSystem
) -> None:
    by_code = call(http, system, "/dossiers/lookup", {"MaHoSo": MA, "channel": "web"}).json()
    by_cccd = call(http, system, "/dossiers/lookup", {"SoDinhDanh": "046090001234"}).json()
    by_cmnd = call(http, system, "/dossiers/lookup", {"SoDinhDanh": "191234567"}).json()
    missed = call(http, system, "/dossiers/lookup", {"SoDinhDanh": "001200000001"}).json()

    assert [d["MaHoSo"] for d in by_code["data"]] == [MA]
    assert by_code["data"][0]["SoGiayToChuHoSo"] == "046090001234"  # the back office's view
    assert [d["MaHoSo"][-5:] for d in by_cccd["data"]] == ["00001", "00003"]
    assert [d["MaHoSo"][-5:] for d in by_cmnd["data"]] == ["00004"]
    assert missed == {"code": "0", "message": "Thành công", "data": []}
    assert [r.operation for r in system.received] == ["lookup"] * 4


@pytest.mark.parametrize(
    "body",
    [
        {"SoDinhDanh": "000090001234"},
        {"SoDinhDanh": "1234"},
        {},
        {"MaHoSo": MA, "SoDinhDanh": "191234567"},
    ],
)
def test_an_invalid_lookup_is_refused(
    http: requests.Session, system: OnestopSystem, body: dict[str, Any]
) -> None:
    answer = call(http, system, "/dossiers/lookup", body)
    assert (answer.status_code, answer.json()["code"]) == (422, "VALIDATION_FAILED")


def test_the_access_log_keeps_every_request_line_with_its_query(
    http: requests.Session, system: OnestopSystem
) -> None:
    call(http, system, "/dossiers/changes", params={"limit": 1})
    call(http, system, "/dossiers/lookup", {"SoDinhDanh": "191234567"})
    http.get(system.url + "/dossiers/changes", timeout=5)  # refused: still logged
    assert system.access_log == [
        "GET /dossiers/changes?limit=1",
        "POST /dossiers/lookup",
        "GET /dossiers/changes",
    ]


# --- change feed ----------------------------------------------------------------------------
def feed(http: requests.Session, system: OnestopSystem, **params: Any) -> dict[str, Any]:
    answer = call(http, system, "/dossiers/changes", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_the_feed_is_ordered_by_change_time_then_code_and_paged_by_cursor(
    http: requests.Session,
) -> None:
    with OnestopSystem(token=TOKEN, seed_dossiers=False) as system:
        same = datetime(2026, 3, 1, 10, 0, 0, tzinfo=LOCAL_TZ)
        for n in (3, 1, 2):
            system.upsert({**SEED_DOSSIERS[0], "MaHoSo": f"X-{n}"}, changed_at=same)
        system.upsert({**SEED_DOSSIERS[0], "MaHoSo": "X-0"}, changed_at=same.replace(second=1))
        first = feed(http, system, limit=2)
        second = feed(http, system, limit=2, cursor=first["next_cursor"])

    assert [i["MaHoSo"] for i in first["items"]] == ["X-1", "X-2"]
    assert [i["MaHoSo"] for i in second["items"]] == ["X-3", "X-0"]
    assert second["next_cursor"] is None
    assert [i["ThoiDiemCapNhat"] for i in second["items"]] == ["20260301100000", "20260301100001"]


def test_since_is_inclusive_and_an_upsert_moves_a_dossier_to_the_end(
    http: requests.Session, system: OnestopSystem
) -> None:
    seeded = [i["MaHoSo"] for i in feed(http, system)["items"]]
    since = system.changed_at(seeded[1]).strftime("%Y%m%d%H%M%S")
    assert [i["MaHoSo"] for i in feed(http, system, since=since)["items"]] == seeded[1:]

    moved = system.upsert({**SEED_DOSSIERS[2], "TrangThaiHoSo": 4})
    items = feed(http, system)["items"]
    assert [i["MaHoSo"] for i in items] == [*seeded[:2], seeded[3], seeded[2]]
    assert items[-1]["TrangThaiHoSo"] == 4
    assert items[-1]["ThoiDiemCapNhat"] == moved.strftime("%Y%m%d%H%M%S")


@pytest.mark.parametrize(
    "params", [{"since": "2026-01-01"}, {"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": "x"}]
)
def test_a_bad_feed_query_is_refused(
    http: requests.Session, system: OnestopSystem, params: dict[str, Any]
) -> None:
    answer = call(http, system, "/dossiers/changes", params=params)
    assert (answer.status_code, answer.json()["code"]) == (422, "VALIDATION_FAILED")


# --- faults and lifecycle ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status"),
    [("SYSTEM_BUSY", 503), ("RATE_LIMITED", 429), ("DOSSIER_NOT_FOUND", 404), ("ODD", 400)],
)
def test_the_error_code_fault_answers_in_the_systems_shape(
    http: requests.Session, system: OnestopSystem, code: str, status: int
) -> None:
    system.set_faults(fail_next=1, error_code=code)
    failed = call(http, system, "/dossiers/changes")
    assert (failed.status_code, failed.json()["code"]) == (status, code)
    assert call(http, system, "/dossiers/changes").status_code == 200


def test_an_outage_drops_the_connection_and_a_failure_answers_503(
    http: requests.Session, system: OnestopSystem
) -> None:
    system.set_faults(outage=True)
    with pytest.raises(requests.ConnectionError):
        call(http, system, "/dossiers/changes")
    system.set_faults(outage=False, fail_next=1)
    assert call(http, system, "/dossiers/changes").status_code == 503
    assert system.access_log == []  # faulted requests never reached the system


def test_it_serves_on_a_fixed_port(http: requests.Session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with OnestopSystem(port=port, token=TOKEN) as system:
        answer = http.get(f"http://127.0.0.1:{port}/dossiers/changes", headers=AUTH, timeout=5)
        assert system.url.endswith(f":{port}") and answer.status_code == 200
