"""The webhook type passes the hub's shipped contract suite against the hub's sandbox REST sink,
and signs what it sends."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from lgsp_connector_webhook import WebhookConnector

from hub.connector import OutboundMessage
from hub.ids import new_id
from hub.payload import Payload
from hub.testing import ConnectorContract
from sandbox.rest_sink import RestSink

SECRET = "whsec-example-9f2c41d7"


@pytest.fixture(autouse=True)
def signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink() as server:
        yield server


@pytest.fixture
def webhook(sink: RestSink) -> Iterator[WebhookConnector]:
    instance = WebhookConnector(
        "hook", {"url": sink.url + "/hooks/lgsp", "secret_env": "WEBHOOK_SECRET"}
    )
    yield instance
    instance.close()


def message(data: bytes = b'{"MaHoSo": "H49.01-240101-0001"}') -> OutboundMessage:
    ident = new_id()
    return OutboundMessage(
        id=ident,
        correlation_id=ident,
        sender_agency="000.00.00.H49",
        sender_system="onestop",
        service="dossier.status",
        recipient=None,
        content_type="application/json",
        payload=Payload.of(data, "application/json"),
    )


class TestWebhookContract(ConnectorContract):
    @pytest.fixture
    def partner(self, sink: RestSink) -> RestSink:
        return sink

    @pytest.fixture
    def connector(self, partner: RestSink) -> Iterator[WebhookConnector]:
        instance = WebhookConnector(
            "contract",
            {"url": partner.url + "/in", "secret_env": "WEBHOOK_SECRET", "timeout_seconds": 2},
        )
        yield instance
        instance.close()

    @pytest.fixture
    def outbound(self) -> OutboundMessage:
        return message()


def test_the_signature_is_the_hmac_of_the_body(webhook: WebhookConnector, sink: RestSink) -> None:
    webhook.deliver(message(b'{"n": 1}'))
    [received] = sink.received
    expected = hmac.new(SECRET.encode(), b'{"n": 1}', hashlib.sha256).hexdigest()
    assert received.headers["x-signature"] == f"sha256={expected}"


def test_check_fails_on_an_unset_signing_secret_without_raising(
    webhook: WebhookConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_SECRET")
    [secret] = [r for r in webhook.check() if r.name == "secret"]
    assert secret.status == "fail" and "WEBHOOK_SECRET" in secret.detail
