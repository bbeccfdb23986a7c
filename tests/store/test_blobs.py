"""The claim-check blob store: streamed writes, content addressing, durability, handles."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hub.errors import NotFound, PayloadTooLarge
from hub.store.blobs import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs")


def leftovers(store: BlobStore) -> list[Path]:
    return list(store.root.glob(".tmp-*"))


def test_put_stream_hashes_once_while_writing_and_returns_ref_size_and_digest(
    store: BlobStore,
) -> None:
    chunks = [b"edXML ", b"attachment ", b"x" * 100_000]
    digest = hashlib.sha256(b"".join(chunks)).hexdigest()

    ref, size, sha256 = store.put_stream(iter(chunks))

    assert (ref, size, sha256) == (f"sha256:{digest}", 100_017, digest)
    assert store.path(ref) == store.root / digest[:2] / digest[2:4] / digest
    assert store.path(ref).read_bytes() == b"".join(chunks)
    assert leftovers(store) == []


def test_the_same_content_twice_is_stored_once(store: BlobStore) -> None:
    first = store.put_stream([b"a", b"b"])
    second = store.put_stream([b"ab"])
    assert first == second
    assert store.put(b"ab") == first[0]
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 1


def test_writer_takes_chunks_one_by_one_and_commits(store: BlobStore) -> None:
    writer = store.writer()
    for chunk in (b"1", b"22", b"333"):
        writer.write(chunk)
    assert writer.size == 6
    ref, size, sha256 = writer.commit()
    assert writer.commit() == (ref, size, sha256)  # idempotent
    assert store.get(ref) == b"122333"


def test_an_aborted_writer_leaves_nothing_behind(store: BlobStore) -> None:
    with store.writer() as writer:
        writer.write(b"half a body")
    assert leftovers(store) == [] and not writer.result
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_an_exception_while_writing_aborts(store: BlobStore) -> None:
    def chunks():
        yield b"start"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_stream(chunks())
    assert leftovers(store) == []


def test_a_body_over_the_limit_is_refused_and_dropped(store: BlobStore) -> None:
    writer = store.writer(max_bytes=10)
    writer.write(b"x" * 10)
    with pytest.raises(PayloadTooLarge) as caught:
        writer.write(b"y")
    assert caught.value.details == {"max_bytes": 10}
    assert leftovers(store) == []


def test_payload_is_a_handle_on_the_file_read_in_chunks(store: BlobStore) -> None:
    data = bytes(range(256)) * 10_000
    ref, size, sha256 = store.put_stream([data])

    payload = store.payload(ref, size, sha256, "application/zip")

    assert not payload.in_memory and payload.path == store.path(ref)
    assert (payload.size, payload.sha256, payload.content_type) == (size, sha256, "application/zip")
    assert b"".join(payload.chunks(4096)) == data


@pytest.mark.parametrize(
    "ref", ["sha256:" + "0" * 64, "md5:abc", "sha256:../../etc/passwd", "nonsense"]
)
def test_a_missing_or_invalid_reference_is_not_found(store: BlobStore, ref: str) -> None:
    for call in (store.path, store.get, lambda r: store.payload(r, 0, "", "x")):
        with pytest.raises(NotFound):
            call(ref)
