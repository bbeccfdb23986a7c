"""``check()`` ("test connection") of the rest and soap types against the sandbox over real
loopback HTTP: everything ok; a partner that is down is ``warn``, never ``fail``; credentials
the partner refuses and secrets that do not resolve are ``fail``; nothing raises and no
detail shows a secret. Also the default built on ``health()`` and the ``retarget`` hook."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.rest import RestConnector
from connectors.soap import SoapConnector
from hub.connector import CheckResult, Connector, DeliveryResult, Health, OutboundMessage
from sandbox.rest_sink import RestSink
from sandbox.server import SandboxRequest, SandboxResponse
from sandbox.soap_service import WSDL_PATH, SoapService

SECRET = "tok-7d1e-check-secret"
BEARER = {"type": "bearer", "token_env": "PARTNER_TOKEN"}


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink(require_token=SECRET) as server:
        yield server


class LockedSoapService(SoapService):
    """The sandbox SOAP service behind a bearer token (WSDL and endpoint alike)."""

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        if request.headers.get("authorization") != f"Bearer {SECRET}":
            return SandboxResponse(401, b"unauthorised\n", "text/plain")
        return super().handle(request)


@pytest.fixture
def soap() -> Iterator[SoapService]:
    with LockedSoapService() as server:
        yield server


def statuses(results: list[CheckResult]) -> dict[str, str]:
    """name → status, the worst when a name repeats (several secrets)."""
    order = ["ok", "skipped", "warn", "fail"]
    found: dict[str, str] = {}
    for r in results:
        if order.index(r.status) >= order.index(found.get(r.name, "ok")):
            found[r.name] = r.status
    return found


def checked(cls: type[Connector], config: dict[str, Any]) -> list[CheckResult]:
    connector = cls("partner", config)
    try:
        results = connector.check()
    finally:
        connector.close()
    assert all(isinstance(r, CheckResult) for r in results)
    assert all(SECRET not in r.detail and "\n" not in r.detail for r in results)
    return results


# --- rest ---------------------------------------------------------------------------------
def test_rest_check_is_all_ok_against_a_partner_that_takes_the_credentials(sink) -> None:
    results = checked(RestConnector, {"url": sink.url + "/in", "auth": BEARER})
    assert statuses(results) == dict.fromkeys(("secret", "dns", "connect", "request", "auth"), "ok")
    assert "PARTNER_TOKEN" in results[0].detail


def test_rest_check_warns_when_the_partner_is_down(sink) -> None:
    sink.stop()
    results = checked(RestConnector, {"url": sink.url + "/in", "auth": BEARER})
    assert statuses(results) == {
        "secret": "ok",
        "dns": "ok",
        "connect": "warn",
        "request": "warn",
        "auth": "warn",
    }
    assert "is the partner down?" in results[2].detail


def test_rest_check_fails_on_credentials_the_partner_refuses(sink, monkeypatch) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", "wrong-token")
    results = checked(RestConnector, {"url": sink.url + "/in", "auth": BEARER})
    assert statuses(results)["auth"] == "fail"
    assert "HTTP 401" in [r for r in results if r.name == "auth"][0].detail
    assert "wrong-token" not in " ".join(r.detail for r in results)


def test_rest_check_fails_when_no_credentials_are_configured_but_needed(sink) -> None:
    results = checked(RestConnector, {"url": sink.url + "/in"})
    assert statuses(results)["auth"] == "fail" and "none configured" in results[-1].detail


def test_rest_check_fails_on_an_unset_secret_and_a_missing_file(sink, monkeypatch, tmp_path):
    monkeypatch.delenv("PARTNER_TOKEN")
    results = checked(RestConnector, {"url": sink.url + "/in", "auth": BEARER})
    [secret] = [r for r in results if r.name == "secret"]
    assert secret.status == "fail" and "PARTNER_TOKEN" in secret.detail
    assert statuses(results)["auth"] == "fail"
    missing = tmp_path / "no-such-token"
    config = {"url": sink.url, "auth": {"type": "api_key", "key_file": str(missing)}}
    [secret] = [r for r in checked(RestConnector, config) if r.name == "secret"]
    assert secret.status == "fail" and str(missing) in secret.detail


def test_rest_check_fails_on_an_unreadable_tls_file(sink, tmp_path) -> None:
    config = {"url": sink.url, "auth": BEARER, "verify": str(tmp_path / "ca.pem")}
    assert statuses(checked(RestConnector, config))["file"] == "fail"


def test_rest_check_warns_on_a_failing_partner(sink) -> None:
    sink.set_faults(error_rate=1.0, fail_status=503)
    results = checked(RestConnector, {"url": sink.url, "auth": BEARER})
    assert statuses(results)["request"] == "warn" and statuses(results)["auth"] == "warn"


def test_rest_check_does_not_raise_when_the_probe_breaks(sink, monkeypatch) -> None:
    connector = RestConnector("partner", {"url": sink.url, "auth": BEARER})

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"boom {SECRET}")

    monkeypatch.setattr(connector._session, "request", broken)
    results = connector.check()
    assert statuses(results)["request"] == "fail"
    assert all(SECRET not in r.detail for r in results)


# --- soap ---------------------------------------------------------------------------------
def test_soap_check_is_all_ok_with_the_wsdl_from_the_service(soap) -> None:
    results = checked(
        SoapConnector, {"wsdl": soap.wsdl_url, "operation": "LookupCitizen", "auth": BEARER}
    )
    assert [r.name for r in results] == ["secret", "wsdl", "dns", "connect", "request", "auth"]
    assert {r.status for r in results} == {"ok"}


def test_soap_check_warns_when_the_service_is_down(soap) -> None:
    soap.stop()
    results = checked(
        SoapConnector, {"wsdl": soap.wsdl_url, "operation": "LookupCitizen", "auth": BEARER}
    )
    assert statuses(results) == {
        "secret": "ok",
        "wsdl": "warn",
        "dns": "ok",
        "connect": "warn",
        "request": "warn",
        "auth": "warn",
    }


def test_soap_check_fails_on_refused_credentials_at_the_wsdl_or_the_endpoint(
    soap, monkeypatch
) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", "wrong-token")
    remote = checked(
        SoapConnector, {"wsdl": soap.wsdl_url, "operation": "LookupCitizen", "auth": BEARER}
    )
    assert statuses(remote)["wsdl"] == "fail" and statuses(remote)["auth"] == "fail"
    local = {"wsdl": str(WSDL_PATH), "endpoint": soap.endpoint, "operation": "LookupCitizen"}
    results = checked(SoapConnector, {**local, "auth": BEARER})
    assert statuses(results)["wsdl"] == "ok" and statuses(results)["auth"] == "fail"


def test_soap_check_fails_on_an_unset_secret(soap, monkeypatch) -> None:
    monkeypatch.delenv("PARTNER_TOKEN")
    config = {"wsdl": str(WSDL_PATH), "endpoint": soap.endpoint, "operation": "LookupCitizen"}
    results = checked(SoapConnector, {**config, "auth": BEARER})
    assert statuses(results)["secret"] == "fail" and statuses(results)["auth"] == "fail"


def test_soap_check_fails_on_an_operation_the_wsdl_does_not_have(soap) -> None:
    config = {"wsdl": str(WSDL_PATH), "endpoint": soap.endpoint, "operation": "NoSuchOperation"}
    [wsdl] = [r for r in checked(SoapConnector, config) if r.name == "wsdl"]
    assert wsdl.status == "fail" and "NoSuchOperation" in wsdl.detail


# --- the default and the hook ---------------------------------------------------------------
class HealthOnly(Connector):
    type_name = "health-only"
    answer: Health | Exception = Health(True, "fine")

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        return DeliveryResult(remote_status="200")

    def health(self) -> Health:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize(
    ("answer", "status"),
    [(Health(True, "fine"), "ok"), (Health(False, "down"), "warn"), (RuntimeError(SECRET), "fail")],
)
def test_the_default_check_is_built_on_health(answer, status) -> None:
    connector = HealthOnly("x", {})
    connector.answer = answer
    [result] = connector.check()
    assert (result.name, result.status) == ("health", status)
    assert SECRET not in result.detail


def test_retarget_moves_the_partners_address_and_nothing_else() -> None:
    config = {
        "url": "https://partner.example:8443/api/docs/{message_id}?v=2",
        "health_url": "https://partner.example/health",
        "proxy": "http://proxy.example:3128",
        "auth": BEARER,
        "timeout_seconds": 3,
    }
    moved = RestConnector.retarget(config, "http://127.0.0.1:4000")
    assert moved == {
        "url": "http://127.0.0.1:4000/api/docs/{message_id}?v=2",
        "health_url": "http://127.0.0.1:4000/health",
        "auth": BEARER,
        "timeout_seconds": 3,
    }
    soap = {"wsdl": str(WSDL_PATH), "operation": "LookupCitizen"}
    assert SoapConnector.retarget(soap, "http://127.0.0.1:4000")["endpoint"] == (
        "http://127.0.0.1:4000/"
    )
    assert HealthOnly.retarget({}, "http://127.0.0.1:4000") is None


def test_check_details_are_one_line_and_bounded() -> None:
    result = CheckResult("x", "warn", "a\nb\r\n" + "c" * 2000)
    assert "\n" not in result.detail and len(result.detail) == 500
