"""The ndxp and ndop connectors against the NDXP gateway simulator over real loopback HTTP: the
catalogue of administrative units through a versioned context, the envelope's codes, tokens,
and the acceptance suite for both types (NDOP on another context of the same gateway)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

import connectors.ndop
from connectors.ndop import NdopConnector
from connectors.ndxp import NdxpConnector
from hub.connector import OutboundMessage
from hub.errors import (
    LocalDeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.ndxp import NdxpGateway

KEY, SECRET = "lgsp-h57", "ndxp-secret-51ab"
WRONG = "a-wrong-secret-0000"

Make = Callable[..., NdxpConnector]


@pytest.fixture(autouse=True)
def consumer_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_SECRET", SECRET)
    monkeypatch.setenv("NDXP_WRONG_SECRET", WRONG)


@pytest.fixture
def gateway() -> Iterator[NdxpGateway]:
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


def config(gateway: NdxpGateway, **overrides: Any) -> dict[str, Any]:
    return {
        "url": gateway.url,
        "token_url": f"{gateway.url}/token",
        "consumer_key": KEY,
        "consumer_secret_env": "NDXP_SECRET",
        "context": "danhmuc",
        "version": "1.0",
        "resource": "donvihanhchinh",
        "timeout_seconds": 2,
        **overrides,
    }


@pytest.fixture
def make(gateway: NdxpGateway) -> Iterator[Make]:
    made: list[NdxpConnector] = []

    def build(cls: type[NdxpConnector] = NdxpConnector, **overrides: Any) -> NdxpConnector:
        connector = cls(cls.type_name, config(gateway, **overrides))
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def message(query: Any = None, **fields: Any) -> OutboundMessage:
    data = json.dumps({"Cap": "TINH"} if query is None else query).encode()
    base = OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.H57",
        sender_system="onestop",
        service="catalogue.units",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )
    return replace(base, **fields)


# --- the acceptance suite, for both types -------------------------------------------------------
class TestNdxpContract(ConnectorContract):
    @pytest.fixture
    def partner(self, gateway):
        return gateway

    @pytest.fixture
    def connector(self, make):
        return make()

    @pytest.fixture
    def outbound(self):
        return message()


class TestNdopContract(ConnectorContract):
    """NDOP's API is not public: the same gateway, configured to another context."""

    @pytest.fixture
    def partner(self, gateway):
        return gateway

    @pytest.fixture
    def connector(self, make):
        return make(NdopConnector, context="ndop-danhmuc")

    @pytest.fixture
    def outbound(self):
        return message()


# --- success ------------------------------------------------------------------------------------
def test_the_catalogue_call_returns_the_envelopes_response(gateway, make) -> None:
    msg = message({"Cap": "TINH", "TrangThai": "merged"})
    result = make().deliver(msg)

    assert (result.remote_status, result.content_type) == ("200", "application/json")
    units = {u["MaDonVi"]: u for u in json.loads(result.response)["DonViHanhChinh"]}
    assert units["44"]["MaKeThua"] == ["45"] and units["02"]["MaKeThua"] == ["08"]
    assert result.details["correlation_id"] == msg.correlation_id
    [rec] = gateway.received
    assert (rec.method, rec.path) == ("POST", "/danhmuc/1.0/donvihanhchinh")
    assert rec.headers["x-correlation-id"] == msg.correlation_id
    assert rec.idempotency_key == msg.id
    assert rec.json() == {"Cap": "TINH", "TrangThai": "merged"}


def test_ndop_goes_through_its_own_context(gateway, make) -> None:
    result = make(NdopConnector, context="ndop-danhmuc").deliver(message({"MaDonVi": "99902"}))
    [unit] = json.loads(result.response)["DonViHanhChinh"]
    assert unit["MaKeThua"] == ["99911", "99912"]
    assert gateway.received[0].path == "/ndop-danhmuc/1.0/donvihanhchinh"


def test_ndop_says_plainly_that_its_api_is_not_public() -> None:
    assert "API is not public" in connectors.ndop.__doc__
    assert issubclass(NdopConnector, NdxpConnector) and NdopConnector.type_name == "ndop"


def test_the_token_is_reused_and_renewed_after_a_401(gateway, make) -> None:
    connector = make()
    for _ in range(3):
        connector.deliver(message())
    assert gateway.token_requests == 1
    gateway.expire_tokens()
    assert connector.deliver(message()).remote_status == "200"
    assert gateway.token_requests == 2 and len(gateway.received) == 4


def test_put_is_sent_when_configured(gateway, make) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:  # this gateway takes POST only
        make(method="PUT").deliver(message())
    assert caught.value.remote_status == "code:405"


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["400", "403", "404", "422", "E_UNKNOWN"])
def test_refusing_envelope_codes_are_permanent(gateway, make, code) -> None:
    connector = make()
    connector.deliver(message())  # a token first: the fault is the API's answer
    gateway.set_faults(fail_next=1, error_code=code)
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == f"code:{code}"


