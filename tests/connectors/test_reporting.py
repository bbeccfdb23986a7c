"""The reporting connector against the Government reporting system simulator (loopback HTTP)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.reporting import ReportingConnector
from hub.connector import OutboundMessage
from hub.errors import LocalDeliveryError, PermanentDeliveryError, TransientDeliveryError
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.reporting import ReportingSystem

TOKEN = "bc-91d2-bearer-token"
REPORT: dict[str, Any] = {
    "MaBaoCao": "BC-DVCTT-01",
    "KyBaoCao": "2026-Q3",
    "MaDonVi": "000.00.00.H48",
    "ChiTieu": [
        {"Ma": "HS_TIEP_NHAN", "GiaTri": 15234, "DonViTinh": "hồ sơ"},
        {"Ma": "TY_LE_DUNG_HAN", "GiaTri": 97.4, "DonViTinh": "%"},
    ],
    "NguoiLap": "Văn phòng UBND tỉnh",
}

MakeConnector = Callable[..., ReportingConnector]


@pytest.fixture
def system() -> Iterator[ReportingSystem]:
    with ReportingSystem(token=TOKEN) as server:
        yield server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "reporting.token"
    path.write_text(TOKEN)
    return path


@pytest.fixture
def make_connector(token_file: Path) -> Iterator[MakeConnector]:
    made: list[ReportingConnector] = []

    def make(url: str, token: Path = token_file, **config: Any) -> ReportingConnector:
        auth = {"type": "bearer", "token_file": str(token)}
        connector = ReportingConnector(
            "reporting", {"url": url, "auth": auth, "timeout_seconds": 2, **config}
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(body: Any = None) -> OutboundMessage:
    data = json.dumps(REPORT if body is None else body, ensure_ascii=False).encode()
    return OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.H48",
        sender_system="baocao",
        service="report.submit",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )


def endpoint(system: ReportingSystem) -> str:
    return f"{system.url}/api/baocao"


def test_a_report_is_submitted_with_the_bearer_token_and_the_idempotency_key(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    msg = message()
    result = make_connector(endpoint(system)).deliver(msg)

    [rec] = system.received
    assert rec.headers["authorization"] == f"Bearer {TOKEN}"
    assert rec.headers["idempotency-key"] == msg.id
    assert result.remote_status == "201"
    assert result.details == {
        "http_status": 201,
        "report": "BC-DVCTT-01/2026-Q3/000.00.00.H48",
        "replaced": False,
        "version": 1,
    }
    assert system.report("BC-DVCTT-01", "2026-Q3", "000.00.00.H48")["report"] == REPORT


def test_resubmitting_a_period_replaces_it(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(endpoint(system))
    connector.deliver(message())
    corrected = {**REPORT, "ChiTieu": [{"Ma": "HS_TIEP_NHAN", "GiaTri": 15240}]}
    result = connector.deliver(message(corrected))

    assert (result.remote_status, result.details["replaced"]) == ("200", True)
    assert result.details["version"] == 2
    [kept] = system.reports
    assert kept["report"]["ChiTieu"] == [{"Ma": "HS_TIEP_NHAN", "GiaTri": 15240}]


def test_a_redelivery_replaces_nothing(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    connector, msg = make_connector(endpoint(system)), message()
    connector.deliver(msg)
    again = connector.deliver(replace(msg, attempt=2))
    assert (again.details["replaced"], again.details["version"]) == (False, 1)
    assert len(system.unique) == 1


def test_another_period_or_agency_is_another_report(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(endpoint(system))
    connector.deliver(message())
    assert connector.deliver(message({**REPORT, "KyBaoCao": "2026-10"})).remote_status == "201"
    assert connector.deliver(message({**REPORT, "MaDonVi": "H56.14"})).remote_status == "201"
    assert len(system.reports) == 3


def test_the_sending_agency_is_the_reporting_agency_when_the_report_names_none(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    body = {k: v for k, v in REPORT.items() if k != "MaDonVi"}
    result = make_connector(endpoint(system)).deliver(message(body))
    assert result.details["report"].endswith("/000.00.00.H48")


def test_a_validation_refusal_is_permanent_and_names_the_fields(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    bad = {**REPORT, "KyBaoCao": "2026-Q5", "ChiTieu": [{"Ma": "X", "GiaTri": True}]}
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(endpoint(system)).deliver(message(bad))
    assert caught.value.remote_status == "error:VALIDATION_FAILED"
    assert caught.value.details["http_status"] == 422
    fields = [e["field"] for e in caught.value.details["errors"]]
    assert fields == ["KyBaoCao", "ChiTieu[0].GiaTri"]
    assert system.received == []


def test_a_locked_period_is_refused_permanently(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    system.lock_period("BC-DVCTT-01", "2026-Q3")
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(endpoint(system)).deliver(message())
    assert caught.value.remote_status == "error:PERIOD_LOCKED"


@pytest.mark.parametrize(("code", "status"), [("SYSTEM_BUSY", 503), ("INTERNAL_ERROR", 500)])
def test_a_busy_or_failing_system_is_transient(
    system: ReportingSystem, make_connector: MakeConnector, code: str, status: int
) -> None:
    system.set_faults(fail_next=1, error_code=code)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(endpoint(system)).deliver(message())
    assert caught.value.remote_status == f"error:{code}"
    assert caught.value.details["http_status"] == status


def test_a_refused_token_is_permanent_and_never_shown(
    system: ReportingSystem, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(endpoint(system), token=wrong).deliver(message())
    assert caught.value.remote_status == "error:INVALID_TOKEN"
    assert "not-the-token" not in str(caught.value.as_dict())


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", json.dumps({**REPORT, "KyBaoCao": 2026}).encode()]
)
def test_what_cannot_name_a_report_is_refused_before_sending(
    system: ReportingSystem, make_connector: MakeConnector, body: bytes
) -> None:
    msg = replace(message(), payload=Payload.of(body, "application/json"))
    with pytest.raises(LocalDeliveryError):
        make_connector(endpoint(system)).deliver(msg)
    assert system.request_count == 0


def test_a_slow_system_is_a_transient_timeout(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    system.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(endpoint(system), timeout_seconds=0.5).deliver(message())
    assert caught.value.remote_status == "timeout"


def test_an_outage_is_transient_and_the_next_submission_succeeds(
    system: ReportingSystem, make_connector: MakeConnector
) -> None:
    connector = make_connector(endpoint(system))
    system.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    system.clear_faults()
    assert connector.deliver(message()).remote_status == "201"


def test_check_passes_and_fails_auth_with_a_wrong_token(
    system: ReportingSystem, make_connector: MakeConnector, tmp_path: Path
) -> None:
    good = {r.name: r.status for r in make_connector(endpoint(system)).check()}
    assert good["request"] == good["auth"] == "ok"
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    results = make_connector(endpoint(system), token=wrong).check()
    auth = next(r for r in results if r.name == "auth")
    assert auth.status == "fail" and "401" in auth.detail
    assert system.received == []


class TestReportingContract(ConnectorContract):
    @pytest.fixture
    def partner(self, system: ReportingSystem) -> ReportingSystem:
        return system

    @pytest.fixture
    def connector(self, partner: ReportingSystem, token_file: Path) -> Iterator[ReportingConnector]:
        auth = {"type": "bearer", "token_file": str(token_file)}
        instance = ReportingConnector(
            "contract", {"url": endpoint(partner), "auth": auth, "timeout_seconds": 2}
        )
        yield instance
        instance.close()

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message()
