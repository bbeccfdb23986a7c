"""Schemas and mappings uploaded to the registry, every version kept. A name's latest version
is what the hub uses, unless a reference pins one (``name@3``); a name never uploaded is the
built-in file of that name (``LGSP_SCHEMA_DIR`` / ``LGSP_MAPPING_DIR``), version 0.

Every process reads the latest versions from the store, kept for ``ttl`` seconds (this
process's own uploads apply at once), so all replicas use the same document within the cache
window, with no restart. Uploads are checked by their owner (``hub.schemas``,
``hub.mapping``) before they are stored: a document that fails is refused whole and the last
good version stays in force. A stored version never changes, so its content is cached for good.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, insert, select

from hub.errors import NotFound, SchemaViolation
from hub.registry.writes import audit, writing
from hub.store.db import utcnow
from hub.store.tables import documents

if TYPE_CHECKING:
    from hub.context import Hub

__all__ = ["KINDS", "MAX_DOCUMENT_BYTES", "Document", "Documents", "split_ref", "store"]

KINDS = ("schema", "mapping")
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
_REF = re.compile(r"^(?P<name>[A-Za-z0-9_][A-Za-z0-9_.-]{0,199})(?:@(?P<version>[0-9]{1,9}))?$")


def split_ref(ref: str) -> tuple[str, int | None]:
    """``name`` or ``name@version`` → (name, version or None for the latest)."""
    match = _REF.match(ref)
    if match is None:
        raise SchemaViolation(
            f"{ref!r} is not a document name (letters, digits, . _ -; optionally @version)",
            errors=[{"path": "/name", "message": "invalid name"}],
        )
    version = match["version"]
    return match["name"], int(version) if version else None


@dataclass(frozen=True)
class Document:
    kind: str
    name: str
    version: int
    content: str
    examples: Any
    sha256: str


class Documents:
    def __init__(self, reader: Engine, ttl: float) -> None:
        self._reader = reader
        self._ttl = ttl
        self._latest: dict[str, tuple[float, dict[str, int]]] = {}
        self._versions: dict[tuple[str, str, int], Document] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()

    def latest(self, kind: str) -> dict[str, int]:
        """Each uploaded name of ``kind`` with its latest version (cached ``ttl`` seconds)."""
        now = time.monotonic()
        with self._lock:
            hit = self._latest.get(kind)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(documents.c.name, func.max(documents.c.version))
                .where(documents.c.kind == kind)
                .group_by(documents.c.name)
            ).all()
        found = {name: version for name, version in rows}
        with self._lock:
            self._latest[kind] = (now, found)
        return found

    def get(self, kind: str, ref: str) -> Document | None:
        """The document ``ref`` (``name`` or ``name@version``) names, or None when the name was
        never uploaded (the built-in file, if any, is used). A pinned version that does not
        exist is ``NotFound``."""
        name, version = split_ref(ref)
        if version is None:
            version = self.latest(kind).get(name)
            if version is None:
                return None
        key = (kind, name, version)
        with self._lock:
            hit = self._versions.get(key)
        if hit is not None:
            return hit
        with self._reader.connect() as conn:
            row = (
                conn.execute(
                    select(documents).where(
                        documents.c.kind == kind,
                        documents.c.name == name,
                        documents.c.version == version,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"{kind} {name!r} has no version {version}")
        document = Document(kind, name, version, row["content"], row["examples"], row["sha256"])
        with self._lock:
            self._versions[key] = document
        return document

    def history(self, kind: str, name: str) -> list[dict[str, Any]]:
        with self._reader.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    select(
                        documents.c.version,
                        documents.c.sha256,
                        documents.c.actor,
                        documents.c.created_at,
                    )
                    .where(documents.c.kind == kind, documents.c.name == name)
                    .order_by(documents.c.version)
                ).mappings()
            ]


def store(
    hub: Hub,
    actor: str,
    kind: str,
    name: str,
    content: str,
    examples: Any = None,
    *,
    reason: str | None = None,
    conn: Connection | None = None,
) -> tuple[int, bool]:
    """Keep ``content`` (already checked by its owner) as the next version of ``name``;
    uploading what the latest version already holds makes no new version. Returns
    ``(version, created)``."""
    plain, pinned = split_ref(name)
    if pinned is not None:
        raise SchemaViolation(
            "upload to a name, not to a version", errors=[{"path": "/name", "message": "@"}]
        )
    digest = hashlib.sha256(content.encode()).hexdigest()
    with writing(hub, conn) as conn:
        latest = conn.execute(
            select(documents.c.version, documents.c.sha256, documents.c.examples)
            .where(documents.c.kind == kind, documents.c.name == plain)
            .order_by(documents.c.version.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.sha256 == digest and latest.examples == examples:
            return latest.version, False
        version = (latest.version if latest else 0) + 1
        conn.execute(
            insert(documents).values(
                kind=kind,
                name=plain,
                version=version,
                content=content,
                examples=examples,
                sha256=digest,
                actor=actor,
                created_at=utcnow(),
            )
        )
        audit(conn, actor, f"upload_{kind}", f"{plain}@{version}", reason)
    return version, True
