"""``ConnectorContract``: what every connector type promises the hub, checked against a real
partner (a sandbox simulator). A connector's test module subclasses it and supplies three
fixtures:

* ``partner`` — a started server with ``received``, ``unique``, ``set_faults(...)``,
  ``stop()``/``start()`` (the contract stops it to simulate an outage), e.g. a
  ``sandbox.server.SandboxServer``,
* ``connector`` — an instance pointed at ``partner`` with a short timeout,
* ``outbound`` — an ``OutboundMessage`` the partner accepts, its payload in memory.

The suite also runs the type's ``check()`` (typed results, no failure against the partner,
warnings and no exception when it is down, no secret in any detail) and the conformance suite
of :mod:`hub.conformance` (a round trip, and how a 4xx, a 5xx, a 429 and a timeout are
classed, against a stand-in partner the type's ``retarget()`` points at).

A third-party connector package gets the same acceptance suite with::

    from hub.testing import ConnectorContract

    class TestMyConnector(ConnectorContract):
        ...  # the three fixtures

Shipped in the package (pytest is a test extra): hub code never imports ``hub.testing``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hub import conformance
from hub.connector import (
    CheckResult,
    Connector,
    DeliveryResult,
    connector_types,
    validate_config,
)
from hub.errors import DeliveryError, SchemaViolation, TransientDeliveryError
from hub.payload import Payload

__all__ = ["ConnectorContract"]


class ConnectorContract:
    def test_type_is_discovered_through_the_entry_point(self, connector: Connector) -> None:
        assert connector_types()[connector.type_name] is type(connector)

    def test_config_schema_refuses_an_unknown_field(self, connector: Connector) -> None:
        with pytest.raises(SchemaViolation):
            validate_config(type(connector), {**connector.config, "no_such_option": 1})

    def test_deliver_returns_the_partners_status(self, connector, outbound, partner) -> None:
        result = connector.deliver(outbound)
        assert isinstance(result, DeliveryResult) and result.remote_status
        assert len(partner.received) == 1

    def test_a_payload_stored_as_a_file_is_delivered(
        self, connector, outbound, partner, tmp_path: Path
    ) -> None:
        """Large payloads reach connectors as blob files, not bytes (``Payload.stored``)."""
        data = outbound.payload.read()
        path = tmp_path / "blob"
        path.write_bytes(data)
        stored = Payload.stored(
            path, outbound.payload.size, outbound.payload.sha256, outbound.payload.content_type
        )
        assert connector.deliver(replace(outbound, payload=stored)).remote_status
        assert len(partner.received) == 1

    def test_redelivery_carries_the_same_idempotency_key(
        self, connector, outbound, partner
    ) -> None:
        connector.deliver(outbound)
        connector.deliver(replace(outbound, attempt=2))
        assert len(partner.received) == 2 and len(partner.unique) == 1

    def test_injected_server_failure_is_transient(self, connector, outbound, partner) -> None:
        partner.set_faults(fail_next=1, fail_status=503)
        with pytest.raises(TransientDeliveryError):
            connector.deliver(outbound)

    def test_timeout_is_transient_and_bounded(self, connector, outbound, partner) -> None:
        partner.set_faults(latency_ms=3000)
        with pytest.raises(TransientDeliveryError) as timed_out:
            connector.deliver(outbound, timeout=0.5)
        assert timed_out.value.remote_status == "timeout"

    def test_outage_then_recovery(self, connector, outbound, partner) -> None:
        partner.stop()
        with pytest.raises(TransientDeliveryError):
            connector.deliver(outbound)
        assert not connector.health().ok
        partner.start()
        assert connector.deliver(outbound).remote_status
        assert connector.health().ok

    def test_only_hub_errors_escape(self, connector, outbound, partner) -> None:
        partner.set_faults(outage=True)
        with pytest.raises(DeliveryError):
            connector.deliver(outbound)

    def test_check_passes_against_the_partner(self, connector, partner) -> None:
        results = connector.check()
        assert results and all(isinstance(r, CheckResult) for r in results)
        assert all(r.status in ("ok", "warn", "skipped") for r in results), results
        _assert_no_secret(connector.config, results)

    def test_check_warns_and_does_not_raise_when_the_partner_is_down(
        self, connector, partner
    ) -> None:
        partner.stop()
        results = connector.check()
        assert any(r.status == "warn" for r in results), results
        assert all(r.status != "fail" for r in results), results
        _assert_no_secret(connector.config, results)
        partner.start()

    def test_conformance_suite_passes(self, connector, outbound, partner) -> None:
        example = conformance.Example(outbound.payload.read(), outbound.content_type)
        report = conformance.run(type(connector), connector.name, connector.config, example)
        assert report.ok, [r for r in (*report.checks, *report.conformance) if r.status == "fail"]
        assert {r.name: r.status for r in report.conformance}["round trip"] == "ok"
        _assert_no_secret(connector.config, [*report.checks, *report.conformance])


def _assert_no_secret(config: Mapping[str, Any], results: list[CheckResult]) -> None:
    text = "\n".join(r.detail for r in results)
    for secret in _secrets(config):
        assert secret not in text, "a check result shows a secret"


def _secrets(config: Mapping[str, Any]) -> Iterator[str]:
    """The values the configuration's ``*_env``/``*_file`` references resolve to."""
    for key, value in config.items():
        if isinstance(value, Mapping):
            yield from _secrets(value)
        elif isinstance(value, str) and key.endswith("_env") and os.environ.get(value, "").strip():
            yield os.environ[value].strip()
        elif isinstance(value, str) and key.endswith("_file") and os.path.isfile(value):
            if found := Path(value).read_text(encoding="utf-8", errors="replace").strip():
                yield found
