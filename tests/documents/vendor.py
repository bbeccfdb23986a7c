"""A vendor's document system registered through the real admin API, as the real samples
need it: the samples' senders as its agencies (a hosted VDXP client's account as an alias),
the ``edoc`` service, and a route that takes every document to a REST partner standing for
the axis."""

from __future__ import annotations

from hub.client import HubClient

HOSTED = "000.00.99.H57"  # the agency whose hosted VDXP client account is "vxp.saas.03"
SENDERS = ("000.00.00.G22", "000.00.00.H41", "000.00.11.H53", HOSTED)


def register_vendor(admin: HubClient, axis_url: str) -> str:
    """Returns the vendor system's API key."""
    for code in SENDERS:
        admin.json("POST", "/v1/agencies", json={"code": code, "name": code})
    admin.json("POST", f"/v1/directory/agencies/{HOSTED}/aliases", json={"alias": "vxp.saas.03"})
    key = admin.json(
        "POST", "/v1/systems", json={"code": "vendor", "agency_code": SENDERS[0], "name": "v"}
    )["api_key"]
    for code in SENDERS[1:]:
        admin.json("POST", "/v1/systems/vendor/agencies", json={"agency_code": code})
    admin.json(
        "POST",
        "/v1/services",
        json={"code": "edoc", "name": "edoc", "mode": "async", "content_type": "application/xml"},
    )
    admin.json("POST", "/v1/access-rules", json={"system_code": "vendor", "service_code": "edoc"})
    admin.json(
        "POST",
        "/v1/connectors",
        json={"name": "axis", "type": "rest", "config": {"url": axis_url + "/vdxp"}},
    )
    admin.json(
        "POST", "/v1/routes", json={"name": "to-axis", "connector": "axis", "service_code": "edoc"}
    )
    return key
