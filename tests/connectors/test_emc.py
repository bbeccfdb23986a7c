"""The emc connector against the EMC collector simulator over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.emc import EmcConnector
from hub.connector import OutboundMessage
from hub.errors import LocalDeliveryError, PermanentDeliveryError, TransientDeliveryError
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.emc import EmcCollector

TOKEN = "emc-44aa-bearer-token"
RECORD: dict[str, Any] = {
    "MaTTHC": "1.000656.000.00.00.H48",
    "MaHoSo": "000.00.12.H48-260105-00012",
    "Kenh": 2,
    "ThoiGian": "20260105093000",
    "LoaiSuKien": "NopHoSo",
}

MakeConnector = Callable[..., EmcConnector]


@pytest.fixture
def emc() -> Iterator[EmcCollector]:
    with EmcCollector(token=TOKEN) as server:
        yield server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "emc.token"
    path.write_text(TOKEN)
    return path


@pytest.fixture
def make_connector(token_file: Path) -> Iterator[MakeConnector]:
    made: list[EmcConnector] = []

    def make(url: str, token: Path = token_file, **config: Any) -> EmcConnector:
        auth = {"type": "bearer", "token_file": str(token)}
        settings = {"url": url, "auth": auth, "location": "48", "timeout_seconds": 2, **config}
        connector = EmcConnector("emc", settings)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(body: Any) -> OutboundMessage:
    data = json.dumps(body, ensure_ascii=False).encode()
    return OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.H48",
        sender_system="motcua",
        service="emc.tracking",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )


def endpoint(emc: EmcCollector) -> str:
    return f"{emc.url}/api/tracking"


def test_a_batch_gets_location_from_the_configuration_where_a_record_has_none(
    emc: EmcCollector, make_connector: MakeConnector
) -> None:
    batch = [RECORD, {**RECORD, "LOCATION": None}, {**RECORD, "LOCATION": "49"}]
    result = make_connector(endpoint(emc)).deliver(message(batch))

    sent = emc.received[0].json()
    assert [r["LOCATION"] for r in sent] == ["48", "48", "49"]
    assert {k: v for k, v in sent[0].items() if k != "LOCATION"} == RECORD
    assert emc.counts == {"48": 2, "49": 1}
    assert result.remote_status == "200"
    assert result.details == {
        "http_status": 200,
        "records": 3,
        "location_filled": 2,
        "accepted": 3,
    }


def test_one_record_is_a_batch_of_one(emc: EmcCollector, make_connector: MakeConnector) -> None:
    make_connector(endpoint(emc)).deliver(message(RECORD))
    assert emc.received[0].json() == [{**RECORD, "LOCATION": "48"}]


def test_an_oversized_batch_is_refused_before_sending(
    emc: EmcCollector, make_connector: MakeConnector
) -> None:
    with pytest.raises(LocalDeliveryError) as caught:
        make_connector(endpoint(emc), max_batch=2).deliver(message([RECORD] * 3))
    assert caught.value.details["reason"] == "batch_too_large"
    assert emc.request_count == 0


@pytest.mark.parametrize("body", [[], [RECORD, "not a record"], "text"])
def test_what_is_not_a_batch_of_records_is_refused_before_sending(
    emc: EmcCollector, make_connector: MakeConnector, body: Any
) -> None:
    with pytest.raises(LocalDeliveryError):
        make_connector(endpoint(emc)).deliver(message(body))
    assert emc.request_count == 0


def test_a_redelivered_batch_is_counted_once(
    emc: EmcCollector, make_connector: MakeConnector
) -> None:
    connector, msg = make_connector(endpoint(emc)), message([RECORD, RECORD])
    connector.deliver(msg)
    connector.deliver(replace(msg, attempt=2))
    assert emc.counts == {"48": 2}
    assert emc.received[1].headers["idempotency-key"] == msg.id


def test_a_batch_over_emcs_own_limit_is_permanent(make_connector: MakeConnector) -> None:
    with EmcCollector(token=TOKEN, max_batch=2) as emc:
        with pytest.raises(PermanentDeliveryError) as caught:
            make_connector(endpoint(emc)).deliver(message([RECORD] * 3))
    assert caught.value.remote_status == "error:BATCH_TOO_LARGE"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("RATE_LIMITED", TransientDeliveryError),
        ("SYSTEM_ERROR", TransientDeliveryError),
        ("INVALID_RECORD", PermanentDeliveryError),
    ],
)
def test_emcs_error_codes_are_classed_by_their_status(
    emc: EmcCollector, make_connector: MakeConnector, code: str, error: type
) -> None:
    emc.set_faults(fail_next=1, error_code=code)
    with pytest.raises(error) as caught:
        make_connector(endpoint(emc)).deliver(message([RECORD]))
    assert caught.value.remote_status == f"error:{code}"


def test_a_refused_token_is_permanent_and_never_shown(
    emc: EmcCollector, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(endpoint(emc), token=wrong).deliver(message([RECORD]))
    assert caught.value.remote_status == "error:UNAUTHORIZED"
    assert "not-the-token" not in str(caught.value.as_dict())


def test_a_slow_collector_is_a_transient_timeout(
    emc: EmcCollector, make_connector: MakeConnector
) -> None:
    emc.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(endpoint(emc), timeout_seconds=0.5).deliver(message([RECORD]))
    assert caught.value.remote_status == "timeout"


def test_an_outage_is_transient_and_the_next_batch_succeeds(
    emc: EmcCollector, make_connector: MakeConnector
) -> None:
    connector = make_connector(endpoint(emc))
    emc.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message([RECORD]))
    emc.clear_faults()
    assert connector.deliver(message([RECORD])).remote_status == "200"
    assert emc.counts == {"48": 1}


def test_check_passes_and_fails_auth_with_a_wrong_token(
    emc: EmcCollector, make_connector: MakeConnector, tmp_path: Path
) -> None:
    good = {r.name: r.status for r in make_connector(endpoint(emc)).check()}
    assert good["request"] == good["auth"] == "ok"
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    auth = next(r for r in make_connector(endpoint(emc), token=wrong).check() if r.name == "auth")
    assert auth.status == "fail" and "401" in auth.detail


class TestEmcContract(ConnectorContract):
    @pytest.fixture
    def partner(self, emc: EmcCollector) -> EmcCollector:
        return emc

    @pytest.fixture
    def connector(self, partner: EmcCollector, token_file: Path) -> Iterator[EmcConnector]:
        auth = {"type": "bearer", "token_file": str(token_file)}
        instance = EmcConnector(
            "contract",
            {"url": endpoint(partner), "auth": auth, "location": "48", "timeout_seconds": 2},
        )
        yield instance
        instance.close()

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message([RECORD, {**RECORD, "LoaiSuKien": "TraKetQua"}])
