"""A 1 GB XML document through the hub: memory of every hub process, and time against the
same file POSTed straight to the sink.

The document is an edXML envelope around one huge base64 attachment (a single text node, as a
scanned dossier really is), written to disk in 1 MiB pieces, never held in memory; one of
10 MB (10,000,000 bytes) of the same shape is the reference. Not 10 MiB: below
``LGSP_XML_TREE_LIMIT_BYTES`` (16 MiB) the hub parses XML as a tree, and libxml2 refuses a
text node over 10,000,000 characters as not well-formed. The hub (``lgsp serve``,
``LGSP_MAX_BODY_BYTES`` above the document) gets an XML service without a schema, routed with
``rest`` to the sandbox ``RestSink``, which reads bodies at flat memory and records their size
and SHA-256.

Order: the 10 MB document through the hub (submit → delivered); one second later the RSS of
each hub process is taken and its peak (``VmHWM``, via ``clear_refs``) restarted; the 1 GB file
is POSTed to the sink directly, then to the hub, streamed from disk with its Content-Length,
and the phase waits until the sink has it. Meanwhile every hub process's RSS is sampled every
50 ms; a hub passing ``--rss-cap-mb`` is killed rather than let it take the machine down.
Whatever the hub does (413, a refusal, a dead letter, a crash, a timeout) is reported as such.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from harness import (
    Hub,
    console,
    group_pids,
    memory_kb,
    process_role,
    reset_peak,
    start_hub,
)

from sandbox.rest_sink import RestSink

SERVICE, CONNECTOR = "edoc.send", "qlvb"
MIB, MB = 1024 * 1024, 1000 * 1000  # documents and RSS are in MB (10^6), as the goals
HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<edXML:edXMLEnvelope xmlns:edXML="http://www.e-doc.vn/Schema/">'
    b"<edXML:edXMLHeader><edXML:MessageHeader>"
    b"<edXML:From><edXML:OrganId>000.00.00.H49</edXML:OrganId></edXML:From>"
    b"<edXML:DocumentId>000.00.00.H49,2026/11/26,bench-{n}</edXML:DocumentId>"
    b"<edXML:Subject>Ho so quet</edXML:Subject>"
    b"</edXML:MessageHeader></edXML:edXMLHeader><edXML:edXMLBody><edXML:AttachmentEncoded>"
    b"<edXML:Attachment><edXML:ContentId>att-1</edXML:ContentId>"
    b"<edXML:AttachmentName>scan.pdf</edXML:AttachmentName><edXML:Content>"
)
TAIL = (
    b"</edXML:Content></edXML:Attachment></edXML:AttachmentEncoded></edXML:edXMLBody>"
    b"</edXML:edXMLEnvelope>\n"
)


@dataclass(frozen=True)
class Document:
    path: Path
    size: int
    sha256: str


def write_document(path: Path, size: int) -> Document:
    """An edXML envelope of exactly ``size`` bytes around one base64 attachment, in pieces."""
    head = HEAD.replace(b"{n}", str(size).encode())
    piece = base64.b64encode(os.urandom(3 * MIB // 4))  # 1 MiB of base64, reused
    digest, left = hashlib.sha256(), size - len(head) - len(TAIL)
    with path.open("wb") as fh:
        for part in (head, *(piece[: min(left - k, MIB)] for k in range(0, left, MIB)), TAIL):
            digest.update(part)
            fh.write(part)
    return Document(path, path.stat().st_size, digest.hexdigest())


def make_documents(stack: contextlib.ExitStack, large_mb: int) -> tuple[Document, Document]:
    """The 10 MB and ``large_mb`` documents in a temp dir ``stack`` removes. Refuses (with the
    reason) when the disk cannot hold the file, the hub's blob of it and a spare copy."""
    tmp = Path(tempfile.mkdtemp(prefix="lgsp-bench-xml-"))
    stack.callback(shutil.rmtree, tmp, ignore_errors=True)
    free = shutil.disk_usage(tmp).free
    if free < (3 * large_mb + 2000) * MB:
        raise RuntimeError(
            f"not enough disk in {tmp.parent}: {free // MB} MB free, need {3 * large_mb + 2000} MB"
        )
    started = time.monotonic()
    docs = (
        write_document(tmp / "10mb.xml", 10 * MB),
        write_document(tmp / "large.xml", large_mb * MB),
    )
    console.print(
        f"  wrote {docs[1].size / MB:.0f} MB of XML in {time.monotonic() - started:.1f}s to {tmp}"
    )
    return docs


