"""The DVCQG portal simulator over raw HTTP: login and sessions, dossiers kept and updated,
validation, progress, catalogue, success-code styles, faults, ledger."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.dvcqg import DvcqgPortal

MA = "H57.14-261125-00031"


@pytest.fixture
def portal() -> Iterator[DvcqgPortal]:
    with DvcqgPortal() as server:
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def login(portal: DvcqgPortal, http: requests.Session, **changes: Any) -> dict[str, Any]:
    body = {"username": portal.username, "password": portal.password}
    headers = {"dstcode": changes.pop("dstcode", portal.dstcode)}
    return http.post(portal.login_url, json={**body, **changes}, headers=headers).json()


def call(
    portal: DvcqgPortal,
    http: requests.Session,
    service: str,
    session: str | None = None,
    **body: Any,
) -> dict[str, Any]:
    session = session or login(portal, http)["session"]
    payload = {"session": session, "madonvi": portal.madonvi, "service": service, **body}
    response = http.post(portal.service_url, json=payload)
    assert response.status_code == 200
    return response.json()


def dossier(code: str = MA, **fields: Any) -> dict[str, Any]:
    return {"MaHoSo": code, "MaTTHC": "1.001193.000.00.00.H57", "TrangThaiHoSo": 2, **fields}


def sync(portal, http, *dossiers, updating: Any = False, session=None) -> dict[str, Any]:
    data = list(dossiers or [dossier()])
    return call(portal, http, "DongBoHoSoMC", session, isUpdating=updating, data=data)


# --- login and sessions -----------------------------------------------------------------------
def test_login_answers_a_session(portal: DvcqgPortal, http: requests.Session) -> None:
    answer = login(portal, http)
    assert answer["error_code"] == 0 and len(answer["session"]) > 20
    assert portal.login_count == 1
    assert portal.received == []  # logins are counted, not recorded


@pytest.mark.parametrize(
    "change", [{"password": "wrong"}, {"username": "other"}, {"dstcode": "H99"}, {"dstcode": ""}]
)
def test_a_wrong_credential_or_dstcode_is_refused(
    portal: DvcqgPortal, http: requests.Session, change: dict[str, str]
) -> None:
    answer = login(portal, http, **change)
    assert answer["error_code"] == -4 and "session" not in answer
    assert portal.login_count == 0


def test_calls_need_a_live_session_and_the_accounts_agency(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    assert call(portal, http, "LayDanhMucLinhVuc", "made-up")["error_code"] == -2
    session = login(portal, http)["session"]
    assert call(portal, http, "LayDanhMucLinhVuc", session)["error_code"] == 0
    portal.expire_sessions()
    assert call(portal, http, "LayDanhMucLinhVuc", session)["error_code"] == -2
    other = {"session": login(portal, http)["session"], "madonvi": "000.00.00.H49"}
    refused = http.post(portal.service_url, json={**other, "service": "LayDanhMucLinhVuc"})
    assert refused.json()["error_code"] == -4


def test_sessions_expire_after_their_ttl(http: requests.Session) -> None:
    with DvcqgPortal(session_ttl=0.2) as portal:
        session = login(portal, http)["session"]
        assert call(portal, http, "LayDanhMucLinhVuc", session)["error_code"] == 0
        time.sleep(0.3)
        assert call(portal, http, "LayDanhMucLinhVuc", session)["error_code"] == -2


# --- dossiers ---------------------------------------------------------------------------------
def test_an_insert_is_kept_and_a_second_one_is_answered_exists(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    assert sync(portal, http)["error_code"] == 0
    again = sync(portal, http, dossier(TrangThaiHoSo=4))
    assert again["error_code"] == 3 and MA in again["message"]
    assert portal.dossiers[MA]["TrangThaiHoSo"] == 2  # unchanged
    assert sync(portal, http, dossier(TrangThaiHoSo=4), updating=True)["error_code"] == 0
    assert portal.dossiers[MA]["TrangThaiHoSo"] == 4


def test_is_updating_as_the_strings_public_clients_send(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    assert sync(portal, http, updating="False")["error_code"] == 0
    assert sync(portal, http, dossier(TrangThaiHoSo=9), updating="True")["error_code"] == 0
    assert portal.dossiers[MA]["TrangThaiHoSo"] == 9


def test_an_update_of_an_unknown_dossier_changes_nothing(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    sync(portal, http, dossier("A"))
    answer = sync(portal, http, dossier("A", TrangThaiHoSo=4), dossier("B"), updating=True)
    assert answer["error_code"] == 2 and "B" in answer["message"]
    assert portal.dossiers == {"A": dossier("A")}


def test_a_partly_known_batch_stores_the_new_dossiers_and_names_the_known_ones(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    sync(portal, http, dossier("A"))
    answer = sync(portal, http, dossier("A", TrangThaiHoSo=4), dossier("B"))
    assert answer["error_code"] == 3
    assert answer["result"] == [
        {"MaHoSo": "A", "KetQua": "DaTonTai"},
        {"MaHoSo": "B", "KetQua": "ThemMoi"},
    ]
    assert {k: v["TrangThaiHoSo"] for k, v in portal.dossiers.items()} == {"A": 2, "B": 2}


def test_a_batch_of_500_is_taken_quickly(portal: DvcqgPortal, http: requests.Session) -> None:
    batch = [dossier(f"H57.14-261125-{n:05d}", ChuHoSo="Nguyễn Văn A" * 5) for n in range(500)]
    session = login(portal, http)["session"]
    started = time.monotonic()
    assert sync(portal, http, *batch, session=session)["error_code"] == 0
    assert time.monotonic() - started < 2
    assert len(portal.dossiers) == 500


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"MaHoSo": ""}, "MaHoSo"),
        ({"MaTTHC": None}, "MaTTHC"),
        ({"TrangThaiHoSo": 11}, "TrangThaiHoSo"),
        ({"TrangThaiHoSo": True}, "TrangThaiHoSo"),
        ({"LoaiDoiTuong": 5}, "LoaiDoiTuong"),
        ({"HinhThuc": "2"}, "HinhThuc"),
        ({"NgayTiepNhan": "2026-11-25T08:00:00"}, "NgayTiepNhan"),
        ({"NgayHenTra": "20261131000000"}, "NgayHenTra"),
        ({"UyQuyen": "co"}, "UyQuyen"),
        ({"Email": "lan at example"}, "Email"),
        ({"DinhDanhCHS": [{"LoaiDinhDanh": 3, "SoDinhDanh": "046190001234"}]}, "LoaiDinhDanh"),
        ({"DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": "191234567"}]}, "SoDinhDanh"),
        ({"TaiLieuNop": [{"DuocSoHoa": 2}]}, "DuocSoHoa"),
        ({"DanhSachLePhi": "none"}, "DanhSachLePhi"),
    ],
)
def test_an_invalid_dossier_refuses_the_whole_batch_naming_the_field(
    portal: DvcqgPortal, http: requests.Session, change: dict[str, Any], field: str
) -> None:
    answer = sync(portal, http, dossier("OK"), dossier("BAD", **change))
    assert answer["error_code"] == 1
    assert answer["message"].startswith("data[1].") and field in answer["message"]
    assert portal.dossiers == {} and portal.received == []


def test_valid_values_in_every_accepted_form(portal: DvcqgPortal, http: requests.Session) -> None:
    accepted = dossier(
        LoaiDoiTuong="1",
        HinhThuc=1,
        NgayTra="",
        NgayHenTra=None,
        UyQuyen=True,
        TaiKhoanDuocXacThucVoiVNeID="0",
        DinhDanhCHS=[
            {"LoaiDinhDanh": "2", "SoDinhDanh": "191234567"},
            {"LoaiDinhDanh": 1, "SoDinhDanh": "046190001234"},
        ],
        TaiLieuNop=[{"DuocSoHoa": 1, "DuocTaiSuDung": False, "MaKetQuaThayThe": None}],
    )
    assert sync(portal, http, accepted)["error_code"] == 0


# --- progress and look-ups --------------------------------------------------------------------
def test_progress_is_appended_and_visible_in_tra_cuu_ho_so(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    session = login(portal, http)["session"]
    sync(portal, http, session=session)
    steps = [
        {"MaHoSo": MA, "TrangThai": 4, "ThoiDiemXuLy": "20261125091500", "NguoiXuLy": "Minh"},
        {"MaHoSo": MA, "TrangThai": "10", "ThoiDiemXuLy": "20261127100000"},
    ]
    assert call(portal, http, "CapNhatTienDoHoSoMC", session, data=steps[0])["error_code"] == 0
    assert call(portal, http, "CapNhatTienDoHoSoMC", session, data=[steps[1]])["error_code"] == 0
    assert portal.progress(MA) == steps
    [found] = call(portal, http, "TraCuuHoSo", session, mahoso=MA)["result"]
    assert found == {**dossier(), "DanhSachTienDo": steps}
    assert call(portal, http, "TraCuuHoSo", session, MaHoSo="unknown")["result"] == []


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ({"MaHoSo": "unknown", "TrangThai": 4, "ThoiDiemXuLy": "20261125091500"}, 2),
        ({"MaHoSo": MA, "ThoiDiemXuLy": "20261125091500"}, 1),
        ({"MaHoSo": MA, "TrangThai": 4}, 1),
        ({"MaHoSo": MA, "TrangThai": 4, "ThoiDiemXuLy": "25/11/2026"}, 1),
    ],
)
def test_progress_needs_a_known_dossier_a_status_and_a_time(
    portal: DvcqgPortal, http: requests.Session, entry: dict[str, Any], code: int
) -> None:
    session = login(portal, http)["session"]
    sync(portal, http, session=session)
    assert call(portal, http, "CapNhatTienDoHoSoMC", session, data=entry)["error_code"] == code
    assert portal.progress(MA) == []


def test_the_catalogue_embeds_agency_codes_in_procedure_codes(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    session = login(portal, http)["session"]
    [procedure] = call(portal, http, "LayThuTuc", session, maTTHC="2.000815.000.00.00.H57")[
        "result"
    ]
    [agency] = procedure["COQUANTHUCHIEN"]
    assert procedure["MATTHC"].endswith(agency["MACOQUAN"][-3:])
    assert procedure["LINHVUCTHUCHIEN"] == [{"MALINHVUC": "LLTP", "TENLINHVUC": "Lý lịch tư pháp"}]
    everything = call(portal, http, "LayDanhSachTTHC", session)["result"]
    civil = call(portal, http, "LayDanhSachTTHC", session, maLinhVuc="HT")["result"]
    assert len(everything) == 3 and [p["MATTHC"] for p in civil] == ["1.001193.000.00.00.H57"]
    agencies = {a["MACOQUAN"] for a in call(portal, http, "LayDanhMucCoQuan", session)["result"]}
    assert {"000.05.20.H57", "H57.14"} <= agencies  # the old four-level form and the new one
    fields = call(portal, http, "LayDanhMucLinhVuc", session)["result"]
    assert {"MALINHVUC": "HT", "TENLINHVUC": "Hộ tịch"} in fields


def test_an_unknown_service_and_a_body_that_is_not_json(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    assert call(portal, http, "XoaHoSo")["error_code"] == 5
    assert http.post(portal.service_url, data=b"not json").status_code == 400
    assert http.get(portal.service_url).status_code == 405
    assert http.post(portal.url + "/other", json={}).status_code == 404


# --- deployment styles, faults, ledger --------------------------------------------------------
def test_a_00_deployment_answers_every_code_as_a_string(http: requests.Session) -> None:
    with DvcqgPortal(success_code="00") as portal:
        assert login(portal, http)["error_code"] == "00"
        assert login(portal, http, password="wrong")["error_code"] == "-4"
        assert sync(portal, http)["error_code"] == "00"
        assert sync(portal, http)["error_code"] == "3"


@pytest.mark.parametrize("exists_code", [-3, "-3", "3"])
def test_the_exists_code_is_an_option(http: requests.Session, exists_code: int | str) -> None:
    with DvcqgPortal(exists_code=exists_code) as portal:
        sync(portal, http)
        assert sync(portal, http)["error_code"] == exists_code


def test_the_error_code_fault_answers_the_portals_own_shape(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    portal.set_faults(fail_next=1, error_code="-1")
    response = http.post(portal.login_url, json={}, headers={"dstcode": "x"})
    assert response.status_code == 200 and response.json()["error_code"] == -1
    assert login(portal, http)["error_code"] == 0


def test_the_ledger_records_accepted_calls_with_their_idempotency_key(
    portal: DvcqgPortal, http: requests.Session
) -> None:
    session = login(portal, http)["session"]
    body = {"session": session, "madonvi": portal.madonvi, "service": "DongBoHoSoMC"}
    for updating in (False, True):
        http.post(
            portal.service_url,
            json={**body, "isUpdating": updating, "data": [dossier()]},
            headers={"Idempotency-Key": "m-1"},
        )
    sync(portal, http, session=session)  # refused (exists): not recorded
    assert [r.operation for r in portal.received] == ["DongBoHoSoMC", "DongBoHoSoMC"]
    assert [r.arguments["isUpdating"] for r in portal.received] == [False, True]
    assert len(portal.unique) == 1 and portal.unique_keys() == ["m-1"]


def test_the_portal_serves_on_a_fixed_port(http: requests.Session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with DvcqgPortal(port=port) as portal:
        assert portal.login_url == f"http://127.0.0.1:{port}/dvcqg/login"
        assert login(portal, http)["error_code"] == 0


def test_invalid_options_are_refused() -> None:
    with pytest.raises(ValueError, match="success_code"):
        DvcqgPortal(success_code=1)
    with pytest.raises(ValueError, match="exists_code"):
        DvcqgPortal(exists_code=4)
