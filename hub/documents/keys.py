"""The keys documents are signed with and the CAs their signatures must chain to, read from
``LGSP_EDOC_KEYS_DIR`` ({agency code}.key.pem / .cert.pem) and ``LGSP_EDOC_TRUST_DIR``, and
kept while the files do not change (a new key or CA takes effect without a restart)."""

from __future__ import annotations

import threading
from pathlib import Path

from hub.config import Settings
from hub.edxml.trust import SigningKey, TrustStore

__all__ = ["signing_key", "trust_store"]

_lock = threading.Lock()
_trust: dict[Path, tuple[float, TrustStore]] = {}
_keys: dict[Path, tuple[float, SigningKey]] = {}


def _stamp(path: Path) -> float:
    """Changes when any file under ``path`` is added, removed or rewritten."""
    if not path.is_dir():
        return -1.0
    files = list(path.rglob("*"))
    return sum(p.stat().st_mtime_ns for p in files) + len(files)


def trust_store(settings: Settings) -> TrustStore:
    """The CAs incoming signatures must chain to (none if the directory does not exist: then
    every signed document is from an unknown signer). ``ValueError`` names a bad file."""
    root = settings.trust_path
    stamp = _stamp(root)
    with _lock:
        known = _trust.get(root)
        if known and known[0] == stamp:
            return known[1]
        store = TrustStore.load(root) if root.is_dir() else TrustStore([])
        _trust[root] = (stamp, store)
        return store


def signing_key(settings: Settings, agency: str) -> SigningKey | None:
    """``agency``'s key and certificate, or None if the hub holds none for it."""
    key_path = settings.keys_path / f"{agency}.key.pem"
    cert_path = settings.keys_path / f"{agency}.cert.pem"
    if not key_path.is_file() or not cert_path.is_file():
        return None
    stamp = key_path.stat().st_mtime_ns + cert_path.stat().st_mtime_ns
    with _lock:
        known = _keys.get(key_path)
        if known and known[0] == stamp:
            return known[1]
        key = SigningKey.load(key_path, cert_path)
        _keys[key_path] = (stamp, key)
        return key
