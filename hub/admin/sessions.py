"""Who is at the console: an admin logs in with their system's API key and gets a session.

The cookie holds a random token; the store keeps only its SHA-256, so a copy of the database
cannot be used to log in. A session ends at logout, after ``console_idle_minutes`` without a
request, or ``console_session_hours`` after login, and as soon as its system stops being an
active admin (key revoked, system deactivated, role changed). Each session has a CSRF token
that every form and script sends back with a change (``X-CSRF-Token`` or a ``csrf`` field).
Logins, refused logins and logouts are written to the audit log and the denials.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update

from hub import access
from hub.context import Hub
from hub.errors import Forbidden, Unauthenticated
from hub.model import Caller
from hub.registry.writes import audit
from hub.store.db import as_utc, utcnow
from hub.store.tables import console_sessions, systems

__all__ = ["COOKIE", "Session", "check_csrf", "current", "end", "start"]

COOKIE = "lgsp_console"
TOUCH_SECONDS = 30.0  # the idle deadline moves at most this often: not a write per request


@dataclass(frozen=True)
class Session:
    id: str
    system: str
    agency: str
    csrf: str
    expires_at: datetime

    @property
    def caller(self) -> Caller:
        """The admin as the read side and the registry's writes know callers."""
        return Caller(system=self.system, agency=self.agency, role="admin")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(hub: Hub, key: str, remote_addr: str | None) -> tuple[str, Session]:
    """Log in with an admin's API key: the cookie's token and the new session. A wrong key or
    a key that is not an admin's is refused (and recorded) like on the API."""
    caller = access.authenticate(hub.registry, hub.denials, key, "console login", remote_addr)
    access.require_admin(hub.denials, caller, "console login", remote_addr)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    settings = hub.settings
    row = {
        "id": _digest(token),
        "system_code": caller.system,
        "csrf_token": secrets.token_urlsafe(32),
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + timedelta(minutes=settings.console_idle_minutes),
        "ends_at": now + timedelta(hours=settings.console_session_hours),
        "remote_addr": (remote_addr or "")[:64] or None,
    }
    with hub.begin() as conn:
        conn.execute(insert(console_sessions).values(**row))
        audit(conn, caller.system, "console_login", caller.system)
    session = Session(row["id"], caller.system, caller.agency, row["csrf_token"], row["expires_at"])
    return token, session


def current(hub: Hub, token: str | None) -> Session:
    """The live session of ``token``, its idle deadline moved on; ``Unauthenticated`` if there
    is none (never was, logged out, expired, or its system is no longer an active admin)."""
    if not token or len(token) > 100:
        raise Unauthenticated("log in to the console first")
    now = utcnow()
    query = (
        select(
            console_sessions,
            systems.c.agency_code,
            systems.c.role,
            systems.c.active,
            systems.c.key_revoked_at,
        )
        .join(systems, systems.c.code == console_sessions.c.system_code)
        .where(console_sessions.c.id == _digest(token))
    )
    with hub.reader.connect() as conn:
        row = conn.execute(query).mappings().first()
    if (
        row is None
        or row["ended_at"] is not None
        or as_utc(row["expires_at"]) <= now
        or as_utc(row["ends_at"]) <= now
        or row["role"] != "admin"
        or not row["active"]
        or row["key_revoked_at"] is not None
    ):
        raise Unauthenticated("the console session has ended; log in again")
    expires = as_utc(row["expires_at"])
    if (now - as_utc(row["last_seen_at"])).total_seconds() >= TOUCH_SECONDS:
        expires = min(
            now + timedelta(minutes=hub.settings.console_idle_minutes), as_utc(row["ends_at"])
        )
        with hub.engine.begin() as conn:
            conn.execute(
                update(console_sessions)
                .where(console_sessions.c.id == row["id"])
                .values(last_seen_at=now, expires_at=expires)
            )
    return Session(row["id"], row["system_code"], row["agency_code"], row["csrf_token"], expires)


def end(hub: Hub, session: Session) -> None:
    with hub.begin() as conn:
        conn.execute(
            update(console_sessions)
            .where(console_sessions.c.id == session.id)
            .values(ended_at=utcnow())
        )
        audit(conn, session.system, "console_logout", session.system)


def check_csrf(hub: Hub, session: Session, presented: str | None, action: str, addr: str | None):
    """A change must carry the session's CSRF token: a page of another site that makes the
    admin's browser post here has the cookie but not the token."""
    if presented and hmac.compare_digest(presented.encode(), session.csrf.encode()):
        return
    hub.denials.add(None, None, action, "console: missing or wrong CSRF token", addr)
    raise Forbidden("the form is stale or not from this console; reload the page and retry")
