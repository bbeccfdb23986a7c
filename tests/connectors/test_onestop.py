"""The onestop connector against the one-stop system simulator over real loopback HTTP: progress
push, the public status lookup (no ID number or phone anywhere), and the change feed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.onestop import HEADER_CHANGED_AT, HEADER_DOSSIER, OnestopConnector, mask_name
from hub.connector import DeliveryResult, OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.onestop import LOCAL_TZ, SEED_DOSSIERS, OnestopSystem

TOKEN = "onestop-5b2e-bearer-token"
CCCD = "046090001234"  # owner of dossiers 00001 and 00003
CMND = "191234567"  # owner of dossier 00004
PHONES = ("0912345678", "0987654321", "0905111222")
MA = "000.00.12.H57-260105-00001"
PROGRESS: dict[str, Any] = {
    "MaHoSo": MA,
    "NguoiXuLy": "Hoàng Minh Tuấn",
    "ChucDanh": "Chuyên viên",
    "ThoiDiemXuLy": "20260112093000",
    "PhongBanXuLy": "Phòng Quản lý xây dựng",
    "NoiDungXuLy": "Thẩm định hồ sơ",
    "TrangThai": "4",
    "NgayBatDau": "20260112080000",
    "NgayKetThucTheoQuyDinh": "20260116170000",
}

MakeConnector = Callable[..., OnestopConnector]


@pytest.fixture
def system() -> Iterator[OnestopSystem]:
    with OnestopSystem(token=TOKEN) as server:
        yield server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "onestop.token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def make_connector(token_file: Path) -> Iterator[MakeConnector]:
    made: list[OnestopConnector] = []

    def make(url: str, **config: Any) -> OnestopConnector:
        config.setdefault("auth", {"type": "bearer", "token_file": str(token_file)})
        connector = OnestopConnector("onestop", {"url": url, "timeout_seconds": 2, **config})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(body: Any = None, **fields: Any) -> OutboundMessage:
    data = json.dumps(PROGRESS if body is None else body, ensure_ascii=False).encode()
    return OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.G12",
        sender_system="dvcqg",
        service="onestop.progress",
        recipient="000.00.00.H57",
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
        **fields,
    )


def texts(outcome: DeliveryError | DeliveryResult) -> str:
    """Everything of an outcome the hub logs or traces."""
    if isinstance(outcome, DeliveryError):
        return f"{outcome} {outcome.as_dict()} {outcome.remote_status}"
    return f"{outcome.remote_status} {outcome.details} {outcome.response.decode()}"


class TestOnestopContract(ConnectorContract):
    @pytest.fixture
    def partner(self, system: OnestopSystem) -> OnestopSystem:
        return system

    @pytest.fixture
    def connector(self, system: OnestopSystem, make_connector: MakeConnector) -> OnestopConnector:
        return make_connector(system.url, timeout_seconds=1)

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message()


# --- progress -------------------------------------------------------------------------------
def test_progress_is_recorded_on_the_dossier_with_the_message_id_as_idempotency_key(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    before = system.changed_at(MA)
    msg = message()
    result = make_connector(system.url).deliver(msg)

    assert system.progress(MA) == [PROGRESS]
    assert system.changed_at(MA) > before
    [rec] = system.received
    assert (rec.path, rec.headers["idempotency-key"]) == ("/dossiers/progress", msg.id)
    assert result.remote_status == "code:0"
    assert result.details == {
        "operation": "progress",
        "MaHoSo": MA,
        "http_status": 200,
        "duplicate": False,
    }


def test_a_redelivered_progress_update_is_recorded_once(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    connector, msg = make_connector(system.url), message()
    connector.deliver(msg)
    again = connector.deliver(replace(msg, attempt=2))

    assert again.details["duplicate"] is True
    assert len(system.progress(MA)) == 1


def test_progress_for_an_unknown_dossier_is_permanent(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    with pytest.raises(PermanentDeliveryError) as refused:
        make_connector(system.url).deliver(message({**PROGRESS, "MaHoSo": "H57-260101-99999"}))
    assert refused.value.remote_status == "code:DOSSIER_NOT_FOUND"
    assert refused.value.details["http_status"] == 404


def test_a_progress_update_the_system_finds_invalid_is_permanent(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    with pytest.raises(PermanentDeliveryError) as refused:
        make_connector(system.url).deliver(message({**PROGRESS, "ThoiDiemXuLy": "12/01/2026"}))
    assert refused.value.remote_status == "code:VALIDATION_FAILED"
    assert "ThoiDiemXuLy" in refused.value.message
    assert system.progress(MA) == []


@pytest.mark.parametrize("body", [b"not json", b"[]", json.dumps({"NguoiXuLy": "x"}).encode()])
def test_a_progress_payload_without_a_dossier_is_refused_before_sending(
    system: OnestopSystem, make_connector: MakeConnector, body: bytes
) -> None:
    msg = replace(message(), payload=Payload.of(body, "application/json"))
    with pytest.raises(LocalDeliveryError):
        make_connector(system.url).deliver(msg)
    assert system.request_count == 0


# --- classification -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("SYSTEM_BUSY", TransientDeliveryError),
        ("INTERNAL_ERROR", TransientDeliveryError),
        ("RATE_LIMITED", TransientDeliveryError),
        ("VALIDATION_FAILED", PermanentDeliveryError),
        ("FORBIDDEN", PermanentDeliveryError),
        ("UNAUTHORIZED", PermanentDeliveryError),
        ("SOMETHING_ELSE", PermanentDeliveryError),  # unknown code, HTTP 400
    ],
)
def test_the_systems_codes_are_classed(
    system: OnestopSystem, make_connector: MakeConnector, code: str, error: type
) -> None:
    system.set_faults(fail_next=1, error_code=code)
    with pytest.raises(DeliveryError) as failed:
        make_connector(system.url).deliver(message())
    assert type(failed.value) is error
    assert failed.value.remote_status == f"code:{code}"
    assert failed.value.details["partner_code"] == code


def test_configured_codes_override_the_http_status(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(
        system.url, transient_codes=["DOSSIER_LOCKED"], permanent_codes=["SYSTEM_BUSY"]
    )
    system.set_faults(fail_next=1, error_code="DOSSIER_LOCKED")  # HTTP 400
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    system.set_faults(fail_next=1, error_code="SYSTEM_BUSY")  # HTTP 503
    with pytest.raises(PermanentDeliveryError):
        connector.deliver(message())


def test_a_wrong_credential_is_permanent_and_never_shown(
    system: OnestopSystem, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token-9f8e")
    connector = make_connector(system.url, auth={"type": "bearer", "token_file": str(wrong)})
    with pytest.raises(PermanentDeliveryError) as refused:
        connector.deliver(message())
    assert refused.value.remote_status == "code:UNAUTHORIZED"
    assert "not-the-token-9f8e" not in texts(refused.value)


def test_an_api_key_is_accepted(
    system: OnestopSystem, make_connector: MakeConnector, tmp_path: Path
) -> None:
    key = tmp_path / "onestop.key"
    key.write_text(system.api_key)
    connector = make_connector(system.url, auth={"type": "api_key", "key_file": str(key)})
    assert connector.deliver(message()).remote_status == "code:0"


def test_a_slow_system_is_a_transient_timeout(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    system.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as slow:
        make_connector(system.url, timeout_seconds=0.5).deliver(message())
    assert slow.value.remote_status == "timeout"


def test_an_outage_is_transient_and_the_next_delivery_succeeds(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(system.url)
    system.stop()
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    system.start()
    assert connector.deliver(message()).remote_status == "code:0"
    assert len(system.progress(MA)) == 1


def test_check_passes_and_a_wrong_secret_fails_auth(
    system: OnestopSystem, make_connector: MakeConnector, tmp_path: Path
) -> None:
    assert {r.name: r.status for r in make_connector(system.url).check()} == {
        "secret": "ok",
        "dns": "ok",
        "connect": "ok",
        "request": "ok",
        "auth": "ok",
    }
    wrong = tmp_path / "wrong.token"
    wrong.write_text("wrong-token")
    connector = make_connector(system.url, auth={"type": "bearer", "token_file": str(wrong)})
    results = {r.name: r for r in connector.check()}
    assert results["auth"].status == "fail"
    assert all("wrong-token" not in r.detail for r in results.values())
    assert system.access_log[-1] == "GET /dossiers/changes?limit=1"


# --- status lookup ------------------------------------------------------------------------------
def lookup(connector: OnestopConnector, **query: Any) -> tuple[dict[str, Any], DeliveryResult]:
    result = connector.deliver(message({"channel": "sms", **query}))
    assert result.content_type == "application/json"
    return json.loads(result.response), result


def test_status_by_dossier_code_answers_one_normalised_dossier(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    answer, result = lookup(make_connector(system.url, operation="status"), MaHoSo=MA)

    assert answer == {
        "dossiers": [
            {
                "MaHoSo": MA,
                "MaTTHC": "1.004227.000.00.00.H57",
                "TenTTHC": "Cấp giấy phép xây dựng đối với nhà ở riêng lẻ",
                "TenLinhVuc": "Hoạt động xây dựng",
                "TrangThaiHoSo": 4,
                "TrangThaiTen": "Đang xử lý",
                "NgayTiepNhan": "20260105083000",
                "NgayHenTra": "20260119170000",
                "NgayTra": None,
                "DonViXuLy": "Sở Xây dựng thành phố Huế",
                "ChuHoSo": "Nguyễn V*** A",
            }
        ]
    }
    assert result.remote_status == "code:0"
    assert result.details["result"] == "found" and result.details["by"] == "MaHoSo"
    [rec] = system.received
    assert (rec.method, rec.path, rec.json()) == (
        "POST",
        "/dossiers/lookup",
        {"MaHoSo": MA, "channel": "sms"},
    )


@pytest.mark.parametrize(("number", "kind", "found"), [(CCCD, 1, 2), (CMND, 2, 1)])
def test_status_by_id_number_answers_the_owners_dossiers_without_id_or_phone(
    system: OnestopSystem, make_connector: MakeConnector, number: str, kind: int, found: int
) -> None:
    answer, result = lookup(make_connector(system.url, operation="status"), SoDinhDanh=number)

    assert len(answer["dossiers"]) == found
    assert result.details == {
        "operation": "status",
        "by": "SoDinhDanh",
        "channel": "sms",
        "result": "found",
        "count": found,
        "http_status": 200,
    }
    for value in (number, *PHONES, "Văn An", "Hữu Phước"):
        assert value not in texts(result)
    assert system.received[0].json()["LoaiDinhDanh"] == kind


def test_the_status_name_comes_from_the_configured_names(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(system.url, operation="status", status_names={"10": "Đã trả"})
    answer, _ = lookup(connector, MaHoSo="000.00.12.H57-260106-00002")
    assert answer["dossiers"][0]["TrangThaiTen"] == "Đã trả"
    assert answer["dossiers"][0]["ChuHoSo"] == "Trần T*** B*** N"


def test_a_lookup_miss_is_an_empty_answer_not_an_error(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(system.url, operation="status")
    answer, result = lookup(connector, SoDinhDanh="001200000001")
    assert answer == {"dossiers": []}
    assert result.details["result"] == "not_found"

    system.set_faults(fail_next=1, error_code="DOSSIER_NOT_FOUND")  # a system that says 404
    answer, result = lookup(connector, MaHoSo="000.00.12.H57-260101-99999")
    assert answer == {"dossiers": []}
    assert (result.remote_status, result.details["result"]) == (
        "code:DOSSIER_NOT_FOUND",
        "not_found",
    )


@pytest.mark.parametrize(
    "query",
    [
        {"SoDinhDanh": "04609000123", "channel": "sms"},  # 11 digits
        {"SoDinhDanh": 46090001234, "channel": "sms"},  # a number: the leading zero is lost
        {"SoDinhDanh": CCCD, "MaHoSo": MA, "channel": "sms"},
        {"SoDinhDanh": CCCD, "channel": "fax"},
        {"SoDinhDanh": CCCD},
    ],
)
def test_a_lookup_that_cannot_be_asked_is_refused_before_sending_without_the_number(
    system: OnestopSystem, make_connector: MakeConnector, query: dict[str, Any]
) -> None:
    with pytest.raises(LocalDeliveryError) as refused:
        make_connector(system.url, operation="status").deliver(message(query))
    assert "0460900012" not in texts(refused.value)
    assert system.request_count == 0


def test_the_id_number_appears_in_no_error_status_detail_or_url(
    system: OnestopSystem, make_connector: MakeConnector
) -> None:
    """Whatever happens, the number stays in the request body: the system below echoes it in
    its refusal, as real back offices do."""
    connector = make_connector(system.url, operation="status", timeout_seconds=0.5)
    outcomes: list[DeliveryError | DeliveryResult] = [lookup(connector, SoDinhDanh=CCCD)[1]]
    invalid = "000090001234"  # province code 000: refused by the system, number quoted
    faults: list[dict[str, Any]] = [
        {},
        {"fail_next": 1, "error_code": "SYSTEM_BUSY"},
        {"fail_next": 1, "fail_status": 500},
        {"latency_ms": 1500},
        {"outage": True},
    ]
    for number, fault in [(invalid, {}), *((CCCD, f) for f in faults[1:])]:
        system.clear_faults()
        system.set_faults(**fault)
        with pytest.raises(DeliveryError) as failed:
            connector.deliver(message({"SoDinhDanh": number, "channel": "kiosk"}))
        outcomes.append(failed.value)
    system.clear_faults()

    assert "'*********234'" in outcomes[1].message  # the echo, masked
    for outcome in outcomes:
        for number in (CCCD, invalid, "090001234"):
            assert number not in texts(outcome), outcome
    lookups = [line for line in system.access_log if "lookup" in line]
    assert lookups and all(line == "POST /dossiers/lookup" for line in lookups)
    assert all(CCCD not in r.path for r in system.received)


# --- the change feed ----------------------------------------------------------------------------
def at(second: int) -> datetime:
    return datetime(2026, 2, 1, 9, 0, second, tzinfo=LOCAL_TZ)


def dossier(n: int) -> dict[str, Any]:
    return {**SEED_DOSSIERS[0], "MaHoSo": f"000.00.12.H57-260201-{n:05d}"}


@pytest.fixture
def feed() -> Iterator[OnestopSystem]:
    with OnestopSystem(token=TOKEN, seed_dossiers=False) as server:
        yield server


def test_poll_pages_through_equal_timestamps_without_skipping_or_repeating(
    feed: OnestopSystem, make_connector: MakeConnector
) -> None:
    for n, second in [(1, 0), (2, 5), (3, 5), (4, 5), (5, 5), (6, 5), (7, 9)]:
        feed.upsert(dossier(n), changed_at=at(second))
    connector = make_connector(feed.url, page_size=2, agency="000.00.00.H57", service="sync")

    messages = list(connector.poll(None))

    assert [m.headers[HEADER_DOSSIER] for m in messages] == [
        dossier(n)["MaHoSo"] for n in range(1, 8)
    ]
    assert len({m.id for m in messages}) == 7
    assert len([line for line in feed.access_log if "changes" in line]) == 4
    first = messages[0]
    assert first.headers[HEADER_CHANGED_AT] == "2026-02-01T09:00:00+07:00"
    assert (first.sender_agency, first.sender_system, first.service) == (
        "000.00.00.H57",
        "onestop",
        "sync",
    )
    assert json.loads(first.payload.read())["ThoiDiemCapNhat"] == "20260201090000"
    assert [m.id for m in connector.poll(None)] == [m.id for m in messages]  # stable ids


def test_poll_resumes_from_an_inclusive_watermark(
    feed: OnestopSystem, make_connector: MakeConnector
) -> None:
    for n, second in [(1, 0), (2, 5), (3, 5)]:
        feed.upsert(dossier(n), changed_at=at(second))
    connector = make_connector(feed.url, page_size=2)
    first = list(connector.poll(None))
    watermark = datetime.fromisoformat(first[-1].headers[HEADER_CHANGED_AT])
    feed.upsert(dossier(4), changed_at=at(5))  # same second as the watermark, after the poll
    feed.upsert({**dossier(1), "TrangThaiHoSo": 9}, changed_at=at(30))

    again = list(connector.poll(watermark + timedelta(microseconds=500)))

    ids = {m.id for m in first}
    assert [m.headers[HEADER_DOSSIER] for m in again] == [
        dossier(n)["MaHoSo"] for n in (2, 3, 4, 1)
    ]
    assert [m.id in ids for m in again] == [True, True, False, False]  # re-read, same ids
    assert "since=20260201090005" in feed.access_log[-1]


def test_poll_converts_the_watermark_to_the_systems_clock(
    feed: OnestopSystem, make_connector: MakeConnector
) -> None:
    list(make_connector(feed.url).poll(datetime(2026, 2, 1, 2, 0, 5, tzinfo=UTC)))
    list(make_connector(feed.url).poll(datetime(2026, 2, 1, 2, 0, 6)))  # naive: UTC
    assert feed.access_log[-2].endswith("since=20260201090005")
    assert feed.access_log[-1].endswith("since=20260201090006")


@pytest.mark.parametrize("fault", [{"error_code": "SYSTEM_BUSY"}, {"fail_status": 503}, {}])
def test_a_fault_mid_way_through_a_poll_is_transient_after_the_first_page(
    feed: OnestopSystem, make_connector: MakeConnector, fault: dict[str, Any]
) -> None:
    for n in range(1, 6):
        feed.upsert(dossier(n), changed_at=at(n))
    polling = make_connector(feed.url, page_size=2).poll(None)
    got = [next(polling), next(polling)]  # the first page
    if fault:
        feed.set_faults(fail_next=1, **fault)
    else:
        feed.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError):
        next(polling)
    assert [m.headers[HEADER_DOSSIER] for m in got] == [dossier(n)["MaHoSo"] for n in (1, 2)]


def test_a_poll_with_a_wrong_credential_is_permanent(
    feed: OnestopSystem, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("nope")
    connector = make_connector(feed.url, auth={"type": "bearer", "token_file": str(wrong)})
    with pytest.raises(PermanentDeliveryError) as refused:
        list(connector.poll(None))
    assert refused.value.remote_status == "code:UNAUTHORIZED"


def test_mask_name_keeps_the_family_name_and_initials() -> None:
    assert mask_name("Nguyễn Văn An") == "Nguyễn V*** A"
    assert mask_name("  Lê   Hữu Phước ") == "Lê H*** P"
    assert (mask_name("Hoa"), mask_name("")) == ("H***", "")


def test_poll_skips_an_item_without_a_dossier_code_and_goes_on(
    feed: OnestopSystem, make_connector: MakeConnector, caplog: pytest.LogCaptureFixture
) -> None:
    feed.upsert(dossier(1), changed_at=at(0))
    feed.upsert({**dossier(2), "MaHoSo": ""}, changed_at=at(1))  # a poison record
    feed.upsert(dossier(3), changed_at=at(2))
    connector = make_connector(feed.url, page_size=5)

    messages = list(connector.poll(None))

    assert [m.headers[HEADER_DOSSIER] for m in messages] == [dossier(n)["MaHoSo"] for n in (1, 3)]
    assert "skipped a change feed item without MaHoSo" in caplog.text
