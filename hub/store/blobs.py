"""Claim check: payloads above ``blob_threshold_bytes`` live in a content-addressed file store
and the message row keeps only ``blob_ref`` (``sha256:<hex>``).

A body is written once, chunk by chunk, to a temporary file in the blob directory while it is
hashed; the file is fsynced and renamed to ``<root>/ab/cd/<digest>``, and the directory is
fsynced, so a reader never sees half a blob, a committed message never points at a blob lost in
a crash, and two writers of the same content agree (the second one just drops its copy).
Nothing is ever held whole in memory: a 1 GB body costs one chunk.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from hub.errors import NotFound, PayloadTooLarge
from hub.payload import Payload

__all__ = ["BlobStore", "BlobWriter"]

_REF = re.compile(r"^sha256:([0-9a-f]{64})$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def writer(self, max_bytes: int | None = None) -> BlobWriter:
        """A writer to feed chunk by chunk (see :class:`BlobWriter`)."""
        return BlobWriter(self, max_bytes)

    def put_stream(
        self, chunks: Iterable[bytes], max_bytes: int | None = None
    ) -> tuple[str, int, str]:
        """Store the concatenation of ``chunks``; returns ``(ref, size, sha256)``. Idempotent."""
        with self.writer(max_bytes) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def put(self, data: bytes) -> str:
        """Store ``data``; returns its reference (``sha256:<hex>``). Idempotent."""
        return self.put_stream((data,))[0]

    def path(self, ref: str) -> Path:
        """Where the blob ``ref`` lives; ``NotFound`` if the reference is invalid or missing."""
        found = _REF.match(ref)
        path = self._path(found.group(1)) if found else None
        if path is None or not path.is_file():
            raise NotFound(f"blob {ref} is missing from the blob store")
        return path

    def payload(self, ref: str, size: int, sha256: str, content_type: str) -> Payload:
        """A handle on the stored blob, read in chunks by whoever uses it."""
        return Payload.stored(self.path(ref), size, sha256, content_type)

    def get(self, ref: str) -> bytes:
        """The whole blob in memory: for small blobs only; prefer :meth:`payload`."""
        return self.path(ref).read_bytes()

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest


class BlobWriter:
    """One blob being written: ``write(chunk)`` as the chunks arrive, then ``commit()`` →
    ``(ref, size, sha256)``, or ``abort()``. Used as a context manager, it aborts unless
    committed. ``max_bytes``: a ``write`` past it aborts and raises ``PayloadTooLarge``.

    ``write`` is a plain buffered file write (cheap enough to call from an async request
    handler per received chunk); ``commit`` fsyncs twice, so an async caller runs it in a
    thread (``await anyio.to_thread.run_sync(writer.commit)``). Not thread-safe: one writer per
    body.
    """

    def __init__(self, store: BlobStore, max_bytes: int | None = None) -> None:
        store.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=store.root, prefix=".tmp-")
        self._store = store
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(tmp)
        self._hash = hashlib.sha256()
        self._max = max_bytes
        self.size = 0
        self.result: tuple[str, int, str] | None = None

    def write(self, chunk: bytes) -> None:
        if self._file.closed:
            raise ValueError("blob writer is already committed or aborted")
        self.size += len(chunk)
        if self._max is not None and self.size > self._max:
            self.abort()
            raise PayloadTooLarge(f"body is larger than {self._max} bytes", max_bytes=self._max)
        self._hash.update(chunk)
        self._file.write(chunk)

    def sha256(self) -> str:
        """The SHA-256 of what was written so far (hex)."""
        return self._hash.hexdigest()

    def commit(self) -> tuple[str, int, str]:
        """Make the blob durable and visible; returns ``(ref, size, sha256)``. Idempotent."""
        if self.result is not None:
            return self.result
        if self._file.closed:
            raise ValueError("blob writer was aborted")
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            digest = self._hash.hexdigest()
            path = self._store._path(digest)
            if path.exists():  # same content already stored: ours is a duplicate
                self._tmp.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._tmp, path)
                _fsync_dir(path.parent)
        except BaseException:
            self.abort()
            raise
        self.result = (f"sha256:{digest}", self.size, digest)
        return self.result

    def abort(self) -> None:
        """Drop what was written. Safe to call more than once, and after ``commit``."""
        if self.result is not None:
            return
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


def _fsync_dir(path: Path) -> None:
    """Persist a rename: the new directory entry survives a power cut only once this returns."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
