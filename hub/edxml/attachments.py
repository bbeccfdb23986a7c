"""Where an edXML message's attachments go as the reader decodes them: a sink gives a writer per
attachment (the blob store in the hub; ``DigestSink`` keeps only the size and SHA-256, for
``lgsp edxml check``), and ``Base64`` decodes the ``ContentTransferEncoded`` text piece by piece
as expat hands it over, checking the alphabet, so no attachment is ever held whole.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import Protocol

from hub.edxml.envelope import invalid

__all__ = ["AttachmentSink", "AttachmentWriter", "Base64", "DigestSink"]


class AttachmentWriter(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> tuple[str | None, int, str]: ...
    def abort(self) -> None: ...


class AttachmentSink(Protocol):
    """Where decoded attachments go: ``writer()`` for each; ``commit`` gives (ref, size, sha256)."""

    def writer(self) -> AttachmentWriter: ...


class DigestSink:
    """Keeps nothing: size and SHA-256 only (``lgsp edxml check``, a dry run)."""

    class _Writer:
        def __init__(self) -> None:
            self.size, self.hash = 0, hashlib.sha256()

        def write(self, chunk: bytes) -> None:
            self.size += len(chunk)
            self.hash.update(chunk)

        def commit(self) -> tuple[str | None, int, str]:
            return None, self.size, self.hash.hexdigest()

        def abort(self) -> None:
            pass

    def writer(self) -> AttachmentWriter:
        return DigestSink._Writer()


class Base64:
    """base64 decoded piece by piece: whitespace skipped, the alphabet checked."""

    def __init__(self) -> None:
        self.rest = ""
        self.seen = 0
        self.ended = False
        self.head = b""  # the first decoded bytes, to tell what the content is

    def feed(self, text: str, path: str) -> bytes:
        data = self._decode("".join(text.split()), path)
        if len(self.head) < 8:
            self.head += data[: 8 - len(self.head)]
        return data

    def _decode(self, text: str, path: str) -> bytes:
        if not text:
            return b""
        if self.ended:
            raise invalid(path, f"not valid base64: data after the padding (near {self.seen})")
        data = self.rest + text
        cut = len(data) - len(data) % 4
        self.rest = data[cut:]
        chunk = data[:cut]
        self.seen += len(text)
        if chunk.endswith("="):
            self.ended = True
        try:
            return binascii.a2b_base64(chunk.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise invalid(
                path, f"not valid base64 (within characters {self.seen - len(text)}-{self.seen})"
            ) from None

    def finish(self, path: str) -> bytes:
        if self.rest:
            raise invalid(path, "not valid base64: its length is not a multiple of 4")
        return b""