def test_a_401_is_retried_with_a_new_token_once_then_permanent(gateway, make) -> None:
    connector = make()
    connector.deliver(message())
    gateway.set_faults(fail_next=1, error_code="401")
    assert connector.deliver(message()).remote_status == "200"  # renewed, sent again
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET, token_ttl=0) as refusing:
        connector = NdxpConnector("ndxp", config(refusing))  # every token is dead on arrival
        with pytest.raises(PermanentDeliveryError) as caught:
            connector.deliver(message())
        connector.close()
        assert refusing.token_requests == 2
    assert caught.value.remote_status == "401"


@pytest.mark.parametrize("code", ["500", "502", "503", "504", "429", "408"])
def test_unavailable_and_timeout_envelope_codes_are_transient(gateway, make, code) -> None:
    connector = make()
    connector.deliver(message())
    gateway.set_faults(fail_next=1, error_code=code)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == f"code:{code}"


def test_the_transient_codes_are_configuration(gateway, make) -> None:
    connector = make(transient_codes=["E_BUSY"])
    connector.deliver(message())
    gateway.set_faults(fail_next=1, error_code="E_BUSY")
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "code:E_BUSY"


@pytest.mark.parametrize(("query", "code"), [({"MaDonVi": "77777"}, 404), ({"Cap": "THON"}, 400)])
def test_real_refusals_of_the_catalogue_are_permanent(gateway, make, query, code) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make().deliver(message(query))
    assert caught.value.remote_status == f"code:{code}"


def test_an_unknown_context_is_permanent(gateway, make) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        make(context="nowhere").deliver(message())
    assert caught.value.remote_status == "code:404"


def test_a_wrong_consumer_secret_is_permanent_and_check_fails_auth(gateway, make) -> None:
    connector = make(consumer_secret_env="NDXP_WRONG_SECRET")
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "token:invalid_client"
    assert WRONG not in str(caught.value.as_dict()) and gateway.received == []
    checks = {r.name: r for r in connector.check()}
    assert checks["auth"].status == "fail"
    assert not connector.health().ok


def test_a_timeout_is_transient(gateway, make) -> None:
    connector = make()
    connector.deliver(message())
    gateway.set_faults(latency_ms=1500)
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message(), timeout=0.5)
    assert caught.value.remote_status == "timeout"


def test_an_outage_then_recovery(gateway, make) -> None:
    connector = make()
    gateway.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())
    gateway.clear_faults()
    assert connector.deliver(message()).remote_status == "200"


def test_a_payload_that_is_not_json_is_refused_before_sending(gateway, make) -> None:
    bad = replace(message(), payload=Payload.of(b"<x/>", "text/xml"))
    with pytest.raises(LocalDeliveryError):
        make().deliver(bad)
    assert gateway.request_count == 0


def test_digits_quoted_by_the_gateway_are_masked_in_errors(gateway, make) -> None:
    class Echoing(NdxpGateway):  # a gateway quoting the request's ID number in its status
        def handle(self, request):
            answer = super().handle(request)
            if request.path == "/token":
                return answer
            body = {"code": 422, "status": "SoDinhDanh 012345678901 invalid", "response": None}
            return type(answer).json(422, {**body, "correlationId": "c"})

    with Echoing(consumer_key=KEY, consumer_secret=SECRET) as echoing:
        connector = NdxpConnector("ndxp", config(echoing))
        with pytest.raises(PermanentDeliveryError) as caught:
            connector.deliver(message())
        connector.close()
    text = str(caught.value.as_dict())
    assert "012345678901" not in text and "*********901" in text


# --- configuration and check --------------------------------------------------------------------
def test_check_is_ok_against_the_gateway(gateway, make) -> None:
    results = make().check()
    assert {r.status for r in results} == {"ok"}, results
    assert SECRET not in " ".join(r.detail for r in results)


@pytest.mark.parametrize(
    "overrides",
    [
        {"context": "a b"},
        {"consumer_secret": "inline"},
        {"consumer_secret_env": None},
        {"auth": {"type": "bearer", "token_env": "T"}},
        {"method": "GET"},
    ],
)
def test_invalid_configuration_is_refused(gateway, overrides) -> None:
    cfg = {k: v for k, v in config(gateway, **overrides).items() if v is not None}
    with pytest.raises(SchemaViolation):
        NdxpConnector("ndxp", cfg)


def test_retarget_moves_the_api_and_the_token_endpoint(gateway) -> None:
    moved = NdxpConnector.retarget(config(gateway), "http://127.0.0.1:9")
    assert (
        moved["url"] == "http://127.0.0.1:9/" and moved["token_url"] == "http://127.0.0.1:9/token"
    )
