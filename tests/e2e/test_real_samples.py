"""The real edXML messages in shared/domain/samples pass through the hub as they are: accepted,
delivered byte for byte, recognised when resubmitted — and the one with stray bytes before the
XML declaration is refused with a clear error, not a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hub.client import ClientError
from tests.support.partners import allow, register_rest_route, register_sender, register_service
from tests.support.running import wait_until

pytestmark = pytest.mark.timeout(120)

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "domain" / "samples"
STRAY_BYTES = "vxp-sdk-example/edoc_new.edxml"  # starts with "1212" before <?xml


def _samples() -> list[str]:
    if not SAMPLES.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"{SAMPLES} is missing")
        return []
    return sorted(
        str(p.relative_to(SAMPLES))
        for p in SAMPLES.glob("*/*")
        if p.suffix in (".edxml", ".xml") and p.parent.name != "population-db-mock"
    )


@pytest.fixture
def sender(running, sink):
    admin = running.admin()
    key = register_sender(admin)
    register_service(admin, "edoc.exchange", schema=None, content_type="application/xml")
    register_rest_route(admin, sink.url, name="qlvb", service="edoc.exchange", path="/qlvb")
    allow(admin, "motcua", "edoc.exchange")
    return running.client(key)


@pytest.mark.skipif(not _samples(), reason="shared/domain/samples not beside the checkout")
def test_every_real_sample_is_accepted_and_delivered_byte_for_byte(sender, sink):
    files = [f for f in _samples() if f != STRAY_BYTES]
    sent = {}
    for name in files:
        body = (SAMPLES / name).read_bytes()
        sent[sender.send("edoc.exchange", body, "application/xml")["id"]] = body
    wait_until(lambda: len(sink.unique) == len(files), what="all samples delivered")
    delivered = {r.headers["idempotency-key"]: r.body for r in sink.unique}
    assert delivered == sent


@pytest.mark.skipif(not _samples(), reason="shared/domain/samples not beside the checkout")
def test_sample_with_bytes_before_the_declaration_is_refused_clearly(sender, sink):
    with pytest.raises(ClientError) as refused:
        sender.send("edoc.exchange", (SAMPLES / STRAY_BYTES).read_bytes(), "application/xml")
    assert refused.value.status == 400 and refused.value.code == "malformed_input"
    assert refused.value.details["line"] == 1


@pytest.mark.skipif(not _samples(), reason="shared/domain/samples not beside the checkout")
def test_resubmitted_document_is_recognised_but_its_update_is_not_a_duplicate(sender, sink):
    new = (SAMPLES / "bkav-edoc-integrator/edoc_new_tayninh.edxml").read_bytes()
    update = (SAMPLES / "vxp-sdk-example/edoc_update.edxml").read_bytes()
    first = sender.send("edoc.exchange", new, "application/xml")
    again = sender.send("edoc.exchange", new, "application/xml")
    assert again == {**first, "duplicate": True}
    assert sender.send("edoc.exchange", update, "application/xml")["duplicate"] is False
    page = sender.json(
        "GET", "/v1/messages", params={"document_id": "000.00.11.H53,2020/10/30,2491/STC-BCTC"}
    )
    assert [m["id"] for m in page["items"]] == [first["id"]]
