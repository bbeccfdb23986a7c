"""``hub.conformance``: the suite passes for rest and soap against the sandbox, and catches a
type that misclassifies (a 5xx reported as permanent), one that lets an exception escape, one
without the ``retarget`` hook (skipped) and a message it cannot encode (skipped); the stand-in
answers SOAP like a SOAP stack; the complete example of ``connectors/README.md`` passes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.rest import RestConnector
from connectors.soap import SoapConnector
from hub.conformance import Example, Report, StandIn, run
from hub.connector import DeliveryResult, OutboundMessage
from hub.errors import PermanentDeliveryError, TransientDeliveryError
from sandbox.rest_sink import RestSink
from sandbox.soap_service import SOAP_ENV, SoapService

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["4xx is permanent", "5xx is retryable", "429 is retryable", "timeout is retryable"]
EXAMPLE = Example(b'{"MaHoSo": "H49.01-240101-0001"}', "application/json")


@pytest.fixture
def sink() -> Iterator[RestSink]:
    with RestSink() as server:
        yield server


def suite(report: Report) -> dict[str, str]:
    return {r.name: r.status for r in report.conformance}


def test_rest_passes_the_suite_and_the_example_reaches_the_partner(sink) -> None:
    report = run(RestConnector, "portal", {"url": sink.url + "/in", "timeout_seconds": 5}, EXAMPLE)
    assert report.ok and set(suite(report).values()) == {"ok"}, report.as_dict()
    assert list(suite(report)) == ["reachable", "authentication", "round trip", *CLASSES]
    [received] = sink.received
    assert received.body == EXAMPLE.data and received.path == "/in"
    assert report.as_dict()["example"] == "body"


def test_soap_passes_the_suite_with_faults_from_the_stand_in() -> None:
    with SoapService() as service:
        config = {
            "wsdl": service.wsdl_url,
            "operation": "ReceiveMessage",
            "payload_field": "Payload",
            "message_id_field": "MessageId",
        }
        report = run(SoapConnector, "qlvb", config, Example(b"<edoc/>", "application/xml"))
        assert len(service.received) == 1
    assert report.ok and set(suite(report).values()) == {"ok"}, report.as_dict()
    details = {r.name: r.detail for r in report.conformance}
    assert "fault:Client" in details["4xx is permanent"]
    assert "fault:Server" in details["5xx is retryable"]


class ServerErrorsArePermanent(RestConnector):
    """Broken on purpose: a partner's 5xx dead-letters the message instead of retrying."""

    type_name = "broken-rest"

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        try:
            return super().deliver(message, timeout)
        except TransientDeliveryError as exc:
            if (exc.remote_status or "").startswith("5"):
                raise PermanentDeliveryError(exc.message, remote_status=exc.remote_status) from None
            raise


def test_a_type_that_reports_a_5xx_as_permanent_fails_the_suite(sink) -> None:
    report = run(ServerErrorsArePermanent, "broken", {"url": sink.url}, EXAMPLE)
    assert not report.ok
    assert suite(report)["5xx is retryable"] == "fail"
    assert {n: suite(report)[n] for n in CLASSES if n != "5xx is retryable"} == dict.fromkeys(
        ["4xx is permanent", "429 is retryable", "timeout is retryable"], "ok"
    )
    [failed] = [r for r in report.conformance if r.status == "fail"]
    assert "classed PermanentDeliveryError, needs TransientDeliveryError" in failed.detail


class Escaping(RestConnector):
    type_name = "escaping"

    def deliver(self, message: OutboundMessage, timeout: float | None = None) -> DeliveryResult:
        requests.post(self.config["url"], data=b"x", timeout=timeout).raise_for_status()
        return DeliveryResult(remote_status="200")


def test_a_type_that_lets_a_driver_exception_escape_fails(sink) -> None:
    report = run(Escaping, "escaping", {"url": sink.url}, EXAMPLE)
    assert suite(report)["4xx is permanent"] == "fail"
    assert (
        "let HTTPError escape" in {r.name: r.detail for r in report.conformance}["4xx is permanent"]
    )


class NoHook(RestConnector):
    type_name = "no-hook"

    @classmethod
    def retarget(cls, config: Any, base_url: str) -> None:
        return None


def test_a_type_without_the_retarget_hook_gets_the_classification_skipped(sink) -> None:
    report = run(NoHook, "nohook", {"url": sink.url})
    assert report.ok
    assert [suite(report)[n] for n in ["round trip", *CLASSES]] == ["skipped"] * 5
    assert "no retarget() hook" in report.conformance[-1].detail


def test_a_message_the_type_cannot_encode_skips_the_classification() -> None:
    with SoapService() as service:
        report = run(
            SoapConnector, "lookup", {"wsdl": service.wsdl_url, "operation": "LookupCitizen"}
        )
    assert report.ok
    assert [suite(report)[n] for n in CLASSES] == ["skipped"] * 4
    assert "before sending" in report.conformance[-1].detail


def test_an_invalid_configuration_is_one_failed_check_not_an_exception() -> None:
    report = run(RestConnector, "bad", {"url": "ftp://nowhere"})
    assert [(r.name, r.status) for r in report.checks] == [("configuration", "fail")]
    assert set(suite(report).values()) == {"skipped"}


def test_a_partner_that_is_down_is_a_warning_not_a_failure(sink) -> None:
    sink.stop()
    report = run(RestConnector, "down", {"url": sink.url, "timeout_seconds": 2}, EXAMPLE)
    assert report.ok
    assert suite(report)["reachable"] == suite(report)["round trip"] == "warn"
    assert [suite(report)[n] for n in CLASSES] == ["ok"] * 4  # the stand-in answers anyway


@pytest.mark.parametrize(
    ("envelope", "mode", "status", "code"),
    [
        (SOAP_ENV, "refused", 500, b"soap:Client"),
        (SOAP_ENV, "server_error", 500, b"soap:Server"),
        ("http://www.w3.org/2003/05/soap-envelope", "refused", 400, b"soap:Sender"),
        ("http://www.w3.org/2003/05/soap-envelope", "server_error", 500, b"soap:Receiver"),
    ],
)
def test_the_stand_in_answers_soap_requests_with_faults(envelope, mode, status, code) -> None:
    body = f'<e:Envelope xmlns:e="{envelope}"><e:Body><Op/></e:Body></e:Envelope>'
    with StandIn() as stand_in:
        stand_in.answer(mode)
        answer = requests.post(stand_in.url + "/ws", data=body.encode(), timeout=5)
        assert stand_in.received == 1
    assert answer.status_code == status and code in answer.content


def test_the_complete_example_of_the_connectors_readme_passes(sink) -> None:
    readme = (ROOT / "connectors" / "README.md").read_text(encoding="utf-8")
    [code] = re.findall(r"## A complete example\s+```python\n(.*?)```", readme, re.S)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(code, "connectors/README.md", "exec"), namespace)  # noqa: S102 - our own docs
    report = run(namespace["InboxConnector"], "inbox", {"url": sink.url + "/inbox"}, EXAMPLE)
    assert report.ok and set(suite(report).values()) == {"ok"}, report.as_dict()
