"""Registering a sender, a service and a route to a sandbox partner through the real admin API."""

from __future__ import annotations

from typing import Any

from hub.client import HubClient

AGENCY = "000.00.00.H49"
OTHER_AGENCY = "000.00.11.H49"


def register_sender(admin: HubClient, code: str = "motcua", agency: str = AGENCY) -> str:
    """Agency + system; returns the system's API key."""
    for agency_code in {agency, AGENCY}:
        try:
            admin.json("POST", "/v1/agencies", json={"code": agency_code, "name": "UBND tỉnh"})
        except Exception as exc:  # already there
            if getattr(exc, "code", "") != "conflict":
                raise
    return admin.json(
        "POST", "/v1/systems", json={"code": code, "agency_code": agency, "name": "Một cửa điện tử"}
    )["api_key"]


def register_service(
    admin: HubClient,
    code: str = "dossier.status",
    *,
    mode: str = "async",
    schema: str | None = "dossier-status.v1.json",
    content_type: str = "application/json",
) -> None:
    admin.json(
        "POST",
        "/v1/services",
        json={
            "code": code,
            "name": code,
            "mode": mode,
            "content_type": content_type,
            "request_schema": schema,
        },
    )


def register_rest_route(
    admin: HubClient,
    sink_url: str,
    *,
    name: str = "portal",
    service: str | None = "dossier.status",
    recipient: str | None = None,
    condition: list[dict[str, Any]] | None = None,
    path: str = "/portal",
    timeout: float = 5,
    priority: int = 100,
) -> None:
    admin.json(
        "POST",
        "/v1/connectors",
        json={
            "name": name,
            "type": "rest",
            "config": {"url": sink_url + path, "timeout_seconds": timeout},
        },
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={
            "name": f"route-{name}",
            "connector": name,
            "service_code": service,
            "recipient": recipient,
            "condition": condition,
            "priority": priority,
        },
    )


def register_citizen_registry(admin: HubClient, wsdl_url: str, timeout: float = 1) -> None:
    """The SOAP citizen registry (the sandbox's ``LookupCitizen``) behind ``citizen.lookup``."""
    admin.json(
        "POST",
        "/v1/connectors",
        json={
            "name": "citizen-registry",
            "type": "soap",
            "config": {"wsdl": wsdl_url, "operation": "LookupCitizen", "timeout_seconds": timeout},
        },
    )
    admin.json(
        "POST",
        "/v1/routes",
        json={"name": "lookup", "connector": "citizen-registry", "service_code": "citizen.lookup"},
    )


def allow(admin: HubClient, system: str, service: str) -> None:
    admin.json("POST", "/v1/access-rules", json={"system_code": system, "service_code": service})


def dossier(n: int = 1, status: int = 4) -> dict[str, Any]:
    return {
        "MaHoSo": f"000.00.00.H49-261125-{n:04d}",
        "TrangThaiHoSo": status,
        "ThoiDiemXuLy": "20261125090000",
        "NoiDungXuLy": "Đang xử lý",
    }


def standard(admin: HubClient, sink_url: str) -> HubClient:
    """One sender allowed to send dossier.status to a REST partner; returns its client."""
    key = register_sender(admin)
    register_service(admin)
    register_rest_route(admin, sink_url)
    allow(admin, "motcua", "dossier.status")
    return HubClient(admin.url, key)
