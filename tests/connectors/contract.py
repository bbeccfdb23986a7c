"""``ConnectorContract``: what every connector type promises the hub, checked against a real
sandbox partner. A connector's test module subclasses it and supplies three fixtures:

* ``partner`` — a started sandbox server (the contract stops it to simulate an outage),
* ``connector`` — an instance pointed at ``partner`` with a short timeout,
* ``outbound`` — an ``OutboundMessage`` the partner accepts.

A third-party connector package gets the same acceptance suite by subclassing this class.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.connector import Connector, DeliveryResult, connector_types, validate_config
from hub.errors import DeliveryError, SchemaViolation, TransientDeliveryError


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

    def test_redelivery_carries_the_same_idempotency_key(self, connector, outbound,
                                                         partner) -> None:
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
