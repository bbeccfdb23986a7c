"""The rest connector against the sandbox REST sink over real loopback HTTP (and HTTPS)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.rest import RestConnector
from hub.connector import OutboundMessage, connector_type
from hub.errors import (
    LocalDeliveryError,
    PermanentDeliveryError,
    SchemaViolation,
    TransientDeliveryError,
)
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.rest_sink import RestSink
from sandbox.server import SandboxResponse
from tests.connectors.large import MIB, deliver_in_child, write_file

SECRET = "tok-3f9a-very-secret"

MakeConnector = Callable[..., RestConnector]


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink() as server:
        yield server


@pytest.fixture
def make_connector() -> Iterator[MakeConnector]:
    made: list[RestConnector] = []

    def make(url: str, **config: Any) -> RestConnector:
        connector = RestConnector("partner", {"url": url, **config})
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def message(
    payload: bytes | Payload = b'{"MaHoSo": "H49.01-240101-0001"}', **fields: Any
) -> OutboundMessage:
    content_type = fields.pop("content_type", "application/json")
    if isinstance(payload, bytes):
        payload = Payload.of(payload, content_type)
    base = OutboundMessage(
        id=new_id(),
        correlation_id=new_id(),
        sender_agency="000.00.00.H49",
        sender_system="onestop",
        service="dossier.sync",
        recipient="000.00.12.H49",
        content_type=content_type,
        payload=payload,
    )
    return replace(base, **fields)


# --- success --------------------------------------------------------------------------------
def test_deliver_posts_the_payload_with_its_content_type(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    result = make_connector(f"{sink.url}/api/dossiers").deliver(
        message(b"<x/>", content_type="text/xml")
    )

    [rec] = sink.received
    assert (rec.method, rec.path, rec.body) == ("POST", "/api/dossiers", b"<x/>")
    assert rec.headers["content-type"] == "text/xml"
    assert result.remote_status == "201"
    assert result.content_type == "application/json"
    assert b'"received": true' in result.response


def test_deliver_sends_idempotency_key_and_envelope_headers(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    msg = message(attempt=3)
    make_connector(sink.url).deliver(msg)

    headers = sink.received[0].headers
    assert headers["idempotency-key"] == msg.id
    assert headers["x-correlation-id"] == msg.correlation_id
    assert headers["x-lgsp-sender"] == "000.00.00.H49/onestop"
    assert headers["x-lgsp-service"] == "dossier.sync"
    assert headers["x-lgsp-recipient"] == "000.00.12.H49"
    assert headers["x-lgsp-attempt"] == "3"


def test_redelivering_a_message_is_absorbed_by_an_idempotent_partner(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    connector, msg = make_connector(sink.url), message()
    first = connector.deliver(msg)
    second = connector.deliver(replace(msg, attempt=2))

    assert (first.remote_status, second.remote_status) == ("201", "200")
    assert len(sink.received) == 2
    assert sink.unique_keys() == [msg.id]


def test_put_with_url_placeholders_targets_the_message_resource(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    msg = message()
    make_connector(f"{sink.url}/docs/{{message_id}}", method="PUT").deliver(msg)
    assert (sink.received[0].method, sink.received[0].path) == ("PUT", f"/docs/{msg.id}")


def test_static_and_forwarded_headers_are_sent_and_non_ascii_is_percent_encoded(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    connector = make_connector(
        sink.url, headers={"X-Partner-System": "qlvb"}, forward_headers=["X-Document-Type"]
    )
    connector.deliver(
        message(service="thủ tục", headers={"x-document-type": "edoc", "X-Other": "not forwarded"})
    )

    headers = sink.received[0].headers
    assert headers["x-partner-system"] == "qlvb"
    assert headers["x-document-type"] == "edoc"
    assert "x-other" not in headers
    assert headers["x-lgsp-service"] == "th%E1%BB%A7 t%E1%BB%A5c"


def test_accept_statuses_count_a_409_repeat_as_delivered(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    sink.set_faults(fail_next=1, fail_status=409)
    result = make_connector(sink.url, accept_statuses=[409]).deliver(message())
    assert result.remote_status == "409"


# --- large payloads -------------------------------------------------------------------------
def test_a_stored_payload_is_streamed_with_content_length_not_chunked(
    make_connector: MakeConnector, tmp_path: Path
) -> None:
    path = tmp_path / "blob"
    sha256 = write_file(path, 5 * MIB + 7)
    with RestSink(max_body_bytes=64 * MIB, keep_body_bytes=MIB) as sink:
        stored = Payload.stored(path, 5 * MIB + 7, sha256, "application/zip")
        result = make_connector(sink.url).deliver(message(stored))
    [rec] = sink.received
    assert result.remote_status == "201"
    assert (rec.size, rec.sha256, rec.body_kept) == (5 * MIB + 7, sha256, False)
    assert rec.headers["content-length"] == str(5 * MIB + 7)
    assert "transfer-encoding" not in rec.headers


def test_a_200_mb_payload_reaches_the_partner_intact_at_flat_memory(tmp_path: Path) -> None:
    size = 200 * MIB
    path = tmp_path / "edoc.zip"
    sha256 = write_file(path, size)
    with RestSink(max_body_bytes=2 * size) as sink:
        report = deliver_in_child(
            "rest",
            {"url": f"{sink.url}/edocs", "timeout_seconds": 60},
            path,
            size,
            sha256,
            "application/zip",
            warm_up="{}",
        )
        big = sink.received[-1]
    assert report["remote_status"] == "201"
    assert (big.size, big.sha256) == (size, sha256)
    growth_mib = (report["peak_kib"] - report["baseline_kib"]) / 1024
    assert growth_mib < 60, f"peak RSS grew by {growth_mib:.0f} MiB for a 200 MiB payload"


def test_a_partner_refusing_a_streamed_body_before_reading_it_is_a_permanent_413(
    make_connector: MakeConnector, tmp_path: Path
) -> None:
    path = tmp_path / "blob"
    sha256 = write_file(path, 20 * MIB)
    with RestSink(max_body_bytes=100) as sink:
        with pytest.raises(PermanentDeliveryError) as caught:
            make_connector(sink.url).deliver(
                message(Payload.stored(path, 20 * MIB, sha256, "application/zip"))
            )
    assert caught.value.remote_status == "413"


def test_a_stored_payload_shorter_than_recorded_is_a_local_error_the_partner_never_accepts(
    sink: RestSink, make_connector: MakeConnector, tmp_path: Path
) -> None:
    path = tmp_path / "blob"
    sha256 = write_file(path, 2 * MIB)
    stored = Payload.stored(path, 3 * MIB, sha256, "application/zip")  # the file lost a MiB
    with pytest.raises(LocalDeliveryError, match="announced"):
        make_connector(sink.url, timeout_seconds=5).deliver(message(stored))
    assert sink.received == []


def test_only_the_first_mebibyte_of_an_answer_is_kept(make_connector: MakeConnector) -> None:
    class Chatty(RestSink):  # a partner that answers with a 3 MiB document
        def handle(self, request):
            return SandboxResponse(200, b"a" * (3 * MIB), "text/plain")

    with Chatty() as sink:
        result = make_connector(sink.url).deliver(message())
    assert len(result.response) == MIB
    assert result.details["response_truncated"] is True


# --- authentication -------------------------------------------------------------------------
def test_bearer_token_from_environment_is_accepted(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    with RestSink(require_token=SECRET) as sink:
        connector = make_connector(sink.url, auth={"type": "bearer", "token_env": "PARTNER_TOKEN"})
        assert connector.deliver(message()).remote_status == "201"
    assert sink.received[0].headers["authorization"] == f"Bearer {SECRET}"


def test_api_key_from_file_is_sent_in_the_configured_header(
    make_connector: MakeConnector, tmp_path: Path
) -> None:
    key_file = tmp_path / "partner.key"
    key_file.write_text(SECRET + "\n")
    with RestSink(require_token=SECRET, api_key_header="X-Partner-Key") as sink:
        connector = make_connector(
            sink.url, auth={"type": "api_key", "header": "X-Partner-Key", "key_file": str(key_file)}
        )
        assert connector.deliver(message()).remote_status == "201"
    assert sink.received[0].headers["x-partner-key"] == SECRET


def test_refused_token_maps_401_to_permanent_error_without_leaking_the_secret(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    with RestSink(require_token="another-token") as sink:
        connector = make_connector(sink.url, auth={"type": "bearer", "token_env": "PARTNER_TOKEN"})
        with pytest.raises(PermanentDeliveryError) as caught:
            connector.deliver(message())
    assert caught.value.remote_status == "401"
    assert SECRET not in str(caught.value.as_dict())


def test_unset_secret_variable_is_a_permanent_configuration_error(
    sink: RestSink, make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARTNER_TOKEN", raising=False)
    connector = make_connector(sink.url, auth={"type": "bearer", "token_env": "PARTNER_TOKEN"})
    with pytest.raises(PermanentDeliveryError, match="PARTNER_TOKEN") as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "config"
    assert sink.request_count == 0


def test_secret_echoed_by_the_partner_is_scrubbed_from_the_error(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    class EchoingSink(RestSink):  # a partner that quotes the credential in its error
        def fault_response(self, status: int) -> SandboxResponse:
            return SandboxResponse.json(status, {"error": f"bad token {SECRET}"})

    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    with EchoingSink() as sink:
        sink.set_faults(fail_next=1, fail_status=400)
        connector = make_connector(sink.url, auth={"type": "bearer", "token_env": "PARTNER_TOKEN"})
        with pytest.raises(PermanentDeliveryError) as caught:
            connector.deliver(message())
    assert SECRET not in str(caught.value.as_dict())
    assert "***" in caught.value.details["response_excerpt"]


# --- error mapping --------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
def test_deliver_maps_5xx_429_and_408_to_transient_error(
    sink: RestSink, make_connector: MakeConnector, status: int
) -> None:
    sink.set_faults(fail_next=1, fail_status=status)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(sink.url).deliver(message())
    assert caught.value.remote_status == str(status)
    assert caught.value.retryable


@pytest.mark.parametrize("status", [400, 403, 404, 413, 422])
def test_deliver_maps_4xx_to_permanent_error(
    sink: RestSink, make_connector: MakeConnector, status: int
) -> None:
    sink.set_faults(fail_next=1, fail_status=status)
    with pytest.raises(PermanentDeliveryError) as caught:
        make_connector(sink.url).deliver(message())
    assert caught.value.remote_status == str(status)
    assert not caught.value.retryable


def test_deliver_maps_a_real_413_for_an_oversized_payload_to_permanent_error(
    make_connector: MakeConnector,
) -> None:
    with RestSink(max_body_bytes=100) as sink:
        with pytest.raises(PermanentDeliveryError) as caught:
            make_connector(sink.url).deliver(message(b"x" * 1000))
    assert caught.value.remote_status == "413"


def test_retry_after_is_reported_in_the_error_details(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    sink.set_faults(fail_next=1, fail_status=503)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(sink.url).deliver(message())
    assert caught.value.details["retry_after"] == "1"


def test_redirect_is_not_followed_and_is_permanent(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    sink.set_faults(fail_next=1, fail_status=302)
    with pytest.raises(PermanentDeliveryError, match="redirects are not followed"):
        make_connector(sink.url).deliver(message())
    assert sink.request_count == 1


def test_deliver_maps_read_timeout_to_transient_error(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    sink.set_faults(latency_ms=1000)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(sink.url, timeout_seconds={"connect": 1, "read": 0.2}).deliver(message())
    assert caught.value.remote_status == "timeout"


def test_caller_timeout_caps_the_configured_timeout(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    sink.set_faults(latency_ms=1000)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(sink.url, timeout_seconds=30).deliver(message(), timeout=0.2)
    assert caught.value.remote_status == "timeout"


def test_deliver_maps_connection_refused_to_transient_error(make_connector: MakeConnector) -> None:
    sink = RestSink().start()
    sink.stop()
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(sink.url).deliver(message())
    assert caught.value.remote_status == "connection_error"


def test_deliver_maps_partner_stopping_under_a_pooled_connection_to_transient_error(
    make_connector: MakeConnector,
) -> None:
    sink = RestSink().start()
    connector = make_connector(sink.url)
    connector.deliver(message())
    sink.stop()
    with pytest.raises(TransientDeliveryError):
        connector.deliver(message())


def test_deliver_maps_an_outage_to_transient_connection_error(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    sink.set_faults(outage=True)
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(sink.url).deliver(message())
    assert caught.value.remote_status == "connection_error"


# --- configuration --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("config", "path", "mentions"),
    [
        ({}, "/url", "url"),
        ({"url": 5}, "/url", "string"),
        ({"url": "ftp://partner"}, "/url", "does not match"),
        ({"url": "http://p", "method": "GET"}, "/method", "GET"),
        ({"url": "http://p", "timeout_seconds": 0}, "/timeout_seconds", "0"),
        (
            {"url": "http://p", "timeout_seconds": {"read": 1, "total": 2}},
            "/timeout_seconds/total",
            "total",
        ),
        ({"url": "http://p", "auth": {"type": "bearer", "token": SECRET}}, "/auth/token", "token"),
        ({"url": "http://p", "auth": {"type": "bearer"}}, "/auth/token_env", "token_env"),
        (
            {"url": "http://p", "auth": {"type": "api_key", "key_env": "K", "token_env": "T"}},
            "/auth/token_env",
            "",
        ),
        ({"url": "http://p", "client_key": "/k.pem"}, "/", "client_cert"),
        ({"url": "http://p", "retries": 3}, "/retries", "retries"),
        (
            {"url": "http://p", "headers": {"Authorization": "Basic x"}},
            "/headers/Authorization",
            "Authorization",
        ),
        ({"url": "http://p", "headers": {"X-LGSP-Sender": "me"}}, "/headers/X-LGSP-Sender", ""),
        ({"url": "http://p", "headers": {"Bad Name": "x"}}, "/headers", "Bad Name"),
    ],
)
def test_invalid_config_raises_schema_violation_naming_the_field(
    config: dict[str, Any], path: str, mentions: str
) -> None:
    with pytest.raises(SchemaViolation) as caught:
        RestConnector("partner", config)
    errors = caught.value.details["errors"]
    assert any(e["path"] == path and mentions in e["message"] for e in errors), errors


def test_rest_type_is_registered_under_the_connector_entry_point() -> None:
    assert connector_type("rest") is RestConnector


# --- health ---------------------------------------------------------------------------------
def test_health_is_ok_when_the_partner_answers(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    health = make_connector(f"{sink.url}/api").health()
    assert health.ok, health.detail
    assert "HEAD" in health.detail and sink.received == []


def test_health_is_not_ok_when_the_partner_is_down(make_connector: MakeConnector) -> None:
    sink = RestSink().start()
    sink.stop()
    health = make_connector(sink.url).health()
    assert not health.ok
    assert "connection" in health.detail


def test_health_is_not_ok_when_credentials_are_refused(
    make_connector: MakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARTNER_TOKEN", SECRET)
    with RestSink(require_token="other") as sink:
        health = make_connector(
            sink.url, auth={"type": "bearer", "token_env": "PARTNER_TOKEN"}
        ).health()
    assert not health.ok and "401" in health.detail
    assert SECRET not in health.detail


def test_health_uses_get_on_health_url_and_needs_2xx(
    sink: RestSink, make_connector: MakeConnector
) -> None:
    assert make_connector(sink.url, health_url=f"{sink.url}/status").health().ok
    sink.set_faults(fail_next=1, fail_status=404)
    assert not make_connector(sink.url, health_url=f"{sink.url}/status").health().ok


# --- TLS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available (and the cryptography package is not installed)")
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=LGSP test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    for name, ext in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ]:
        (d / f"{name}.ext").write_text(ext + "\n")
        run(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=lgsp-{name}"
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2" if name == "server" else "3",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.pem",
        )
    return {
        n: d / f
        for n, f in [
            ("ca", "ca.pem"),
            ("server_cert", "server.pem"),
            ("server_key", "server.key"),
            ("client_cert", "client.pem"),
            ("client_key", "client.key"),
        ]
    }


@pytest.fixture
def mtls_sink(pki: dict[str, Path]) -> Iterator[RestSink]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    with RestSink(ssl_context=context) as server:
        yield server


def test_mutual_tls_delivery_succeeds_with_the_client_certificate(
    mtls_sink: RestSink, make_connector: MakeConnector, pki: dict[str, Path]
) -> None:
    connector = make_connector(
        mtls_sink.url,
        verify=str(pki["ca"]),
        client_cert=str(pki["client_cert"]),
        client_key=str(pki["client_key"]),
    )
    assert mtls_sink.url.startswith("https://")
    assert connector.deliver(message()).remote_status == "201"
    assert connector.health().ok


def test_mutual_tls_without_a_client_certificate_is_transient(
    mtls_sink: RestSink, make_connector: MakeConnector, pki: dict[str, Path]
) -> None:
    with pytest.raises(TransientDeliveryError) as caught:
        make_connector(mtls_sink.url, verify=str(pki["ca"])).deliver(message())
    assert caught.value.remote_status in ("tls_error", "connection_error")
    assert mtls_sink.received == []


def test_untrusted_server_certificate_is_a_transient_tls_error(
    mtls_sink: RestSink, make_connector: MakeConnector, pki: dict[str, Path]
) -> None:
    connector = make_connector(
        mtls_sink.url, client_cert=str(pki["client_cert"]), client_key=str(pki["client_key"])
    )
    with pytest.raises(TransientDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.remote_status == "tls_error"


def test_missing_client_certificate_file_is_a_permanent_configuration_error(
    mtls_sink: RestSink, make_connector: MakeConnector, pki: dict[str, Path], tmp_path: Path
) -> None:
    connector = make_connector(
        mtls_sink.url, verify=str(pki["ca"]), client_cert=str(tmp_path / "missing.pem")
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        connector.deliver(message())
    assert caught.value.details["reason"] == "config"


class TestRestConnectorContract(ConnectorContract):
    @pytest.fixture
    def partner(self, sink: RestSink) -> RestSink:
        return sink

    @pytest.fixture
    def connector(self, partner: RestSink) -> Iterator[RestConnector]:
        instance = RestConnector("contract", {"url": partner.url + "/in", "timeout_seconds": 2})
        yield instance
        instance.close()

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message()
