"""The dvcqg connector against the DVCQG portal simulator over real loopback HTTP: sessions,
insert then update, error classes, look-ups, batches, personal data, and the shipped mappings
feeding it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.dvcqg import DvcqgConnector, mask_personal
from hub.config import CATALOG
from hub.connector import CheckResult, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.mapping import MappingFailed, Mappings
from hub.payload import Payload
from hub.schemas import Schemas
from hub.testing import ConnectorContract
from sandbox.dvcqg import FIELDS, DvcqgPortal

PASSWORD = "dvcqg-sandbox-secret"
ID_NUMBER, PHONE = "046190001234", "0912345678"
MAPPINGS = Mappings(CATALOG / "mappings", Schemas(CATALOG / "schemas"))

MakeConnector = Callable[..., DvcqgConnector]


def dossier(code: str = "H57.14-261125-00031", **fields: Any) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "MaTTHC": "1.001193.000.00.00.H57",
        "TenTTHC": "Đăng ký khai sinh",
        "ChuHoSo": "Nguyễn Thị Lan",
        "SoGiayToChuHoSo": ID_NUMBER,
        "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": ID_NUMBER}],
        "SoDienThoai": PHONE,
        "Email": "lan.nguyen@example.vn",
        "LoaiDoiTuong": 1,
        "NgayTiepNhan": "20261125080500",
        "TrangThaiHoSo": 2,
        "HinhThuc": 0,
        **fields,
    }


def message(body: Any, **fields: Any) -> OutboundMessage:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    ident = new_id()
    base = OutboundMessage(
        id=ident,
        correlation_id=ident,
        sender_agency="000.00.00.H57",
        sender_system="motcua",
        service="dossier.sync",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )
    return replace(base, **fields)


def sync(*dossiers: dict[str, Any]) -> OutboundMessage:
    return message({"service": "DongBoHoSoMC", "data": list(dossiers or [dossier()])})


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "dvcqg.password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.fixture
def portal() -> Iterator[DvcqgPortal]:
    with DvcqgPortal() as server:
        yield server


@pytest.fixture
def make_connector(password_file: Path) -> Iterator[MakeConnector]:
    made: list[DvcqgConnector] = []

    def make(portal: DvcqgPortal, **overrides: Any) -> DvcqgConnector:
        config = {
            "url": portal.service_url,
            "login_url": portal.login_url,
            "username": portal.username,
            "password_file": str(password_file),
            "dstcode": portal.dstcode,
            "madonvi": portal.madonvi,
            "timeout_seconds": 2,
            **overrides,
        }
        connector = DvcqgConnector("dvcqg", {k: v for k, v in config.items() if v is not None})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def connector(portal: DvcqgPortal, make_connector: MakeConnector) -> DvcqgConnector:
    return make_connector(portal)


def no_personal_data(*texts: str) -> None:
    for text in texts:
        assert ID_NUMBER not in text and PHONE not in text, text
        assert PASSWORD not in text, text


def error_texts(error: DeliveryError) -> list[str]:
    return [str(error), json.dumps(error.as_dict(), ensure_ascii=False), str(error.remote_status)]


# --- insert, update, success codes ------------------------------------------------------------
@pytest.mark.parametrize("exists_code", [3, "3", -3, "-3"])
def test_an_existing_dossier_is_resent_as_an_update(
    make_connector: MakeConnector, exists_code: int | str
) -> None:
    with DvcqgPortal(exists_code=exists_code) as portal:
        connector = make_connector(portal)
        first = connector.deliver(sync(dossier(TrangThaiHoSo=2)))
        second = connector.deliver(sync(dossier(TrangThaiHoSo=4)))
        stored = portal.dossiers["H57.14-261125-00031"]
        calls = [r.arguments.get("isUpdating") for r in portal.received]
    assert first.remote_status == second.remote_status == "error_code:0"
    assert "resent_as_update" not in first.details and second.details["resent_as_update"]
    assert stored["TrangThaiHoSo"] == 4
    assert calls == [False, True]  # the refused insert is not a recorded call


def test_success_answered_as_the_string_00_is_success(make_connector: MakeConnector) -> None:
    with DvcqgPortal(success_code="00") as portal:
        connector = make_connector(portal)
        assert connector.deliver(sync()).remote_status == "error_code:00"
        assert connector.deliver(sync()).details["resent_as_update"]  # "3" as a string too


def test_a_single_dossier_object_is_sent_as_a_one_item_list(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    connector.deliver(message({"service": "DongBoHoSoMC", "data": dossier()}))
    sent = portal.received[0].json()
    assert sent["data"] == [dossier()] and sent["isUpdating"] is False
    assert (sent["madonvi"], bool(sent["session"])) == (portal.madonvi, True)


def test_the_service_comes_from_the_configuration_when_the_body_names_none(
    portal: DvcqgPortal, make_connector: MakeConnector
) -> None:
    make_connector(portal, service="DongBoHoSoMC").deliver(message({"data": [dossier()]}))
    assert list(portal.dossiers) == ["H57.14-261125-00031"]


def test_a_batch_of_200_dossiers_goes_in_one_call(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    batch = [dossier(f"H57.14-261125-{n:05d}") for n in range(200)]
    started = time.monotonic()
    result = connector.deliver(sync(*batch))
    assert time.monotonic() - started < 5
    assert result.details["dossiers"] == 200
    assert len(portal.dossiers) == 200 and len(portal.received) == 1


def test_a_batch_partly_known_to_the_portal_ends_with_all_dossiers_current(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    connector.deliver(sync(dossier("A-1", TrangThaiHoSo=2)))
    result = connector.deliver(sync(dossier("A-1", TrangThaiHoSo=4), dossier("A-2")))
    assert result.details["resent_as_update"]
    assert {k: v["TrangThaiHoSo"] for k, v in portal.dossiers.items()} == {"A-1": 4, "A-2": 2}


# --- sessions ---------------------------------------------------------------------------------
def test_the_session_is_reused_across_deliveries(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    for n in range(3):
        connector.deliver(sync(dossier(f"S-{n}")))
    assert portal.login_count == 1


def test_an_expired_session_is_renewed_once_and_the_call_repeated(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    connector.deliver(sync(dossier("S-1")))
    portal.expire_sessions()
    assert connector.deliver(sync(dossier("S-2"))).remote_status == "error_code:0"
    assert portal.login_count == 2
    assert sorted(portal.dossiers) == ["S-1", "S-2"]


def test_a_new_session_refused_too_is_permanent(make_connector: MakeConnector) -> None:
    with DvcqgPortal(session_ttl=0) as portal:  # every session is expired at once
        with pytest.raises(PermanentDeliveryError) as caught:
            make_connector(portal).deliver(sync())
        assert portal.login_count == 2  # the first login and exactly one more
    assert caught.value.remote_status == "error_code:-2"


def test_session_expired_codes_are_configuration(make_connector: MakeConnector) -> None:
    with DvcqgPortal(session_ttl=0) as portal:  # -2 is not listed here: a plain refusal
        with pytest.raises(PermanentDeliveryError):
            make_connector(portal, session_expired_codes=["-9"]).deliver(sync())
        assert portal.login_count == 1


def test_concurrent_workers_share_one_login(portal: DvcqgPortal, connector: DvcqgConnector) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            connector.deliver(sync(dossier(f"T-{n}")))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and portal.login_count == 1 and len(portal.dossiers) == 8


# --- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "value"),
    [("password", "wrong-password"), ("dstcode", "H99"), ("username", "someone-else")],
)
def test_a_refused_login_is_permanent_and_shows_no_secret(
    portal: DvcqgPortal,
    make_connector: MakeConnector,
    tmp_path: Path,
    change: str,
    value: str,
) -> None:
    overrides: dict[str, Any] = {change: value}
    if change == "password":
        (tmp_path / "wrong").write_text(value)
        overrides = {"password_file": str(tmp_path / "wrong")}
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(portal, **overrides).deliver(sync())
    assert caught.value.remote_status == "error_code:-4"
    assert caught.value.details["reason"] == "auth"
    no_personal_data(*error_texts(caught.value))
    assert "wrong-password" not in " ".join(error_texts(caught.value))
    assert portal.received == []


def test_an_unset_password_is_a_permanent_configuration_error(
    portal: DvcqgPortal, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVCQG_TEST_PASSWORD", raising=False)
    connector = make_connector(portal, password_file=None, password_env="DVCQG_TEST_PASSWORD")
    with pytest.raises(PermanentDeliveryError, match="DVCQG_TEST_PASSWORD"):
        connector.deliver(sync())
    assert portal.request_count == 0


def test_a_validation_refusal_is_permanent(portal: DvcqgPortal, connector: DvcqgConnector) -> None:
    bad = dossier()
    del bad["MaTTHC"]
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(sync(bad))
    assert caught.value.remote_status == "error_code:1"
    assert "MaTTHC" in caught.value.message
    assert portal.dossiers == {}


def test_progress_for_an_unknown_dossier_is_permanent(connector: DvcqgConnector) -> None:
    body = {"service": "CapNhatTienDoHoSoMC", "data": {"MaHoSo": "X", "TrangThai": 4}}
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(
            message({**body, "data": {**body["data"], "ThoiDiemXuLy": "20261125091500"}})
        )
    assert caught.value.remote_status == "error_code:2"


@pytest.mark.parametrize(("code", "config"), [("-1", {}), ("77", {"retryable_codes": ["77"]})])
def test_the_portals_busy_codes_are_transient(
    portal: DvcqgPortal, make_connector: MakeConnector, code: str, config: dict[str, Any]
) -> None:
    connector = make_connector(portal, **config)
    connector.deliver(sync())  # logged in: the fault hits the service call
    portal.set_faults(fail_next=1, error_code=code)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(sync(dossier("B-1")))
    assert caught.value.remote_status == f"error_code:{code}"
    assert connector.deliver(sync(dossier("B-1"))).remote_status == "error_code:0"


def test_an_unknown_portal_code_is_permanent(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    portal.set_faults(fail_next=1, error_code="77")
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(sync())
    assert caught.value.remote_status == "error_code:77"


def test_a_busy_portal_at_login_is_transient(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    portal.set_faults(fail_next=1, error_code="-1")
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(sync())
    assert caught.value.remote_status == "error_code:-1"


@pytest.mark.parametrize(
    ("status", "error"), [(503, TransientDeliveryError), (400, PermanentDeliveryError)]
)
def test_http_failures_follow_the_toolkit(
    portal: DvcqgPortal, connector: DvcqgConnector, status: int, error: type[DeliveryError]
) -> None:
    connector.deliver(sync())
    portal.set_faults(fail_next=1, fail_status=status)
    with pytest.raises(error) as caught:
        connector.deliver(sync())
    assert caught.value.remote_status == str(status)


def test_a_slow_portal_times_out_as_transient(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    portal.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(sync(), timeout=0.5)
    assert caught.value.remote_status == "timeout"


def test_an_outage_then_recovery(portal: DvcqgPortal, connector: DvcqgConnector) -> None:
    connector.deliver(sync(dossier("O-1")))
    portal.stop()
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(sync(dossier("O-2")))
    assert caught.value.remote_status == "connection_error"
    portal.start()
    assert connector.deliver(sync(dossier("O-2"))).remote_status == "error_code:0"
    assert sorted(portal.dossiers) == ["O-1", "O-2"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "not a JSON call"),
        ([1, 2], "JSON object"),
        ({"service": "XoaHoSo", "data": []}, "unknown DVCQG service"),
        ({"data": [{"MaHoSo": "X"}]}, "unknown DVCQG service"),
        ({"service": "DongBoHoSoMC", "data": []}, "non-empty list"),
        ({"service": "DongBoHoSoMC", "session": "s", "data": [{}]}, "session/madonvi"),
    ],
)
def test_bodies_the_protocol_cannot_carry_are_local_failures(
    portal: DvcqgPortal, connector: DvcqgConnector, body: Any, says: str
) -> None:
    with pytest.raises(LocalDeliveryError, match=says):
        connector.deliver(message(body))
    assert portal.request_count == 0


# --- look-ups ---------------------------------------------------------------------------------
def test_tra_cuu_ho_so_returns_what_was_inserted_and_progressed(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    connector.deliver(sync())
    progress = {
        "MaHoSo": "H57.14-261125-00031",
        "NguoiXuLy": "Trần Văn Minh",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": "20261125091500",
        "PhongBanXuLy": "Bộ phận một cửa",
        "NoiDungXuLy": "Đang thẩm định hồ sơ",
        "TrangThai": 4,
        "NgayBatDau": "20261125000000",
        "NgayKetThucTheoQuyDinh": "20261209000000",
    }
    connector.deliver(message({"service": "CapNhatTienDoHoSoMC", "data": progress}))
    result = connector.deliver(message({"service": "TraCuuHoSo", "MaHoSo": progress["MaHoSo"]}))
    assert result.content_type == "application/json"
    [found] = json.loads(result.response)["result"]
    assert found["DanhSachTienDo"] == [progress]
    assert {k: found[k] for k in dossier()} == dossier()


def test_catalogue_calls_return_the_portals_answer(connector: DvcqgConnector) -> None:
    answer = connector.deliver(
        message({"service": "LayThuTuc", "maTTHC": "1.000656.000.00.00.H29"})
    )
    [procedure] = json.loads(answer.response)["result"]
    assert procedure["MATTHC"].endswith(".H29")
    agencies = json.loads(connector.deliver(message({"service": "LayDanhMucCoQuan"})).response)
    codes = {a["MACOQUAN"] for a in agencies["result"]}
    assert "000.00.12.H57" in codes and "H57.14" in codes


# --- personal data ----------------------------------------------------------------------------
def test_no_owner_id_or_phone_in_errors_even_when_the_portal_echoes_them(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    echoed = [
        dossier(DinhDanhCHS=[{"LoaiDinhDanh": 1, "SoDinhDanh": ID_NUMBER[:-1]}]),
        dossier(SoDienThoai=PHONE + "x"),
        dossier(SoGiayToChuHoSo=ID_NUMBER, Email="not an e-mail " + PHONE),
    ]
    texts: list[str] = []
    for bad in echoed:
        with pytest.raises(PermanentDeliveryError) as caught:
            connector.deliver(sync(bad))
        texts += error_texts(caught.value)
    no_personal_data(*texts)
    assert ID_NUMBER[:-1] not in " ".join(texts)
    assert any("SoDinhDanh" in t for t in texts)  # the field is still named


def test_the_mask_keeps_the_last_three_digits_of_id_and_phone_numbers() -> None:
    assert mask_personal("CCCD 046190001234, ĐT 0912345678") == "CCCD *********234, ĐT *******678"
    assert mask_personal("hồ sơ H57.14-261125-00031 lúc 20261125080500") == (
        "hồ sơ H57.14-261125-00031 lúc 20261125080500"
    )
    assert mask_personal("gửi lan.nguyen@example.vn") == "gửi ***@***"


# --- check ------------------------------------------------------------------------------------
def check_map(results: list[CheckResult]) -> dict[str, str]:
    return {r.name: r.status for r in results}


def test_check_is_ok_against_the_portal(portal: DvcqgPortal, connector: DvcqgConnector) -> None:
    results = connector.check()
    assert check_map(results) == {
        "secret": "ok",
        "dns": "ok",
        "connect": "ok",
        "request": "ok",
        "auth": "ok",
    }
    no_personal_data(*(r.detail for r in results))


def test_check_fails_auth_with_a_wrong_password(
    portal: DvcqgPortal, make_connector: MakeConnector, tmp_path: Path
) -> None:
    (tmp_path / "wrong").write_text("wrong-password")
    results = make_connector(portal, password_file=str(tmp_path / "wrong")).check()
    assert check_map(results)["auth"] == "fail"
    assert check_map(results)["request"] == "ok"
    assert all("wrong-password" not in r.detail for r in results)


def test_check_fails_when_the_password_reference_does_not_resolve(
    portal: DvcqgPortal, make_connector: MakeConnector, tmp_path: Path
) -> None:
    results = make_connector(portal, password_file=str(tmp_path / "missing")).check()
    assert check_map(results)["secret"] == "fail" and check_map(results)["auth"] == "fail"


# --- configuration ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"password": PASSWORD}, "/password"),
        ({"password_file": None}, "/password_env"),
        ({"password_env": "X"}, "/password_env"),
        ({"login_url": None}, "/login_url"),
        ({"service": "XoaHoSo"}, "/service"),
        ({"retryable_codes": [-1]}, "/retryable_codes/0"),
    ],
)
def test_invalid_configuration_names_the_field(
    portal: DvcqgPortal, make_connector: MakeConnector, change: dict[str, Any], path: str
) -> None:
    with pytest.raises(SchemaViolation) as caught:
        make_connector(portal, **change)
    assert any(e["path"] == path for e in caught.value.details["errors"]), caught.value.details


# --- the shipped mappings feed this connector -------------------------------------------------
def example(mapping: str, case: str) -> bytes:
    return (CATALOG / "mappings" / f"{mapping}.examples" / f"{case}.in.json").read_bytes()


@pytest.mark.parametrize(
    "case", ["cccd-citizen-online", "cmnd-owner-by-post", "business-minimal", "done-with-results"]
)
def test_a_mapped_onestop_dossier_is_accepted_by_the_portal(
    portal: DvcqgPortal, connector: DvcqgConnector, case: str
) -> None:
    body = MAPPINGS.load("onestop-dossier-to-dvcqg").map(example("onestop-dossier-to-dvcqg", case))
    assert set(json.loads(body)["data"]) <= FIELDS  # REFERENCE.md's names, nothing else
    assert connector.deliver(message(body)).remote_status == "error_code:0"
    [stored] = portal.dossiers.values()
    assert stored == json.loads(body)["data"]


def test_mapped_progress_reaches_the_dossier(
    portal: DvcqgPortal, connector: DvcqgConnector
) -> None:
    connector.deliver(sync(dossier("000.00.00.H49-261125-0100")))
    body = MAPPINGS.load("onestop-progress-to-dvcqg").map(
        example("onestop-progress-to-dvcqg", "processing")
    )
    connector.deliver(message(body))
    assert portal.progress("000.00.00.H49-261125-0100") == [json.loads(body)["data"]]


def test_a_dossier_being_sent_between_systems_is_refused_by_the_mappings() -> None:
    record = json.loads(example("onestop-dossier-to-dvcqg", "business-minimal"))
    record["trangThai"] = "in_transit"
    for name, value in [
        ("onestop-dossier-to-dvcqg", record),
        ("local-status-to-dvcqg", {"maHoSo": record["maHoSo"], "trangThai": "in_transit"}),
    ]:
        with pytest.raises(MappingFailed) as caught:
            MAPPINGS.load(name).map(json.dumps(value).encode())
        [error] = caught.value.details["errors"]
        assert "'in_transit' is not in code list trang-thai-ho-so" in error["message"]


class TestDvcqgConnectorContract(ConnectorContract):
    @pytest.fixture
    def partner(self, portal: DvcqgPortal) -> DvcqgPortal:
        return portal

    @pytest.fixture
    def connector(self, partner: DvcqgPortal, make_connector: MakeConnector) -> DvcqgConnector:
        return make_connector(partner)

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return sync()