class Upload:
    """A file as a request body: ``requests`` sends its length as Content-Length and streams
    it; reads are 1 MiB (urllib3 asks for 16 KiB) so the client costs little CPU."""

    def __init__(self, path: Path) -> None:
        self._fh = path.open("rb")
        self._size = path.stat().st_size

    def __len__(self) -> int:
        return self._size

    def read(self, n: int = -1) -> bytes:
        return self._fh.read(max(n, MIB) if n >= 0 else -1)

    def close(self) -> None:
        self._fh.close()


class RssWatch:
    """Samples the RSS of every process of a process group every 50 ms, in a thread, keeping
    each one's maximum; if one passes ``cap_kb`` the whole group is killed."""

    def __init__(self, pgid: int, cap_kb: int) -> None:
        self.pgid, self.cap_kb = pgid, cap_kb
        self.peak_kb: dict[int, int] = {}
        self.killed: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watch", daemon=True)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        pids, listed = group_pids(self.pgid), time.monotonic()
        while not self._stop.wait(0.05):
            if time.monotonic() - listed > 1:
                pids, listed = group_pids(self.pgid), time.monotonic()
            for pid in pids:
                rss = memory_kb(pid).get("VmRSS", 0)
                self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), rss)
                if rss > self.cap_kb and self.killed is None:
                    self.killed = (
                        f"hub killed by the bench: pid {pid} ({process_role(pid)}) "
                        f"reached {rss * 1024 // MB} MB RSS > --rss-cap-mb"
                    )
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.pgid, signal.SIGKILL)


def _wait_for_key(
    sink: RestSink, key: str, deadline: float, hub: Hub | None, watch: RssWatch | None
) -> tuple[Any, str | None]:
    """The sink's record of ``key``; None with a reason if it will not come."""
    polled = 0.0
    while time.monotonic() < deadline:
        for rec in sink.received:
            if rec.idempotency_key == key:
                return rec, None
        if watch is not None and watch.killed:
            return None, watch.killed
        if hub is not None and time.monotonic() - polled > 2:
            polled = time.monotonic()
            with contextlib.suppress(Exception):
                msg = hub.admin.json("GET", f"/v1/messages/{key}")
                if msg["status"] in ("dead", "failed", "discarded"):
                    last = msg["events"][-1] if msg.get("events") else {}
                    return None, (
                        f"message {msg['status']}: {last.get('event')} "
                        f"{last.get('error_code') or ''} {last.get('error') or ''}"
                    ).strip()
        time.sleep(0.05)
    return None, "not delivered in time"


def through_hub(
    hub: Hub, sink: RestSink, doc: Document, timeout: float, watch: RssWatch | None = None
) -> dict[str, Any]:
    """Submit ``doc`` streaming and wait until the sink has it: times, or why not."""
    deadline, out = time.monotonic() + timeout, {"bytes": doc.size}
    body, started = Upload(doc.path), time.time()
    try:
        r = requests.post(
            f"{hub.url}/v1/messages",
            params={"service": SERVICE},
            data=body,
            headers=hub.headers("application/xml"),
            timeout=(10, timeout),
        )
    except requests.RequestException as exc:
        reason = watch.killed if watch is not None and watch.killed else None
        return {**out, "error": reason or f"submit failed: {type(exc).__name__}: {exc}"[:300]}
    finally:
        body.close()
    out["accept_s"] = time.time() - started
    if r.status_code != 202:
        try:
            err = r.json()
            detail = f"{err.get('code')}: {err.get('message')}"
        except ValueError:
            detail = r.text[:200]
        return {**out, "error": f"hub refused: HTTP {r.status_code} {detail}"[:300]}
    out["id"] = r.json()["id"]
    rec, reason = _wait_for_key(sink, out["id"], deadline, hub, watch)
    if rec is None:
        return {**out, "error": f"accepted in {out['accept_s']:.1f}s, then {reason}"}
    out.update(
        delivered_s=rec.received_at - started,
        sink_bytes=rec.size,
        intact=rec.size == doc.size and rec.sha256 == doc.sha256,
    )
    return out


