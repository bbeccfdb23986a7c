"""An edXML document's trace in the console shows what the hub read in its header (sender,
subject, business type, signature, attachments, the deviations found) and, for each
recipient, the chain of status messages that came back — each a link to its own trace."""

from __future__ import annotations

import re

import pytest

from tests.admin.console import Console
from tests.conftest import delete_queues, make_settings, open_hub
from tests.documents.vendor import register_vendor
from tests.edxml.samples import SAMPLES, sample_files
from tests.support.running import start_hub, wait_until

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not sample_files(), reason="shared/domain/samples not beside the checkout"),
]
SENT = ["edoc_update.edxml", "status_inbox_01.edxml", "status_acceptance_03.edxml"]


@pytest.fixture
def documents(tmp_path, request, backend, sink):
    hub = open_hub(make_settings(backend, tmp_path, request, edoc_signatures={"*": "unverified"}))
    running = start_hub(hub)
    client = running.client(register_vendor(running.admin(), sink.url))
    ids = []
    for name in SENT:
        answer = client.session.post(
            client.url + "/v1/documents",
            data=(SAMPLES / "vxp-sdk-example" / name).read_bytes(),
            headers={"Content-Type": "application/xml"},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    admin = running.admin()
    wait_until(
        lambda: all(admin.json("GET", f"/v1/messages/{i}")["status"] == "delivered" for i in ids),
        timeout=60,
        what="the document and its status messages delivered",
    )
    yield running, ids
    running.stop()
    delete_queues(hub)


def test_a_documents_trace_shows_its_header_and_each_recipients_status_chain(documents):
    running, (document, inbox, accepted) = documents
    console = Console(running.url)
    console.login(running.admin_key)
    page = console.page(f"/messages/{document}")
    header = re.search(r'<dl class="facts edoc">.*?</dl>', page, re.S).group(0)
    assert "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT" in header
    assert "BusinessType" in header and "Signature" in header
    chains = re.findall(r'<tr data-recipient="([^"]+)">(.*?)</tr>', page, re.S)
    assert chains, "no recipient rows"
    links = {link for _, row in chains for link in re.findall(r'"/admin/messages/([^"]+)"', row)}
    assert {inbox, accepted} <= links
    codes = {c for _, row in chains for c in re.findall(r">(0[1-6])(?: [a-z_]+)?</a>", row)}
    assert {"01", "03"} <= codes
    # a status message's own trace shows the document it answers
    status_page = console.page(f"/messages/{accepted}")
    assert "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT" in status_page
