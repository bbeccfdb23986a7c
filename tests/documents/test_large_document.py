"""A document with a 100 MB attachment end to end: posted as a stream, read with its
attachment decoded into the blob store, its hop appended, held for the receiving system and
fetched back — the attachment's digest unchanged."""

from __future__ import annotations

import hashlib
import os

import pytest

from hub.edxml import builder, jsonform, reader
from tests.conftest import make_settings, open_hub
from tests.documents.province import COMMUNE, PROVINCE, XML, register
from tests.support.running import start_hub

pytestmark = pytest.mark.timeout(180)
SIZE = 100 * 1024 * 1024


def test_a_100_mb_attachment_end_to_end(tmp_path, request):
    content = tmp_path / "attachment.zip"
    digest = hashlib.sha256()
    with open(content, "wb") as fh:
        for _ in range(SIZE // (1 << 20)):
            block = b"PK\x03\x04" + os.urandom((1 << 20) - 4)
            digest.update(block)
            fh.write(block)
    flat = {
        "kind": "edoc",
        "from": {"organ_id": COMMUNE, "organ_name": "UBND phường"},
        "to": [{"organ_id": PROVINCE, "organ_name": "UBND thành phố"}],
        "document_id": f"{COMMUNE},2026/11/27,100/UBND-VP",
        "code_number": "100",
        "code_notation": "UBND-VP",
        "promulgation_date": "2026/11/27",
        "document_type": "1",
        "subject": "Hồ sơ lớn",
        "traces": [{"organ_id": COMMUNE, "timestamp": "2026/11/27 09:00:00"}],
        "attachments": [
            {"name": "ho-so.zip", "content_type": "application/zip", "content_base64": ""}
        ],
    }
    message, _ = jsonform.from_json(flat)
    document = builder.build(message, tmp_path / "big.edxml", lambda a: open(content, "rb"))

    hub = open_hub(make_settings("sqlite", tmp_path / "hub", request))
    running = start_hub(hub)
    try:
        keys = register(running.admin(), "http://127.0.0.1:9")
        xa, tinh = running.client(keys["qlvb-xa"]), running.client(keys["qlvb-tinh"])
        with open(document, "rb") as body:
            answer = xa.session.post(xa.url + "/v1/documents", data=body, headers=XML, timeout=120)
        assert answer.status_code == 202, answer.text
        (item,) = tinh.json("GET", "/v1/documents/inbox")["items"]
        assert item["size"] > SIZE
        fetched = tmp_path / "fetched.edxml"
        with (
            tinh.session.get(
                f"{tinh.url}/v1/documents/inbox/{item['id']}", stream=True, timeout=120
            ) as got,
            open(fetched, "wb") as out,
        ):
            assert got.status_code == 200
            for chunk in got.iter_content(1 << 20):
                out.write(chunk)
        back = reader.read(fetched)
        (attachment,) = back.attachments
        assert (attachment.size, attachment.sha256) == (SIZE, digest.hexdigest())
        assert len(back.traces) == 2  # the hub's hop
        view = running.admin().json("GET", "/v1/documents", params={"id": back.document_id})
        (stored,) = view["documents"][0]["attachments"]
        assert stored["sha256"] == digest.hexdigest()  # decoded into the blob store on accept
        assert hub.blobs.path(f"sha256:{digest.hexdigest()}").stat().st_size == SIZE
    finally:
        running.stop()
