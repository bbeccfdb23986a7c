"""A system's API key after registration: rotated (a new key shown once; the old one still
accepted for a grace period, so the system can switch without an outage) or revoked at once
(no key of the system is accepted until a rotation issues a new one)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, update

from hub.errors import SchemaViolation
from hub.registry.lifecycle import keep_an_admin, why
from hub.registry.models import MAX_GRACE_SECONDS
from hub.registry.reads import get, public_system
from hub.registry.writes import audit, writing
from hub.security import new_api_key
from hub.store.db import utcnow
from hub.store.tables import systems

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["revoke_key", "rotate_key"]


def rotate_key(
    hub: Hub,
    actor: str,
    code: str,
    grace_seconds: float = 86400.0,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> dict[str, Any]:
    """A new key for system ``code`` (returned once as ``api_key``). The key in use until now
    stays valid for ``grace_seconds`` (0: refused at once); a key already revoked does not
    come back. A key from an earlier rotation is dropped: only the last two keys ever work."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise SchemaViolation(
            f"grace_seconds must be between 0 and {MAX_GRACE_SECONDS}",
            errors=[{"path": "/grace_seconds", "message": "out of range"}],
        )
    key, prefix, digest = new_api_key()
    now = utcnow()
    with writing(hub, conn) as conn:
        row = get(conn, "systems", code, hidden=True)
        keep_old = grace_seconds > 0 and row["key_revoked_at"] is None
        values = {
            "key_prefix": prefix,
            "key_hash": digest,
            "previous_key_prefix": row["key_prefix"] if keep_old else None,
            "previous_key_hash": row["key_hash"] if keep_old else None,
            "previous_key_until": now + timedelta(seconds=grace_seconds) if keep_old else None,
            "key_revoked_at": None,
        }
        conn.execute(update(systems).where(systems.c.code == code).values(**values))
        audit(conn, actor, "rotate_key", code, why(reason, grace_s=f"{grace_seconds:g}"))
    return {**public_system({**row, **values}), "api_key": key}


def revoke_key(
    hub: Hub, actor: str, code: str, *, reason: str | None = None, conn: Connection | None = None
) -> dict[str, Any]:
    """Refuse every key of system ``code`` from now on (this process at once, the others
    within the registry cache window)."""
    now = utcnow()
    with writing(hub, conn) as conn:
        row = get(conn, "systems", code, hidden=True)
        if row["role"] == "admin":
            keep_an_admin(conn, code, "revoke the key of")
        values = {"key_revoked_at": now, "previous_key_until": None}
        conn.execute(update(systems).where(systems.c.code == code).values(**values))
        audit(conn, actor, "revoke_key", code, reason)
    return public_system({**row, **values})
