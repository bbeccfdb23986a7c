"""A payload handle: what the hub passes around instead of the bytes themselves.

A small payload lives in memory; a large one is a file in the blob store (claim check) and is
only ever read in chunks. Either way a handle knows its size, its SHA-256 and its content type,
and ``open()`` gives a fresh binary reader from the start. Connectors stream ``open()`` to the
partner; code that needs the whole value (a JSON mapping, a small XML tree) calls ``read()``,
which refuses a payload larger than ``limit`` rather than filling the memory.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["CHUNK", "Payload"]

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Payload:
    size: int
    sha256: str
    content_type: str
    data: bytes | None = None
    path: Path | None = None

    @classmethod
    def of(cls, data: bytes, content_type: str) -> Payload:
        return cls(len(data), hashlib.sha256(data).hexdigest(), content_type, data=data)

    @classmethod
    def stored(cls, path: Path, size: int, sha256: str, content_type: str) -> Payload:
        return cls(size, sha256, content_type, path=Path(path))

    @property
    def in_memory(self) -> bool:
        return self.data is not None

    def with_type(self, content_type: str) -> Payload:
        return Payload(self.size, self.sha256, content_type, self.data, self.path)

    def open(self) -> BinaryIO:
        """A new reader positioned at the first byte; the caller closes it."""
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")  # noqa: SIM115 - handed to the caller

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        with self.open() as fh:
            while block := fh.read(size):
                yield block

    def read(self, limit: int | None = None) -> bytes:
        """The whole payload; ``ValueError`` if it is larger than ``limit`` bytes."""
        if limit is not None and self.size > limit:
            raise ValueError(
                f"payload of {self.size} bytes is over the {limit}-byte limit "
                "for whole-value processing"
            )
        if self.data is not None:
            return self.data
        with self.open() as fh:
            return fh.read()
