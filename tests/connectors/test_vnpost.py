"""The vnpost connector against the VNPost simulator over real loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.vnpost import VnpostConnector, mask_personal
from hub.connector import OutboundMessage
from hub.errors import (
    DeliveryError,
    LocalDeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.server import SandboxRequest, SandboxResponse
from sandbox.vnpost import VnpostApi

TOKEN = "vnp-7c1e-access-token"
# A four-level address (Đà Nẵng 48, old district 492/490): what stored dossiers still carry.
ORDER: dict[str, Any] = {
    "OrderNumber": "000.00.12.H48-260105-00012",
    "SenderName": "Nguyễn Thị Lan",
    "SenderPhone": "0912345678",
    "SenderAddress": "12 Trần Phú, phường Hải Châu I",
    "SenderProvince": "48",
    "SenderDistrict": "492",
    "SenderWard": "20194",
    "ReceiverName": "Trần Văn Bình",
    "ReceiverPhone": "0987654321",
    "ReceiverAddress": "45 Lê Lợi, phường Thạch Thang",
    "ReceiverProvince": "48",
    "ReceiverDistrict": "490",
    "ReceiverWard": "20197",
    "Weight": 500,
    "CodAmount": 0,
    "Note": "Hồ sơ cấp đổi giấy phép lái xe",
}
PERSONAL = ("Nguyễn Thị Lan", "0912345678", "Trần Văn Bình", "0987654321", "12 Trần Phú")

MakeConnector = Callable[..., VnpostConnector]


@pytest.fixture
def api() -> Iterator[VnpostApi]:
    with VnpostApi(access_token=TOKEN) as server:
        yield server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "vnpost.token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def make_connector(token_file: Path) -> Iterator[MakeConnector]:
    made: list[VnpostConnector] = []

    def make(url: str, **config: Any) -> VnpostConnector:
        config.setdefault("access_token_file", str(token_file))
        connector = VnpostConnector("vnpost", {"url": url, "timeout_seconds": 2, **config})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(body: Any = None, **fields: Any) -> OutboundMessage:
    data = json.dumps(ORDER if body is None else body, ensure_ascii=False).encode()
    return OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.12.H48",
        sender_system="motcua",
        service="vnpost.pickup",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
        **fields,
    )


def leaked(error: DeliveryError) -> list[str]:
    """The personal values found anywhere in an error."""
    text = f"{error} {error.as_dict()} {error.remote_status}"
    return [value for value in PERSONAL if value in text]


# --- success --------------------------------------------------------------------------------
def test_a_pickup_order_is_created_and_answered_with_status_100_and_its_tracking_code(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    result = make_connector(api.url, customer_code="DNG-HCC").deliver(message())

    [rec] = api.received
    assert (rec.path, rec.headers["access_token"]) == ("/order/pickup", TOKEN)
    assert rec.json()["CustomerCode"] == "DNG-HCC"
    [kept] = api.orders
    assert result.remote_status == "Status:100"
    assert result.details["tracking_code"] == kept["ItemCode"]
    assert result.details["OrderNumber"] == ORDER["OrderNumber"]
    assert kept["OrderType"] == "pickup"


def test_a_return_order_and_its_tracking_use_their_own_operations(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    created = make_connector(api.url, operation="return").deliver(message())
    api.set_state(created.details["tracking_code"], "delivered")
    tracked = make_connector(api.url, operation="status").deliver(
        message({"OrderNumber": ORDER["OrderNumber"]})
    )

    assert [r.path for r in api.received] == ["/order/return", "/order/status"]
    [order] = json.loads(tracked.response)["Orders"]
    assert (order["OrderType"], order["State"]) == ("return", "delivered")
    assert tracked.remote_status == "Status:100"


def test_an_integer_status_100_is_taken_as_success(make_connector: MakeConnector) -> None:
    class NumericStatus(VnpostApi):  # a gateway whose serialiser types Status as a number
        def handle(self, request: SandboxRequest) -> SandboxResponse:
            self.record(request)
            return SandboxResponse.json(200, {"Status": 100, "ItemCode": "EB000000015VN"})

    with NumericStatus(access_token=TOKEN) as api:
        result = make_connector(api.url).deliver(message())
    assert result.remote_status == "Status:100"
    assert result.details["tracking_code"] == "EB000000015VN"


def test_redelivery_of_the_same_order_gets_the_same_tracking_code(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    connector, msg = make_connector(api.url), message()
    first = connector.deliver(msg)
    second = connector.deliver(replace(msg, attempt=2))
    assert first.details["tracking_code"] == second.details["tracking_code"]
    assert len(api.orders) == 1 and len(api.unique) == 1


# --- administrative codes -------------------------------------------------------------------
def test_old_district_codes_reach_vnpost_unchanged(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    make_connector(api.url).deliver(message())
    sent = api.received[0].json()
    for field in ("SenderProvince", "SenderDistrict", "SenderWard", "ReceiverDistrict"):
        assert sent[field] == ORDER[field], field
    assert api.orders[0]["Order"]["ReceiverDistrict"] == "490"


def test_a_two_tier_address_without_a_district_is_passed_on_as_it_is(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    two_tier = {**ORDER, "SenderDistrict": "", "ReceiverWard": "20200"}
    del two_tier["ReceiverDistrict"]
    make_connector(api.url).deliver(message(two_tier))
    sent = api.received[0].json()
    assert sent["SenderDistrict"] == "" and "ReceiverDistrict" not in sent
    assert sent["ReceiverWard"] == "20200"


DROP = object()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("SenderDistrict", "4920"),
        ("ReceiverProvince", 48),  # a JSON number: its leading zero is gone
        ("SenderWard", "2019"),
        ("OrderNumber", DROP),
    ],
)
def test_a_code_of_the_wrong_shape_or_no_order_number_is_refused_before_sending(
    api: VnpostApi, make_connector: MakeConnector, field: str, value: Any
) -> None:
    body = {k: v for k, v in {**ORDER, field: value}.items() if v is not DROP}
    with pytest.raises(LocalDeliveryError) as caught:
        make_connector(api.url).deliver(message(body))
    assert field in caught.value.message
    assert api.request_count == 0


def test_ward_codes_maps_only_the_configured_commune_codes(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    result = make_connector(api.url, ward_codes={"20197": "20198"}).deliver(message())
    sent = api.received[0].json()
    assert (sent["SenderWard"], sent["ReceiverWard"]) == ("20194", "20198")
    assert result.details["ward_codes_mapped"] == ["ReceiverWard"]


# --- refusals -------------------------------------------------------------------------------
def test_a_refusal_status_is_permanent_and_carries_vnposts_code(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    api.set_faults(fail_next=1, error_code="101")
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(api.url).deliver(message())
    assert caught.value.remote_status == "Status:101"
    assert not isinstance(caught.value, LocalDeliveryError)


def test_a_status_listed_as_retryable_is_transient(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    api.set_faults(fail_next=1, error_code="105")
    connector = make_connector(api.url, retryable_statuses=["105"])
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "Status:105"
    assert connector.deliver(message()).remote_status == "Status:100"


def test_an_invalid_phone_is_refused_permanently_and_no_name_or_phone_leaks(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    bad = {**ORDER, "SenderPhone": "091234"}
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(api.url).deliver(message(bad))
    assert caught.value.remote_status == "Status:101"
    assert "SenderPhone" in caught.value.message and "091234" not in str(caught.value.as_dict())
    assert leaked(caught.value) == []
    assert api.received == []


def test_an_order_number_taken_by_another_order_is_refused(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    connector = make_connector(api.url)
    connector.deliver(message())
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message({**ORDER, "Weight": 900}))
    assert caught.value.remote_status == "Status:102"


def test_tracking_an_unknown_order_is_permanent(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(api.url, operation="status").deliver(message({"ItemCode": "EB1VN"}))
    assert caught.value.remote_status == "Status:103"


def test_an_answer_without_a_status_is_permanent(make_connector: MakeConnector) -> None:
    class Garbled(VnpostApi):
        def handle(self, request: SandboxRequest) -> SandboxResponse:
            return SandboxResponse(200, b"<html>maintenance</html>", "text/html")

    with Garbled(access_token=TOKEN) as api:
        with pytest.raises(PermanentDeliveryError, match="readable Status") as caught:
            make_connector(api.url).deliver(message())
    assert caught.value.remote_status == "200"


def test_personal_data_echoed_in_an_http_error_is_masked(make_connector: MakeConnector) -> None:
    class Echoing(VnpostApi):  # a failing gateway that quotes the request in its error page
        def fault_response(self, status: int) -> SandboxResponse:
            return SandboxResponse(status, json.dumps(ORDER, ensure_ascii=False).encode())

    with Echoing(access_token=TOKEN) as api:
        api.set_faults(fail_next=2, fail_status=500)
        with pytest.raises(TransientDeliveryError) as caught:
            make_connector(api.url).deliver(message())
        assert leaked(caught.value) == []
        assert "*******678" in caught.value.details["response_excerpt"]
        with pytest.raises(TransientDeliveryError) as again:
            make_connector(api.url, operation="status").deliver(message())
        assert leaked(again.value) == []


def test_mask_personal_masks_the_orders_values_and_other_phone_numbers() -> None:
    text = "Nguyễn Thị Lan (0912345678) gọi lại số +84987000111; đơn 000.00.12.H48-260105-00012"
    masked = mask_personal(text, ORDER)
    assert masked == "*** (*******678) gọi lại số *********111; đơn 000.00.12.H48-260105-00012"


# --- authentication and transport ----------------------------------------------------------
def test_a_wrong_access_token_is_permanent_and_never_shown(
    api: VnpostApi, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(api.url, access_token_file=str(wrong)).deliver(message())
    assert caught.value.remote_status == "401"
    assert "not-the-token" not in str(caught.value.as_dict())


def test_an_unset_access_token_variable_is_a_permanent_configuration_error(
    api: VnpostApi, token_file: Path
) -> None:
    connector = VnpostConnector(
        "vnpost", {"url": api.url, "access_token_env": "LGSP_TEST_VNPOST_TOKEN_UNSET"}
    )
    with pytest.raises(PermanentDeliveryError, match="LGSP_TEST_VNPOST_TOKEN_UNSET") as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "config"
    assert api.request_count == 0


def test_a_payload_that_is_not_a_json_object_is_refused_locally(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    for body in (["not", "an", "object"], {"ItemCode": ""}):
        operation = "status" if isinstance(body, dict) else "pickup"
        with pytest.raises(LocalDeliveryError):
            make_connector(api.url, operation=operation).deliver(message(body))
    assert api.request_count == 0


def test_a_slow_partner_is_a_transient_timeout(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    api.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(api.url, timeout_seconds=0.5).deliver(message())
    assert caught.value.remote_status == "timeout"


def test_an_outage_is_transient_and_the_next_delivery_succeeds(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    connector = make_connector(api.url)
    api.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    api.clear_faults()
    assert connector.deliver(message()).remote_status == "Status:100"


# --- test connection ------------------------------------------------------------------------
def test_check_passes_against_vnpost_without_creating_anything(
    api: VnpostApi, make_connector: MakeConnector
) -> None:
    results = {r.name: r for r in make_connector(api.url).check()}
    assert {n: r.status for n, r in results.items()} == {
        "secret": "ok",
        "dns": "ok",
        "connect": "ok",
        "request": "ok",
        "auth": "ok",
    }
    assert "access_token_file" in results["secret"].detail
    assert api.received == [] and api.orders == []


def test_check_fails_auth_with_a_wrong_access_token(
    api: VnpostApi, make_connector: MakeConnector, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-token")
    results = make_connector(api.url, access_token_file=str(wrong)).check()
    auth = next(r for r in results if r.name == "auth")
    assert auth.status == "fail" and "401" in auth.detail
    assert all("not-the-token" not in r.detail for r in results)


def test_check_fails_when_the_token_reference_does_not_resolve(api: VnpostApi) -> None:
    connector = VnpostConnector(
        "vnpost", {"url": api.url, "access_token_env": "LGSP_TEST_VNPOST_TOKEN_UNSET"}
    )
    statuses = {r.name: r.status for r in connector.check()}
    assert statuses["secret"] == "fail" and statuses["auth"] == "fail"


class TestVnpostContract(ConnectorContract):
    @pytest.fixture
    def partner(self, api: VnpostApi) -> VnpostApi:
        return api

    @pytest.fixture
    def connector(self, partner: VnpostApi, token_file: Path) -> Iterator[VnpostConnector]:
        instance = VnpostConnector(
            "contract",
            {"url": partner.url, "access_token_file": str(token_file), "timeout_seconds": 2},
        )
        yield instance
        instance.close()

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message()
