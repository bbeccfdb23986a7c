"""Where the real samples are, and small edXML documents written for the tests."""

from __future__ import annotations

import os
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "domain" / "samples"
STRAY_BYTES = "vxp-sdk-example/edoc_new.edxml"  # starts with "1212" before <?xml


def sample_files() -> list[str]:
    """Every file of the samples folder, relative to it (the XSDs and notes too)."""
    if not SAMPLES.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"{SAMPLES} is missing")
        return []
    return sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.glob("*/*") if p.is_file())


NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"


def edoc_xml(header: str = "", *, traces: str = "", body: str = "", attachments: str = "") -> bytes:
    """A small edXML document; ``header`` replaces the default MessageHeader content."""
    header = header or (
        "<From><OrganId>000.00.20.H49</OrganId><OrganName>UBND xã A</OrganName></From>"
        "<To><OrganId>000.00.00.H49</OrganId><OrganName>UBND tỉnh</OrganName></To>"
        "<DocumentId>000.00.20.H49,2026/11/27,12/UBND-VP</DocumentId>"
        "<Subject>Báo cáo</Subject>"
    )
    trace_list = f"<TraceHeaderList>{traces}</TraceHeaderList>" if traces else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader>'
        f"<MessageHeader>{header}</MessageHeader>{trace_list}</edXMLHeader>"
        f"<edXMLBody><edXMLManifest version='1.0'>{body}</edXMLManifest></edXMLBody>"
        f"</edXMLEnvelope>{attachments}</edXML>"
    ).encode()
