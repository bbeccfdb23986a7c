"""A registry write clears this process's registry cache once its transaction has committed —
not before, or a request in between could cache the old answer again — so a change applies at
once even with a long cache lifetime. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub import bootstrap, registry
from hub.context import Hub
from tests.conftest import delete_queues, make_settings, open_hub

AGENCY = "000.00.00.H49"


@pytest.fixture
def slow_cache_hub(backend, tmp_path, request) -> Iterator[Hub]:
    """A hub whose cache would keep an entry for an hour if nothing cleared it."""
    hub = open_hub(make_settings(backend, tmp_path, request, registry_cache_seconds=3600))
    bootstrap.ensure_admin(hub)
    registry.add_connector(hub, "t", "portal", "rest", {"url": "http://127.0.0.1:9/p"})
    registry.add_route(hub, "t", "first", "portal")
    yield hub
    delete_queues(hub)
    hub.close()


def _route_names(hub: Hub) -> set[str]:
    return {r["name"] for r in hub.registry.routes()}


def test_a_write_applies_at_once_in_this_process(slow_cache_hub):
    hub = slow_cache_hub
    assert _route_names(hub) == {"first"}  # now cached for an hour
    registry.add_route(hub, "t", "second", "portal")
    assert _route_names(hub) == {"first", "second"}


def test_writes_in_one_transaction_clear_the_cache_once_it_has_committed(slow_cache_hub):
    hub = slow_cache_hub
    assert _route_names(hub) == {"first"}
    with registry.changing(hub) as conn:
        registry.add_route(hub, "t", "second", "portal", conn=conn)
        registry.add_route(hub, "t", "third", "portal", conn=conn)
        assert _route_names(hub) == {"first"}, "cleared before the commit"
    assert _route_names(hub) == {"first", "second", "third"}


def test_a_write_that_fails_leaves_the_cache_and_the_registry_as_they_were(slow_cache_hub):
    hub = slow_cache_hub
    assert _route_names(hub) == {"first"}
    with pytest.raises(RuntimeError), registry.changing(hub) as conn:
        registry.add_route(hub, "t", "second", "portal", conn=conn)
        raise RuntimeError("the batch fails half-way")
    with hub.reader.connect() as conn:
        assert {r["name"] for r in registry.list_all(conn, "routes")} == {"first"}
    assert _route_names(hub) == {"first"}


def test_a_write_refuses_a_connection_that_would_not_clear_the_cache(slow_cache_hub):
    hub = slow_cache_hub
    with hub.engine.begin() as conn, pytest.raises(TypeError, match="changing"):
        registry.add_agency(hub, "t", AGENCY, "x", conn=conn)
