"""Test support shipped with the hub, for connector packages (pytest required: a test extra).
Hub code never imports this package."""

from hub.testing.connectors import ConnectorContract

__all__ = ["ConnectorContract"]
