"""Claim check: payloads above ``blob_threshold_bytes`` live in a content-addressed file store
and the message row keeps only ``blob_ref``. Writes go to a temporary file and are renamed into
place, so a reader never sees half a blob and two writers of the same content agree.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from hub.errors import NotFound


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its reference (``sha256:<hex>``). Idempotent."""
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        return f"sha256:{digest}"

    def get(self, ref: str) -> bytes:
        scheme, _, digest = ref.partition(":")
        path = self._path(digest)
        if scheme != "sha256" or not path.exists():
            raise NotFound(f"blob {ref} is missing from the blob store")
        return path.read_bytes()
