"""The VNPost, Government reporting and EMC simulators, spoken to with plain HTTP: each
authenticates as its partner would, keeps state, and injects faults in its partner's shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.emc import EmcCollector
from sandbox.reporting import ReportingSystem
from sandbox.vnpost import VnpostApi, s10_check_digit

ORDER: dict[str, Any] = {
    "OrderNumber": "000.00.12.H48-260105-00012",
    "SenderName": "Nguyễn Thị Lan",
    "SenderPhone": "0912345678",
    "SenderAddress": "12 Trần Phú",
    "SenderProvince": "48",
    "SenderDistrict": "492",
    "SenderWard": "20194",
    "ReceiverName": "Trần Văn Bình",
    "ReceiverPhone": "+84987654321",
    "ReceiverAddress": "45 Lê Lợi",
    "ReceiverProvince": "48",
}
REPORT: dict[str, Any] = {
    "MaBaoCao": "BC-DVCTT-01",
    "KyBaoCao": "2026-10",
    "MaDonVi": "000.00.00.H48",
    "ChiTieu": [{"Ma": "HS_TIEP_NHAN", "GiaTri": 120, "DonViTinh": "hồ sơ"}],
}


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


# --- VNPost ---------------------------------------------------------------------------------
@pytest.fixture
def vnpost() -> Iterator[VnpostApi]:
    with VnpostApi(access_token="tok") as server:
        yield server


def post_order(http: requests.Session, api: VnpostApi, body: Any, path: str = "/order/pickup"):
    return http.post(api.url + path, json=body, headers={"access_token": "tok"}, timeout=5)


@pytest.mark.parametrize("headers", [{}, {"access_token": "wrong"}, {"Authorization": "tok"}])
def test_vnpost_refuses_a_missing_or_wrong_access_token(
    http: requests.Session, vnpost: VnpostApi, headers: dict[str, str]
) -> None:
    answer = http.post(vnpost.url + "/order/pickup", json=ORDER, headers=headers, timeout=5)
    assert answer.status_code == 401 and answer.json()["Status"] == "401"
    assert vnpost.orders == [] and vnpost.received == []


def test_vnpost_keeps_an_order_with_an_s10_tracking_code_and_tracks_it(
    http: requests.Session, vnpost: VnpostApi
) -> None:
    created = post_order(http, vnpost, ORDER).json()
    assert created["Status"] == "100"
    code = created["ItemCode"]
    assert code.startswith("EB") and code.endswith("VN")
    assert int(code[10]) == s10_check_digit(code[2:10])

    vnpost.set_state(code, "picked_up")
    tracked = post_order(http, vnpost, {"ItemCode": code}, "/order/status").json()
    [order] = tracked["Orders"]
    assert (order["OrderNumber"], order["State"]) == (ORDER["OrderNumber"], "picked_up")
    assert [h["State"] for h in order["History"]] == ["created", "picked_up"]
    assert "Order" not in order  # tracking does not hand personal data back


def test_vnpost_is_idempotent_on_the_order_number_per_order_type(
    http: requests.Session, vnpost: VnpostApi
) -> None:
    first = post_order(http, vnpost, ORDER).json()
    again = post_order(http, vnpost, ORDER).json()
    returned = post_order(http, vnpost, ORDER, "/order/return").json()
    other = post_order(http, vnpost, {**ORDER, "Note": "khác"}).json()

    assert first["ItemCode"] == again["ItemCode"] != returned["ItemCode"]
    assert other["Status"] == "102"
    assert len(vnpost.orders) == 2
    assert [r.duplicate for r in vnpost.received] == [False, True, False]
    tracked = post_order(http, vnpost, {"OrderNumber": ORDER["OrderNumber"]}, "/order/status")
    assert {o["OrderType"] for o in tracked.json()["Orders"]} == {"pickup", "return"}


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        ({}, True),
        ({"SenderDistrict": ""}, True),  # two-tier: no district
        ({"SenderDistrict": None, "SenderWard": "31000"}, True),
        ({"SenderDistrict": "4920"}, False),
        ({"SenderWard": "2019"}, False),
        ({"SenderProvince": 48}, False),
        ({"ReceiverPhone": "12345"}, False),
        ({"SenderName": ""}, False),
        ({"Weight": 0}, False),
        ({"CodAmount": 1.5}, False),
    ],
)
def test_vnpost_validates_orders_and_accepts_old_and_new_address_forms(
    http: requests.Session, vnpost: VnpostApi, change: dict[str, Any], accepted: bool
) -> None:
    answer = post_order(http, vnpost, {**ORDER, **change})
    assert answer.status_code == 200
    assert answer.json()["Status"] == ("100" if accepted else "101")
    assert len(vnpost.received) == int(accepted)


def test_vnpost_answers_unknown_orders_and_paths_and_methods(
    http: requests.Session, vnpost: VnpostApi
) -> None:
    assert post_order(http, vnpost, {"OrderNumber": "x"}, "/order/status").json()["Status"] == "103"
    assert post_order(http, vnpost, {}, "/order/status").json()["Status"] == "101"
    assert post_order(http, vnpost, ORDER, "/order/cancel").status_code == 404
    assert http.get(vnpost.url + "/order/pickup", timeout=5).status_code == 405


def test_vnpost_faults_answer_in_vnposts_shape(http: requests.Session, vnpost: VnpostApi) -> None:
    vnpost.set_faults(fail_next=1, error_code="105")
    answer = post_order(http, vnpost, ORDER)
    assert (answer.status_code, answer.json()["Status"]) == (200, "105")
    vnpost.set_faults(fail_next=1, fail_status=502, error_code=None)
    assert post_order(http, vnpost, ORDER).status_code == 502
    assert post_order(http, vnpost, ORDER).json()["Status"] == "100"
    assert len(vnpost.received) == 1 and vnpost.request_count == 3


def test_vnpost_restarts_on_its_fixed_port_with_its_orders(http: requests.Session) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = VnpostApi(port=port, access_token="tok").start()
    try:
        assert api.url == f"http://127.0.0.1:{port}"
        post_order(http, api, ORDER)
        api.stop()
        with pytest.raises(requests.ConnectionError):
            post_order(http, api, ORDER)
        api.start()
        assert api.port == port and len(api.orders) == 1
    finally:
        api.stop()


# --- the Government reporting system -----------------------------------------------------------
@pytest.fixture
def reporting() -> Iterator[ReportingSystem]:
    with ReportingSystem(token="tok") as server:
        yield server


def submit(http: requests.Session, system: ReportingSystem, body: Any, key: str | None = None):
    headers = {"Authorization": "Bearer tok", **({"Idempotency-Key": key} if key else {})}
    return http.post(system.url + "/api/baocao", json=body, headers=headers, timeout=5)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "tok"}])
def test_reporting_refuses_a_missing_or_wrong_bearer_token(
    http: requests.Session, reporting: ReportingSystem, headers: dict[str, str]
) -> None:
    answer = http.post(reporting.url + "/api/baocao", json=REPORT, headers=headers, timeout=5)
    assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
    assert answer.json()["error"]["code"] == "INVALID_TOKEN"
    assert http.head(reporting.url + "/api/baocao", headers=headers, timeout=5).status_code == 401
    assert reporting.reports == []


def test_reporting_replaces_a_resubmitted_period_and_absorbs_redeliveries(
    http: requests.Session, reporting: ReportingSystem
) -> None:
    first = submit(http, reporting, REPORT, "m1")
    repeat = submit(http, reporting, REPORT, "m1")
    corrected = {**REPORT, "ChiTieu": [{"Ma": "HS_TIEP_NHAN", "GiaTri": 125}]}
    second = submit(http, reporting, corrected, "m2")

    assert (first.status_code, first.json()["replaced"], first.json()["version"]) == (201, False, 1)
    assert repeat.json() == {**first.json(), "duplicate": True}
    assert (second.status_code, second.json()["replaced"], second.json()["version"]) == (
        200,
        True,
        2,
    )
    kept = reporting.report("BC-DVCTT-01", "2026-10", "000.00.00.H48")
    assert kept == {"report": corrected, "version": 2}
    assert [r.duplicate for r in reporting.received] == [False, True, False]
    query = http.get(
        reporting.url + "/api/baocao?MaBaoCao=BC-DVCTT-01&KyBaoCao=2026-10",
        headers={"Authorization": "Bearer tok"},
        timeout=5,
    ).json()
    assert query["count"] == 1 and query["reports"][0]["report"] == corrected


def test_reporting_names_every_field_it_refuses(
    http: requests.Session, reporting: ReportingSystem
) -> None:
    bad = {
        "MaBaoCao": "",
        "KyBaoCao": "2026-13",
        "MaDonVi": "ubnd tinh",
        "ChiTieu": [{"Ma": "A", "GiaTri": 1}, {"Ma": "A", "GiaTri": None, "DonViTinh": 3}, 7],
    }
    answer = submit(http, reporting, bad)
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["error"]["errors"]]
    assert fields == [
        "MaBaoCao",
        "KyBaoCao",
        "MaDonVi",
        "ChiTieu[1].Ma",
        "ChiTieu[1].GiaTri",
        "ChiTieu[1].DonViTinh",
        "ChiTieu[2]",
    ]
    assert submit(http, reporting, {**REPORT, "ChiTieu": []}).status_code == 422
    assert submit(http, reporting, [REPORT]).status_code == 422
    assert reporting.received == []


@pytest.mark.parametrize("period", ["2026", "2026-H2", "2026-Q4", "2026-01"])
def test_reporting_takes_every_period_form(
    http: requests.Session, reporting: ReportingSystem, period: str
) -> None:
    assert submit(http, reporting, {**REPORT, "KyBaoCao": period}).status_code == 201


def test_reporting_refuses_submissions_to_a_locked_period(
    http: requests.Session, reporting: ReportingSystem
) -> None:
    submit(http, reporting, REPORT, "m1")
    reporting.lock_period("BC-DVCTT-01", "2026-10")
    answer = submit(http, reporting, REPORT, "m2")
    assert (answer.status_code, answer.json()["error"]["code"]) == (409, "PERIOD_LOCKED")
    assert submit(http, reporting, {**REPORT, "KyBaoCao": "2026-11"}).status_code == 201


def test_reporting_faults_answer_in_its_error_shape(
    http: requests.Session, reporting: ReportingSystem
) -> None:
    reporting.set_faults(fail_next=2, error_code="SYSTEM_BUSY")
    busy = submit(http, reporting, REPORT)
    assert (busy.status_code, busy.json()["error"]["code"]) == (503, "SYSTEM_BUSY")
    reporting.set_faults(error_code="SOMETHING_ELSE")
    assert submit(http, reporting, REPORT).status_code == 400
    reporting.set_faults(outage=True)
    with pytest.raises(requests.ConnectionError):
        submit(http, reporting, REPORT)
    assert reporting.received == []


# --- EMC ------------------------------------------------------------------------------------
@pytest.fixture
def emc() -> Iterator[EmcCollector]:
    with EmcCollector(token="tok", max_batch=3) as server:
        yield server


def track(http: requests.Session, emc: EmcCollector, body: Any, key: str | None = None):
    headers = {"Authorization": "Bearer tok", **({"Idempotency-Key": key} if key else {})}
    return http.post(emc.url + "/api/tracking", json=body, headers=headers, timeout=5)


def test_emc_refuses_a_missing_or_wrong_token(http: requests.Session, emc: EmcCollector) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = http.post(emc.url + "/api/tracking", json=[{"LOCATION": "48"}], headers=headers)
        assert (answer.status_code, answer.json()["errorCode"]) == (401, "UNAUTHORIZED")
    assert emc.counts == {} and emc.received == []


def test_emc_counts_records_per_province_once_per_batch(
    http: requests.Session, emc: EmcCollector
) -> None:
    batch = [{"LOCATION": "48", "MaHoSo": "a"}, {"LOCATION": "46"}, {"LOCATION": "48"}]
    assert track(http, emc, batch, "b1").json() == {"status": "success", "accepted": 3}
    assert track(http, emc, batch, "b1").json()["duplicate"] is True
    track(http, emc, [{"LOCATION": "46"}], "b2")

    assert emc.counts == {"48": 2, "46": 2}
    assert emc.records[0] == {"LOCATION": "48", "MaHoSo": "a"}
    probe = http.get(emc.url + "/api/tracking", headers={"Authorization": "Bearer tok"})
    assert probe.json()["counts"] == {"48": 2, "46": 2}
    assert [r.duplicate for r in emc.received] == [False, True, False]


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ([{"LOCATION": "48"}, {"MaHoSo": "x"}], "MISSING_LOCATION", 400),
        ([{"LOCATION": ""}], "MISSING_LOCATION", 400),
        ([{"LOCATION": "48"}, "x"], "INVALID_RECORD", 400),
        ([], "INVALID_RECORD", 400),
        ({"LOCATION": "48"}, "INVALID_RECORD", 400),
        ([{"LOCATION": "48"}] * 4, "BATCH_TOO_LARGE", 413),
    ],
)
def test_emc_refuses_a_batch_whole(
    http: requests.Session, emc: EmcCollector, body: Any, code: str, status: int
) -> None:
    answer = track(http, emc, body)
    assert (answer.status_code, answer.json()["errorCode"]) == (status, code)
    assert emc.counts == {} and emc.received == []


def test_emc_names_the_first_record_without_location(
    http: requests.Session, emc: EmcCollector
) -> None:
    answer = track(http, emc, [{"LOCATION": "48"}, {"LOCATION": "48"}, {"MaHoSo": "x"}])
    assert "2" in answer.json()["message"]


def test_emc_faults_answer_in_its_error_shape(http: requests.Session, emc: EmcCollector) -> None:
    emc.set_faults(fail_next=1, error_code="RATE_LIMITED")
    limited = track(http, emc, [{"LOCATION": "48"}])
    assert (limited.status_code, limited.json()["errorCode"]) == (429, "RATE_LIMITED")
    emc.set_faults(latency_ms=300)
    with pytest.raises(requests.Timeout):
        http.post(
            emc.url + "/api/tracking",
            json=[{"LOCATION": "48"}],
            headers={"Authorization": "Bearer tok"},
            timeout=0.1,
        )
    emc.clear_faults()
    assert track(http, emc, [{"LOCATION": "48"}]).status_code == 200
