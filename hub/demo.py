"""A small demo registry so a first message can be sent and traced at once: the province's
one-stop system (``motcua``) sends dossier progress to the provincial portal (a sandbox REST
sink) and looks citizens up in a registry (the sandbox SOAP service). Idempotent: running it
again only points the connectors at the sandbox's current URLs."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import select

from hub import registry
from hub.context import Hub
from hub.store.tables import agencies, connector_instances, systems

PROVINCE = "000.00.00.H49"
DEPARTMENT = "000.00.11.H49"
DEMO_SYSTEM = "motcua"

__all__ = ["DEMO_SYSTEM", "seed"]


def _exists(conn, table, column, value) -> bool:
    return conn.execute(select(column).where(column == value)).first() is not None


def seed(hub: Hub, sink_url: str, wsdl_url: str) -> str | None:
    """Create or refresh the demo registry; returns the demo system's key when it is new."""
    actor = "demo"
    connectors: dict[str, tuple[str, dict[str, Any]]] = {
        "provincial-portal": (
            "rest",
            {"url": f"{sink_url}/portal/dossier-status", "timeout_seconds": 5},
        ),
        "citizen-registry": (
            "soap",
            {"wsdl": wsdl_url, "operation": "LookupCitizen", "timeout_seconds": 5},
        ),
    }
    key = None
    with registry.changing(hub) as conn:
        for name, (type_name, config) in connectors.items():
            if _exists(conn, connector_instances, connector_instances.c.name, name):
                registry.update_entry(hub, actor, "connectors", name, {"config": config}, conn=conn)
            else:
                registry.add_connector(hub, actor, name, type_name, config, conn=conn)
        if _exists(conn, agencies, agencies.c.code, PROVINCE):
            return None
        registry.add_agency(hub, actor, PROVINCE, "Ủy ban nhân dân tỉnh (demo)", level=2, conn=conn)
        registry.add_agency(
            hub,
            actor,
            DEPARTMENT,
            "Văn phòng UBND tỉnh (demo)",
            parent_code=PROVINCE,
            level=2,
            conn=conn,
        )
        if not _exists(conn, systems, systems.c.code, DEMO_SYSTEM):
            key = registry.add_system(
                hub, actor, DEMO_SYSTEM, PROVINCE, "Hệ thống một cửa điện tử (demo)", conn=conn
            )["api_key"]
        registry.add_service(
            hub,
            actor,
            "dossier.status",
            "Dossier progress to the portal",
            mode="async",
            request_schema="dossier-status.v1.json",
            conn=conn,
        )
        registry.add_service(
            hub,
            actor,
            "citizen.lookup",
            "Citizen lookup by ID number",
            mode="sync",
            request_schema="citizen-lookup.v1.json",
            conn=conn,
        )
        registry.allow(hub, actor, DEMO_SYSTEM, "dossier.status", conn=conn)
        registry.allow(hub, actor, DEMO_SYSTEM, "citizen.lookup", conn=conn)
        registry.add_route(
            hub,
            actor,
            "dossier-status-to-portal",
            "provincial-portal",
            service_code="dossier.status",
            conn=conn,
        )
        registry.add_route(
            hub,
            actor,
            "citizen-lookup-to-registry",
            "citizen-registry",
            service_code="citizen.lookup",
            conn=conn,
        )
    if key:
        path = hub.settings.data_dir / "demo.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    return key
