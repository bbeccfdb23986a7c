"""First start: the hub's own agency and its admin system. The admin API key is written once
to ``data_dir/admin.key`` (mode 0600) and printed once; it is never stored in clear."""

from __future__ import annotations

from sqlalchemy import select

from hub import registry
from hub.context import Hub
from hub.security import write_private
from hub.store.tables import agencies, systems

__all__ = ["ADMIN_SYSTEM", "OPERATOR_AGENCY", "ensure_admin"]

OPERATOR_AGENCY = "lgsp-hub"
ADMIN_SYSTEM = "lgsp-admin"


def ensure_admin(hub: Hub) -> str | None:
    """Create the admin system if there is none; returns the new key, or None if it existed."""
    with registry.changing(hub) as conn:
        if conn.execute(select(systems.c.code).where(systems.c.role == "admin")).first():
            return None
        if not conn.execute(
            select(agencies.c.code).where(agencies.c.code == OPERATOR_AGENCY)
        ).first():
            registry.add_agency(hub, "bootstrap", OPERATOR_AGENCY, "LGSP Hub operator", conn=conn)
        key = registry.add_system(
            hub,
            "bootstrap",
            ADMIN_SYSTEM,
            OPERATOR_AGENCY,
            "Hub administrators",
            role="admin",
            conn=conn,
        )["api_key"]
    path = hub.settings.admin_key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, key + "\n")
    return key