def direct(sink: RestSink, doc: Document, timeout: float) -> dict[str, Any]:
    """The same file POSTed straight to the sink by the same client: the time to beat."""
    key, body, started = f"direct-{uuid.uuid4().hex}", Upload(doc.path), time.time()
    try:
        r = requests.post(
            f"{sink.url}/direct",
            data=body,
            timeout=(10, timeout),
            headers={"Content-Type": "application/xml", "Idempotency-Key": key},
        )
    finally:
        body.close()
    if r.status_code != 201:
        raise RuntimeError(f"sink answered HTTP {r.status_code} to the direct POST")
    rec, reason = _wait_for_key(sink, key, time.monotonic() + 10, None, None)
    if rec is None:
        raise RuntimeError(f"direct POST: {reason}")
    return {"seconds": rec.received_at - started, "intact": rec.sha256 == doc.sha256}


def large_phase(
    backend: str, args: argparse.Namespace, sink: RestSink, docs: tuple[Document, Document]
) -> dict[str, Any]:
    small, large = docs
    out: dict[str, Any] = {"bytes": large.size}
    with contextlib.ExitStack() as stack:
        hub = start_hub(
            backend, args, stack, env={"LGSP_MAX_BODY_BYTES": str(large.size + 64 * MB)}
        )
        hub.add_service(SERVICE, content_type="application/xml")
        hub.add_rest_route(SERVICE, CONNECTOR, f"{sink.url}/edoc", timeout=args.large_timeout)
        out["small"] = through_hub(hub, sink, small, args.phase_timeout)
        if "error" in out["small"]:
            out["error"] = f"10 MB: {out['small']['error']}"
            return out
        time.sleep(1)
        pids = hub.processes()
        rest = {pid: memory_kb(pid).get("VmRSS", 0) for pid in pids}
        reset = {pid: reset_peak(pid) for pid in pids}
        out["direct"] = direct(sink, large, args.large_timeout)
        console.print(
            f"  {large.size / MB:.0f} MB straight to the sink in "
            f"{out['direct']['seconds']:.1f}s; now through the hub"
        )
        with RssWatch(hub.pid, args.rss_cap_mb * MB // 1024) as watch:
            out["hub"] = through_hub(hub, sink, large, args.large_timeout, watch)
        out["processes"] = []
        for pid in sorted(set(pids) | set(watch.peak_kb)):
            hwm = memory_kb(pid).get("VmHWM", 0) if reset.get(pid) else 0
            peak = max(hwm, watch.peak_kb.get(pid, 0))
            row = {
                "pid": pid,
                "role": process_role(pid),
                "rss_after_10mb_mb": None,
                "peak_mb": peak * 1024 / MB,
                "peak_from": "VmHWM" if hwm >= peak else "sampled",
            }
            if pid in rest:
                row["rss_after_10mb_mb"] = rest[pid] * 1024 / MB
                row["growth_mb"] = (peak - rest[pid]) * 1024 / MB
            out["processes"].append(row)
        if "error" in out["hub"]:
            out["error"] = out["hub"]["error"]
        elif not out["hub"]["intact"]:
            out["error"] = "delivered, but size or SHA-256 differ from the file"
        else:
            out["time_ratio"] = out["direct"]["seconds"] / out["hub"]["delivered_s"]
    return out


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skip-1gb", action="store_true", help="leave out the 1 GB XML phase")
    parser.add_argument(
        "--large-mb",
        type=int,
        default=1000,
        help="size of the large XML document in MB (10^6 bytes; default 1000)",
    )
    parser.add_argument(
        "--large-timeout",
        type=float,
        default=600.0,
        help="seconds the large document may take, submit → delivered",
    )
    parser.add_argument(
        "--rss-cap-mb",
        type=int,
        default=8000,
        help="kill the hub if one of its processes passes this RSS",
    )
