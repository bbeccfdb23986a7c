"""A 200 MB edXML document through submit and delivery, on both backends: the partner receives
exactly the bytes that were sent (same size, same SHA-256), and no process along the way held
it in memory — the hub, the sandbox partner and this test share one process here, and its peak
resident memory grows by far less than the document."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.rest_sink import RestSink
from tests.conftest import delete_queues, make_settings, open_hub
from tests.support.partners import allow, register_rest_route, register_sender, register_service
from tests.support.running import RunningHub, start_hub, wait_until

pytestmark = pytest.mark.timeout(300)

SIZE = 200 * 1024 * 1024
HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<edXML:edXMLEnvelope xmlns:edXML="http://www.e-doc.vn/Schema/">'
    b"<edXML:edXMLHeader><edXML:MessageHeader>"
    b"<edXML:DocumentId>000.00.00.H49,2026/11/26,large-1</edXML:DocumentId>"
    b"</edXML:MessageHeader></edXML:edXMLHeader><edXML:edXMLBody><edXML:AttachmentEncoded>"
    b"<edXML:Attachment><edXML:ContentId>att-1</edXML:ContentId>"
    b"<edXML:AttachmentName>scan.pdf</edXML:AttachmentName><edXML:Content>"
)
TAIL = (
    b"</edXML:Content></edXML:Attachment></edXML:AttachmentEncoded></edXML:edXMLBody>"
    b"</edXML:edXMLEnvelope>\n"
)


def _write_document(path: Path) -> tuple[int, str]:
    """An edXML envelope around one ~200 MB base64 attachment, written in pieces."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        for piece in (HEAD, *_base64_pieces(SIZE - len(HEAD) - len(TAIL)), TAIL):
            digest.update(piece)
            fh.write(piece)
    return path.stat().st_size, digest.hexdigest()


def _base64_pieces(total: int) -> Iterator[bytes]:
    raw = os.urandom(3 * 256 * 1024)
    piece = base64.b64encode(raw)  # 1 MiB of base64 text
    while total > 0:
        yield piece[:total]
        total -= len(piece)


def _peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


@pytest.fixture
def roomy(backend, tmp_path, request) -> Iterator[RunningHub]:
    hub = open_hub(make_settings(backend, tmp_path, request, max_body_bytes=SIZE + 1024))
    running = start_hub(hub)
    yield running
    running.stop()
    delete_queues(hub)
    hub.close()


@pytest.fixture
def big_sink() -> Iterator[RestSink]:
    with RestSink(max_body_bytes=2 * SIZE) as server:  # hashes what it does not keep
        yield server


def test_a_200_mb_document_is_delivered_byte_for_byte_at_flat_memory(roomy, big_sink, tmp_path):
    sink = big_sink
    admin = roomy.admin()
    key = register_sender(admin)
    register_service(admin, "edoc.send", schema=None, content_type="application/xml")
    register_rest_route(
        admin, sink.url, name="qlvb", service="edoc.send", path="/edoc", timeout=120
    )
    allow(admin, "motcua", "edoc.send")
    document = tmp_path / "large.edxml"
    size, sha256 = _write_document(document)
    Path("/proc/self/clear_refs").write_text("5")  # restart the peak-memory count here
    before = _peak_rss_kb()
    with document.open("rb") as body:
        resp = requests.post(
            roomy.url + "/v1/messages",
            params={"service": "edoc.send"},
            data=body,
            timeout=240,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/xml",
                "Content-Length": str(size),
            },
        )
    assert resp.status_code == 202, resp.text
    message_id = resp.json()["id"]
    msg = wait_until(
        lambda: (
            (m := admin.json("GET", f"/v1/messages/{message_id}"))["status"] == "delivered" and m
        ),
        timeout=240,
        what="the delivery",
    )
    got = sink.wait_for(1)[-1]
    assert (got.size, got.sha256) == (size, sha256)
    assert (msg["size"], msg["payload_sha256"]) == (size, sha256)
    assert msg["document_id"] == "000.00.00.H49,2026/11/26,large-1"
    grown_mb = (_peak_rss_kb() - before) / 1024
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB for a 200 MB document"
