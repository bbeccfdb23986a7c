"""The OAuth2 client-credentials token client against the NDXP gateway simulator's ``/token``
over real loopback HTTP: caching, renewal, refusal classes, thread-safety, test connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests

from connectors.http import make_session
from connectors.oauth2 import OAUTH2_PROPERTIES, OAUTH2_SECRET_RULE, TokenClient
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from sandbox.ndxp import NdxpGateway
from sandbox.server import SandboxResponse, SandboxServer

KEY, SECRET = "lgsp-test", "consumer-secret-9c1d"
LIMITS = (2.0, 2.0)


@pytest.fixture(autouse=True)
def consumer_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDXP_SECRET", SECRET)
    monkeypatch.setenv("WRONG_SECRET", "not-the-secret")


@pytest.fixture
def gateway() -> Iterator[NdxpGateway]:
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET) as server:
        yield server


@pytest.fixture
def make_client() -> Iterator[Any]:
    sessions: list[requests.Session] = []

    def make(url: str, **config: Any) -> TokenClient:
        session = make_session({})
        sessions.append(session)
        merged = {
            "url": url,
            "consumer_key": KEY,
            "consumer_secret_env": "NDXP_SECRET",
            **config,
        }
        return TokenClient("gw", merged, session)

    yield make
    for session in sessions:
        session.close()


def api(gateway: NdxpGateway, client: TokenClient) -> requests.Response:
    def request(auth: dict[str, str]) -> requests.Response:
        url = f"{gateway.url}/danhmuc/1.0/donvihanhchinh"
        return requests.post(url, json={}, headers=auth, timeout=5)

    return client.send(request, LIMITS)


# --- caching and renewal ------------------------------------------------------------------------
def test_the_token_is_cached_across_calls(gateway, make_client) -> None:
    client = make_client(gateway.url)
    assert api(gateway, client).status_code == 200
    assert api(gateway, client).status_code == 200
    assert gateway.token_requests == 1 and len(gateway.received) == 2


def test_the_token_endpoint_defaults_to_token_at_the_gateway_origin(gateway, make_client) -> None:
    assert make_client(f"{gateway.url}/some/base").token_url == f"{gateway.url}/token"
    other = make_client(gateway.url, token_url="https://idp.example/oauth2/token")
    assert other.token_url == "https://idp.example/oauth2/token"


def test_a_token_is_renewed_after_it_expires(make_client) -> None:
    with NdxpGateway(consumer_key=KEY, consumer_secret=SECRET, token_ttl=0.4) as gateway:
        client = make_client(gateway.url, token_renew_margin_seconds=0)
        first = client.token(client.secret(), LIMITS)
        assert client.token(client.secret(), LIMITS) == first
        time.sleep(0.45)
        assert api(gateway, client).status_code == 200
        assert gateway.token_requests == 2


def test_a_401_from_the_api_renews_the_token_once(gateway, make_client) -> None:
    client = make_client(gateway.url)
    assert api(gateway, client).status_code == 200
    gateway.expire_tokens()
    assert api(gateway, client).status_code == 200
    assert gateway.token_requests == 2


def test_a_second_401_is_returned_to_the_caller(gateway, make_client) -> None:
    client = make_client(gateway.url)
    calls: list[str] = []

    def always_refused(auth: dict[str, str]) -> requests.Response:
        calls.append(auth["Authorization"])
        return requests.post(f"{gateway.url}/danhmuc/1.0/x", json={}, timeout=5)  # no token

    assert client.send(always_refused, LIMITS).status_code == 401
    assert len(calls) == 2 and calls[0] != calls[1] and gateway.token_requests == 2


def test_concurrent_workers_share_one_token_request(gateway, make_client) -> None:
    client = make_client(gateway.url)
    gateway.set_faults(latency_ms=100)  # every token request is slow: the lock must hold
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(client.token(client.secret(), LIMITS)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1 and len(tokens) == 8
    assert gateway.token_requests == 1


# --- refusals and failures ----------------------------------------------------------------------
def test_a_wrong_secret_is_permanent_and_never_shown(gateway, make_client) -> None:
    client = make_client(gateway.url, consumer_secret_env="WRONG_SECRET")
    with pytest.raises(PermanentDeliveryError) as refused:
        api(gateway, client)
    assert refused.value.remote_status == "token:invalid_client"
    assert "not-the-secret" not in str(refused.value.as_dict())
    assert gateway.received == []


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_token_endpoint_failures_are_transient(gateway, make_client, status) -> None:
    gateway.set_faults(fail_next=1, fail_status=status)
    with pytest.raises(TransientDeliveryError):
        api(gateway, make_client(gateway.url))
    assert gateway.received == []


def test_a_token_endpoint_timeout_is_transient(gateway, make_client) -> None:
    gateway.set_faults(latency_ms=1500)
    client = make_client(gateway.url)
    with pytest.raises(TransientDeliveryError) as caught:
        client.token(client.secret(), (0.5, 0.5))
    assert caught.value.remote_status == "timeout"


def test_an_unreachable_token_endpoint_is_transient(make_client) -> None:
    gateway = NdxpGateway().start()
    gateway.stop()
    client = make_client(gateway.url)
    with pytest.raises(TransientDeliveryError) as caught:
        client.token(client.secret(), LIMITS)
    assert caught.value.remote_status == "connection_error"


def test_an_unset_secret_is_a_configuration_error_before_any_request(gateway, make_client):
    client = make_client(gateway.url, consumer_secret_env="NO_SUCH_VARIABLE")
    with pytest.raises(PermanentDeliveryError, match="NO_SUCH_VARIABLE") as caught:
        api(gateway, client)
    assert caught.value.details["reason"] == "config" and gateway.request_count == 0


def test_a_200_without_a_token_is_a_permanent_configuration_error(make_client) -> None:
    class NotATokenEndpoint(SandboxServer):
        def handle(self, request):
            return SandboxResponse.json(200, {"status": "ok"})

    with NotATokenEndpoint() as server:
        client = make_client(server.url)
        with pytest.raises(PermanentDeliveryError, match="token_url"):
            client.token(client.secret(), LIMITS)


def test_a_token_url_that_is_not_a_token_endpoint_is_a_configuration_error(gateway, make_client):
    client = make_client(gateway.url, token_url=f"{gateway.url}/oauth2/token")
    gateway.set_faults(fail_next=1, fail_status=404)
    with pytest.raises(PermanentDeliveryError, match="token_url") as caught:
        client.token(client.secret(), LIMITS)
    assert (caught.value.remote_status, caught.value.details["reason"]) == ("token:404", "config")


# --- test connection ----------------------------------------------------------------------------
def test_checks_request_a_real_token(gateway, make_client) -> None:
    results = {r.name: r for r in make_client(gateway.url).checks()}
    assert {r.status for r in results.values()} == {"ok"}, results
    assert gateway.token_requests == 1


def test_checks_fail_auth_with_a_wrong_secret(gateway, make_client) -> None:
    results = make_client(gateway.url, consumer_secret_env="WRONG_SECRET").checks()
    by_name = {r.name: r for r in results}
    assert by_name["auth"].status == "fail"
    assert all("not-the-secret" not in r.detail for r in results)


def test_checks_warn_when_the_gateway_is_down(make_client) -> None:
    gateway = NdxpGateway().start()
    gateway.stop()
    results = {r.name: r.status for r in make_client(gateway.url).checks()}
    assert results["connect"] == "warn" and results["auth"] == "warn"
    assert "fail" not in results.values()


# --- the schema fragment ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "valid"),
    [
        ({"consumer_key": "k", "consumer_secret_env": "S"}, True),
        ({"consumer_key": "k", "consumer_secret_file": "/run/secret"}, True),
        ({"consumer_key": "k"}, False),
        ({"consumer_key": "k", "consumer_secret_env": "S", "consumer_secret_file": "/f"}, False),
        ({"consumer_key": "k", "consumer_secret": "inline"}, False),
    ],
)
def test_the_schema_fragment_wants_exactly_one_secret_reference(config, valid) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": OAUTH2_PROPERTIES,
        "allOf": [OAUTH2_SECRET_RULE],
    }
    assert jsonschema.Draft202012Validator(schema).is_valid(config) is valid
