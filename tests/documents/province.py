"""A small province registered through the real admin API: the People's Committee and a
commune, each with its document system (QLVB), the ``edoc`` service, and a default route that
takes documents for everyone else (it stands for VDXP here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.client import HubClient
from hub.edxml import builder, jsonform

PROVINCE = "000.00.00.H57"  # UBND thành phố Huế
COMMUNE = "000.00.20.H57"  # UBND phường Thuận Hóa
OLD_DISTRICT = "000.00.30.H57"  # a district, merged into the province in 2025
CLOSED = "000.00.31.H57"  # closed without a successor
OUTSIDE = "000.00.00.H49"  # another province: through the axis


@dataclass
class Province:
    admin: HubClient
    province: HubClient  # the province's document system
    commune: HubClient  # the commune's


def register(admin: HubClient, axis_url: str, *, axis_route: bool = True) -> dict[str, str]:
    """Returns the API keys of the two document systems."""
    for code, name, parent, level in [
        (PROVINCE, "UBND thành phố Huế", None, 2),
        (COMMUNE, "UBND phường Thuận Hóa", PROVINCE, 4),
        (OLD_DISTRICT, "UBND huyện cũ", PROVINCE, 3),
        (CLOSED, "UBND huyện đã giải thể", PROVINCE, 3),
    ]:
        admin.json(
            "POST",
            "/v1/agencies",
            json={"code": code, "name": name, "parent_code": parent, "level": level},
        )
    keys = {}
    for system, agency in [("qlvb-tinh", PROVINCE), ("qlvb-xa", COMMUNE)]:
        keys[system] = admin.json(
            "POST", "/v1/systems", json={"code": system, "agency_code": agency, "name": system}
        )["api_key"]
        admin.json("PATCH", f"/v1/agencies/{agency}", json={"document_system": system})
    admin.json(
        "POST",
        f"/v1/directory/agencies/{OLD_DISTRICT}/merge",
        json={"into": PROVINCE},
        params={"reason": "2025 reform"},
    )
    admin.json("POST", f"/v1/directory/agencies/{CLOSED}/close", params={"reason": "2025 reform"})
    admin.json(
        "POST",
        "/v1/services",
        json={
            "code": "edoc",
            "name": "Văn bản điện tử",
            "mode": "async",
            "content_type": "application/xml",
            "request_schema": None,
        },
    )
    for system in keys:
        admin.json("POST", "/v1/access-rules", json={"system_code": system, "service_code": "edoc"})
    if axis_route:
        admin.json(
            "POST",
            "/v1/connectors",
            json={"name": "axis", "type": "rest", "config": {"url": axis_url + "/vdxp"}},
        )
        admin.json(
            "POST",
            "/v1/routes",
            json={"name": "to-axis", "connector": "axis", "service_code": "edoc"},
        )
    return keys


def edoc(sender: str, recipients: list[str], number: int = 1, **extra: Any) -> bytes:
    """A conformant document from ``sender`` to ``recipients``."""
    flat = {
        "kind": "edoc",
        "from": {"organ_id": sender, "organ_name": "Cơ quan gửi"},
        "to": [{"organ_id": code, "organ_name": "Cơ quan nhận"} for code in recipients],
        "document_id": f"{sender},2026/11/27,{number}/UBND-VP",
        "code_number": str(number),
        "code_notation": "UBND-VP",
        "promulgation_date": "2026/11/27",
        "document_type": "1",
        "subject": "Báo cáo tình hình",
        "traces": [{"organ_id": sender, "timestamp": "2026/11/27 09:00:00"}],
        **extra,
    }
    message, contents = jsonform.from_json(flat)
    return builder.build_bytes(message, jsonform.opener(contents))


def status(sender: str, document_sender: str, document_id: str, code: str, at: str) -> bytes:
    message, _ = jsonform.from_json(
        {
            "kind": "status",
            "from": {"organ_id": sender, "organ_name": "Cơ quan nhận"},
            "response_for": {"organ_id": document_sender, "document_id": document_id},
            "status_code": code,
            "timestamp": at,
        }
    )
    return builder.build_bytes(message)


XML = {"Content-Type": "application/xml"}
