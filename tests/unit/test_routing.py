"""Per-recipient routing with content conditions."""

from __future__ import annotations

import pytest
from lxml import etree

from hub.errors import NoRoute
from hub.routing import resolve


def route(
    name, connector, service=None, recipient=None, condition=None, priority=100, enabled=True
):
    return {
        "name": name,
        "connector": connector,
        "service_code": service,
        "recipient": recipient,
        "condition": condition,
        "mapping": None,
        "priority": priority,
        "enabled": enabled,
    }


def test_lowest_priority_matching_route_wins_per_recipient():
    routes = [route("any", "vdxp", priority=100), route("local", "qlvb", recipient="A", priority=1)]
    targets = resolve(routes, "doc", ["A", "B"], {}, {})
    assert [(t.recipient, t.connector) for t in targets] == [("A", "qlvb"), ("B", "vdxp")]


def test_disabled_routes_and_other_services_are_ignored():
    routes = [route("off", "x", enabled=False), route("other", "y", service="svc.other")]
    with pytest.raises(NoRoute) as refused:
        resolve(routes, "svc", [], {}, {})
    assert refused.value.details["service"] == "svc"


def test_unrouted_recipients_are_named():
    with pytest.raises(NoRoute) as refused:
        resolve([route("a", "x", recipient="A")], "svc", ["A", "B"], {}, {})
    assert refused.value.details["recipients"] == ["B"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"path": "a.b", "op": "eq", "value": 1}, True),
        ({"path": "a.b", "op": "ne", "value": 1}, False),
        ({"path": "a.c", "op": "exists"}, False),
        ({"path": "a.c", "op": "ne", "value": 1}, True),
        ({"path": "list.1", "op": "in", "value": ["y"]}, True),
        ({"path": "name", "op": "regex", "value": "^Hồ sơ"}, True),
        ({"path": "a.b", "op": "gt", "value": "text"}, False),
        ({"header": "x-lgsp-channel", "op": "eq", "value": "web"}, True),
    ],
)
def test_json_and_header_conditions(condition, expected):
    document = {"a": {"b": 1}, "list": ["x", "y"], "name": "Hồ sơ đất đai"}
    routes = [route("c", "conditional", condition=[condition], priority=1), route("d", "default")]
    target = resolve(routes, "svc", [], document, {"x-lgsp-channel": "web"})[0]
    assert (target.connector == "conditional") is expected


def test_xpath_condition_on_xml():
    doc = etree.fromstring(b"<r xmlns='urn:x'><Priority>3</Priority></r>")
    routes = [
        route(
            "urgent",
            "fast",
            priority=1,
            condition=[{"xpath": "//*[local-name()='Priority']", "op": "in", "value": ["3", "4"]}],
        ),
        route("normal", "slow"),
    ]
    assert resolve(routes, "svc", [], doc, {})[0].connector == "fast"
