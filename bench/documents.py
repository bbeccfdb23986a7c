"""Documents (edXML) through the hub, each against a raw baseline measured in the same run.

* **A large document through the document pipeline** (``--sizes``, MB of attachment): one
  attachment of that size (random bytes after "PK\\x03\\x04", written in 1 MiB pieces), from a
  commune's document system to the province's, in one ``lgsp serve``: ``POST /v1/documents``
  streamed from disk → the province's system lists its inbox → fetches it streamed to disk →
  confirms. Time: POST start → fetched file complete (its attachment's digest checked with
  ``hub.edxml.reader`` afterwards) ÷ ``shutil.copyfile`` of the same edXML file here. Memory:
  each hub process's peak RSS (``VmHWM`` restarted, sampled every 50 ms) against its RSS after
  a 1 MB document went the same way; ``/proc/PID/io`` counts the hub's passes over the file.
* **Documents per second between two provinces**: hubs A and B (each its own store) and the
  sandbox VDXP axis in this process. N small documents from A's commune system to B's
  department, ``-c`` at a time: A signs them with the commune's development key and sends them
  to the axis, B pulls every ``--pull-seconds`` and verifies them (it refuses unsigned ones).
  Rate: first POST → the last one in B's inbox. Baseline: the same documents delivered by a
  ``VdxpConnector`` and pulled by another (``received``, ``fetch``, ``update_status``), same
  concurrency and pull period, under agencies of their own: the axis round trip without hubs.

Run: ``.venv/bin/python bench/documents.py --backend sqlite --sizes 100 -n 100``; ``--help``.
Printed, never asserted; medians over ``--repeat`` (sizes from ``--once-from-mb`` run once).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import requests
from harness import (
    Hub,
    PhaseTimeout,
    blast,
    code_state,
    common_arguments,
    console,
    memory_kb,
    pct,
    process_role,
    reset_peak,
    run_backends,
    start_hub,
)
from large_body import MB, MIB, RssWatch, Upload
from rich.table import Table

from connectors.vdxp import VdxpConnector
from hub.client import HubClient
from hub.connector import OutboundMessage
from hub.documents.inbox import MAX_PAGE
from hub.edxml import builder, jsonform, reader
from hub.edxml.devca import make_dev_ca
from hub.ids import new_id
from hub.payload import Payload
from sandbox.vdxp import VdxpAxis

PROVINCE_A, COMMUNE_A = "000.00.00.H57", "000.00.20.H57"
DEPARTMENT_B = "000.01.00.H49"  # under 000.00.00.H49, which start_hub registers
DIRECT_A, DIRECT_B = "000.00.21.H57", "000.02.00.H49"  # the baseline's agencies at the axis
LOCAL_A = [(PROVINCE_A, None, "qlvb-tinh"), (COMMUNE_A, PROVINCE_A, "qlvb-xa")]
LOCAL_B = [(DEPARTMENT_B, "000.00.00.H49", "qlvb-stc")]
XML = {"Content-Type": "application/xml"}
Docs = list[tuple[str, bytes]]  # (DocumentId, edXML)


# --- documents and provinces -------------------------------------------------------------------
def flat(sender: str, recipient: str, number: int, attachment: bytes) -> dict[str, Any]:
    """A conformant document in the flat JSON form, with one ZIP attachment."""
    zipped = {"name": "ho-so.zip", "content_type": "application/zip"}
    return {
        "kind": "edoc",
        "from": {"organ_id": sender, "organ_name": "Cơ quan gửi"},
        "to": [{"organ_id": recipient, "organ_name": "Cơ quan nhận"}],
        "document_id": f"{sender},2026/11/27,{number}/UBND-VP",
        "code_number": str(number),
        "code_notation": "UBND-VP",
        "promulgation_date": "2026/11/27",
        "document_type": "1",
        "subject": "Hồ sơ gửi kèm",
        "traces": [{"organ_id": sender, "timestamp": "2026/11/27 09:00:00"}],
        "attachments": [{**zipped, "content_base64": base64.b64encode(attachment).decode()}],
    }


@dataclass(frozen=True)
class LargeDocument:
    path: Path
    size: int  # of the edXML file
    attachment_size: int
    attachment_sha256: str


def write_large(directory: Path, mb: int) -> LargeDocument:
    """An edXML file around an attachment of ``mb`` MB, built by ``hub.edxml.builder`` from a
    file written in 1 MiB pieces (never whole in memory); the attachment file is then removed."""
    content, digest, total = directory / f"attachment-{mb}.zip", hashlib.sha256(), mb * MB
    with content.open("wb") as fh:
        for left in range(total, 0, -MIB):
            piece = os.urandom(min(MIB, left))
            piece = b"PK\x03\x04" + piece[4:] if left == total else piece
            digest.update(piece)
            fh.write(piece)
    message, _ = jsonform.from_json(flat(COMMUNE_A, PROVINCE_A, mb, b""))
    path = builder.build(message, directory / f"{mb}mb.edxml", lambda _: content.open("rb"))
    content.unlink()
    return LargeDocument(path, path.stat().st_size, total, digest.hexdigest())


def register(
    hub: Hub,
    local: list[tuple[str, str | None, str]],
    axis: dict[str, Any] | None = None,
    pulls: bool = False,
) -> dict[str, HubClient]:
    """A province through the admin API: its agencies, each with its document system, the
    ``edoc`` service and access rules; with ``axis``, the VDXP connector and route, and (to
    pull) the system the hub acts as for what it pulls. Returns a client per document system."""
    post, clients = partial(hub.admin.json, "POST"), {}
    for code, parent, system in local:
        post("/v1/agencies", json={"code": code, "name": code, "parent_code": parent})
        body = {"code": system, "agency_code": code, "name": system}
        clients[system] = HubClient(hub.url, post("/v1/systems", json=body)["api_key"], 60)
        hub.admin.json("PATCH", f"/v1/agencies/{code}", json={"document_system": system})
    if pulls:  # the system LGSP_EDOC_AXIS_SYSTEM names (default: vdxp)
        post("/v1/systems", json={"code": "vdxp", "agency_code": local[0][0], "name": "VDXP"})
    edoc = {"code": "edoc", "name": "edoc", "mode": "async", "content_type": "application/xml"}
    post("/v1/services", json=edoc)
    for system in [*clients, *(["vdxp"] if pulls else [])]:
        post("/v1/access-rules", json={"system_code": system, "service_code": "edoc"})
    if axis:
        hub.connectors.append("vdxp")  # its queues go at clean-up
        post("/v1/connectors", json={"name": "vdxp", "type": "vdxp", "config": axis})
        post("/v1/routes", json={"name": "to-vdxp", "connector": "vdxp", "service_code": "edoc"})
    return clients


# --- the large document ------------------------------------------------------------------------
def io_bytes(pid: int) -> dict[str, int]:
    """Bytes a process passed to read()/write() so far: its files (``recv``/``send`` on a
    socket are not counted)."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("rchar", "wchar"):
                out[name] = int(value)
    return out


def through_pipeline(
    sender: HubClient, receiver: HubClient, doc: LargeDocument, timeout: float
) -> dict[str, Any]:
    """POST → inbox → fetch → confirm: times (or why not), then the fetched file checked."""
    out: dict[str, Any] = {}
    body, fetched, started = Upload(doc.path), doc.path.with_suffix(".fetched"), time.time()
    try:
        key = {"Idempotency-Key": f"bench-{uuid.uuid4().hex}"}  # the same file again: new message
        url = f"{sender.url}/v1/documents"
        r = sender.session.post(url, data=body, headers={**XML, **key}, timeout=(10, timeout))
        out["accept_s"] = time.time() - started
        if r.status_code != 202:
            return {**out, "error": f"hub refused: HTTP {r.status_code} {r.text[:200]}"}
        message_id = r.json()["id"]
        items = receiver.json("GET", "/v1/documents/inbox", params={"limit": MAX_PAGE})["items"]
        if message_id not in {item["id"] for item in items}:
            return {**out, "error": f"accepted, but {message_id} is not in the inbox"}
        url = f"{receiver.url}/v1/documents/inbox/{message_id}"
        with receiver.session.get(url, stream=True, timeout=(10, timeout)) as got:
            if got.status_code != 200:
                return {**out, "error": f"fetch answered HTTP {got.status_code}"}
            with fetched.open("wb") as fh:
                for chunk in got.iter_content(MIB):
                    fh.write(chunk)
        out["seconds"] = time.time() - started
        receiver.json("POST", f"/v1/documents/inbox/{message_id}/confirm")
        (attachment,) = reader.read(fetched).attachments
        if (attachment.size, attachment.sha256) != (doc.attachment_size, doc.attachment_sha256):
            out["error"] = "fetched, but the attachment's size or SHA-256 differ"
    except Exception as exc:  # noqa: BLE001 - a refusal, a crash, a damaged document: reported
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        body.close()
        fetched.unlink(missing_ok=True)
    return out


def copy_seconds(doc: LargeDocument) -> float:
    """The baseline: ``shutil.copyfile`` of the edXML file, in this process."""
    target, started = doc.path.with_suffix(".copy"), time.time()
    shutil.copyfile(doc.path, target)
    seconds = time.time() - started
    target.unlink()
    return seconds


def measured(
    hub: Hub, args: argparse.Namespace, pair: tuple[HubClient, HubClient], doc: LargeDocument
) -> dict[str, Any]:
    """One document through the pipeline, with each hub process's peak RSS and file I/O."""
    pids = hub.processes()
    io_before = {pid: io_bytes(pid) for pid in pids}
    reset = {pid: reset_peak(pid) for pid in pids}
    with RssWatch(hub.pid, args.rss_cap_mb * MB // 1024) as watch:
        run = through_pipeline(*pair, doc, args.large_timeout)
    if watch.killed:
        run["error"] = run["killed"] = watch.killed
    run["processes"] = []
    for pid in sorted(set(pids) | set(watch.peak_kb)):
        hwm = memory_kb(pid).get("VmHWM", 0) if reset.get(pid) else 0
        now, before = io_bytes(pid), io_before.get(pid, {})
        run["processes"].append(
            {
                "pid": pid,
                "role": process_role(pid),
                "peak_mb": max(hwm, watch.peak_kb.get(pid, 0)) * 1024 / MB,
                "read_x": (now.get("rchar", 0) - before.get("rchar", 0)) / doc.size,
                "written_x": (now.get("wchar", 0) - before.get("wchar", 0)) / doc.size,
            }
        )
    return run


def large_group(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"sizes": {}}
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="lgsp-bench-edoc-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        biggest = max(args.sizes) * MB * 4 // 3  # base64
        if shutil.disk_usage(tmp).free < 6 * biggest + 2000 * MB:  # file, 3 blobs, fetched, copy
            raise RuntimeError(f"not enough disk in {tmp.parent} for {max(args.sizes)} MB")
        hub = start_hub(backend, args, stack, env={"LGSP_EDOC_MAX_BODY_BYTES": str(2 * biggest)})
        clients = register(hub, LOCAL_A)
        pair = clients["qlvb-xa"], clients["qlvb-tinh"]
        warm = through_pipeline(*pair, write_large(tmp, 1), args.phase_timeout)
        if "error" in warm:
            raise RuntimeError(f"the 1 MB document: {warm['error']}")
        time.sleep(1)
        rest = {pid: memory_kb(pid).get("VmRSS", 0) * 1024 / MB for pid in hub.processes()}
        for mb in sorted(args.sizes):
            started, doc = time.monotonic(), write_large(tmp, mb)
            console.print(f"  {doc.size / MB:.0f} MB of edXML in {time.monotonic() - started:.0f}s")
            runs: list[dict[str, Any]] = []
            for _ in range(1 if mb >= args.once_from_mb else args.repeat):
                runs.append({"copy_s": copy_seconds(doc), **measured(hub, args, pair, doc)})
                for proc in runs[-1]["processes"]:
                    proc["rss_after_1mb_mb"] = rest.get(proc["pid"])
                shown = runs[-1].get("error") or f"{runs[-1]['seconds']:.1f}s"
                console.print(f"  {mb} MB: hub {shown}, copy {runs[-1]['copy_s']:.2f}s")
                if "error" in runs[-1]:
                    out["failed"] = True
                    break
            doc.path.unlink()
            out["sizes"][str(mb)] = summarise_large(runs, doc)
            if "killed" in runs[-1]:
                break
    return out


def summarise_large(runs: list[dict[str, Any]], doc: LargeDocument) -> dict[str, Any]:
    """Medians of the times and ratios, each process's largest peak, over the runs."""
    out: dict[str, Any] = {"edxml_bytes": doc.size, "runs": runs}
    good = [r for r in runs if "error" not in r]
    if len(good) < len(runs):
        out["error"] = runs[-1]["error"]
    if good:
        for key in ("seconds", "copy_s", "accept_s"):
            out[key] = statistics.median(r[key] for r in good)
        out["ratio"] = statistics.median(r["seconds"] / r["copy_s"] for r in good)
    peaks: dict[int, dict[str, Any]] = {}
    for proc in (p for r in runs for p in r["processes"]):
        if proc["peak_mb"] > peaks.get(proc["pid"], {}).get("peak_mb", -1):
            peaks[proc["pid"]] = proc
    out["processes"] = list(peaks.values())
    return out


# --- two provinces -----------------------------------------------------------------------------
def wait_inbox(client: HubClient, ids: list[str], timeout: float) -> dict[str, float]:
    """When each document (by id) reached the system's inbox, by the hub's clock; then they
    are confirmed, as the document system does once it has stored them."""
    wanted, got, deadline = set(ids), {}, time.monotonic() + timeout
    while len(got) < len(wanted):
        if time.monotonic() > deadline:
            raise PhaseTimeout(f"{len(got)} of {len(wanted)} documents in B's inbox in {timeout}s")
        time.sleep(0.1)
        for item in client.json("GET", "/v1/documents/inbox", params={"limit": MAX_PAGE})["items"]:
            if item["document_id"] in wanted:
                at = datetime.fromisoformat(item["received_at"]).timestamp()
                got[item["document_id"]] = (at, item["id"])
    for _, message_id in got.values():
        client.json("POST", f"/v1/documents/inbox/{message_id}/confirm")
    return {k: at for k, (at, _) in got.items()}


def rates(sent: dict[str, list[float]], arrived: list[float]) -> dict[str, float]:
    """Documents/s from the first send to the last arrival, the senders' own rate, latencies."""
    starts = sent["starts"]
    latency = [(a - s) * 1000 for s, a in zip(starts, arrived, strict=True)]
    return {
        "per_s": len(starts) / (max(arrived) - min(starts)),
        "sent_per_s": len(starts) / (max(sent["ends"]) - min(starts)),
        "p50_ms": pct(latency, 50),
        "p99_ms": pct(latency, 99),
    }


def via_hubs(
    sender: HubClient, receiver: HubClient, docs: Docs, args: argparse.Namespace
) -> dict[str, float]:
    url, headers = f"{sender.url}/v1/documents", {**XML, "Authorization": f"Bearer {sender.key}"}

    def send(session: requests.Session, i: int) -> str:
        r = session.post(url, data=docs[i][1], headers=headers, timeout=60)
        if r.status_code != 202:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
        return ""

    sent = blast(len(docs), args.concurrency, send, args.phase_timeout)
    arrived = wait_inbox(receiver, [d for d, _ in docs], args.phase_timeout)
    return rates(sent, [arrived[d] for d, _ in docs])


def direct(
    sender: VdxpConnector, receiver: VdxpConnector, docs: Docs, args: argparse.Namespace
) -> dict[str, float]:
    """The axis round trip alone: delivered by one connector, pulled by the other in rounds
    ``--pull-seconds`` apart (as the hub's puller), each record fetched and marked done."""
    index = {hashlib.sha256(body).hexdigest(): i for i, (_, body) in enumerate(docs)}
    arrived: dict[int, float] = {}
    stop, failed = threading.Event(), []

    def pull() -> None:
        while not stop.wait(args.pull_seconds) and len(arrived) < len(docs):
            try:
                for record in receiver.received():
                    receiver.fetch(record.id, io.BytesIO())
                    if record.content_sha256 in index:
                        arrived[index[record.content_sha256]] = time.time()
                    receiver.update_status(record.id, "done")
            except Exception as exc:  # noqa: BLE001 - reported below
                failed.append(f"{type(exc).__name__}: {exc}"[:200])
                return

    def send(_: requests.Session, i: int) -> str:
        message = OutboundMessage(
            id=new_id(),
            correlation_id=new_id(),
            sender_agency=DIRECT_A,
            sender_system="bench",
            service="edoc",
            recipient=DIRECT_B,
            content_type="application/xml",
            payload=Payload.of(docs[i][1], "application/xml"),
            headers={"edxml-kind": "edoc"},  # as the hub gives it
        )
        sender.deliver(message, timeout=60)
        return ""

    puller = threading.Thread(target=pull, name="direct-pull", daemon=True)
    puller.start()
    try:
        sent = blast(len(docs), args.concurrency, send, args.phase_timeout)
        puller.join(args.phase_timeout)
    finally:
        stop.set()
    if failed or len(arrived) < len(docs):
        raise PhaseTimeout(f"direct: {len(arrived)} of {len(docs)} pulled {failed[:1]}")
    return rates(sent, [arrived[i] for i in range(len(docs))])


def policy(local: list[tuple[str, str | None, str]], pull_seconds: float) -> dict[str, str]:
    """Signatures required from every agency but the province's own; how often it pulls."""
    signatures = {"*": "required", **{code: "optional" for code, *_ in local}}
    return {
        "LGSP_EDOC_SIGNATURES": json.dumps(signatures),
        "LGSP_EDOC_PULL_SECONDS": str(pull_seconds),
    }


def exchange_group(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="lgsp-bench-provinces-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        ca = make_dev_ca(tmp / "ca", [PROVINCE_A, COMMUNE_A, DEPARTMENT_B], key_size=2048)
        axis = stack.enter_context(VdxpAxis(seed=False))
        for system, codes in (
            ("lgsp-h57", [PROVINCE_A, COMMUNE_A]),
            ("lgsp-h49", [DEPARTMENT_B]),
            ("direct-h57", [DIRECT_A]),
            ("direct-h49", [DIRECT_B]),
        ):
            (tmp / system).write_text(secret := uuid.uuid4().hex)
            axis.add_system(system, secret)
            for code in codes:
                axis.add_agency(code, code, None, system)

        def config(system: str) -> dict[str, Any]:
            return {"base_url": axis.url, "system_id": system, "secret_file": str(tmp / system)}

        keys = {"LGSP_EDOC_KEYS_DIR": str(ca.keys_dir), "LGSP_EDOC_TRUST_DIR": str(ca.trust_dir)}
        a = start_hub(backend, args, stack, env={**keys, **policy(LOCAL_A, 0)})
        b = start_hub(backend, args, stack, env={**keys, **policy(LOCAL_B, args.pull_seconds)})
        sender = register(a, LOCAL_A, config("lgsp-h57"))["qlvb-xa"]
        receiver = register(b, LOCAL_B, config("lgsp-h49"), pulls=True)["qlvb-stc"]
        connectors = [VdxpConnector(f"direct-{s}", config(s)) for s in ("direct-h57", "direct-h49")]
        for connector in connectors:
            stack.callback(connector.close)
        attachment = b"PK\x03\x04" + os.urandom(8 * 1024 - 4)

        def documents(first: int, n: int) -> Docs:
            built = (
                jsonform.from_json(flat(COMMUNE_A, DEPARTMENT_B, k, attachment))
                for k in range(first, first + n)
            )
            return [(m.document_id, builder.build_bytes(m, jsonform.opener(c))) for m, c in built]

        via_hubs(sender, receiver, documents(1, min(10, args.n)), args)  # warm-up
        runs = []
        for r in range(args.repeat):
            docs = documents(10_000 * (r + 1), args.n)
            run = {"hub": via_hubs(sender, receiver, docs, args)}
            run["direct"] = direct(*connectors, docs, args)
            runs.append({**run, "ratio": run["hub"]["per_s"] / run["direct"]["per_s"]})
            console.print(
                f"  repeat {r + 1}: {args.n} documents A → axis → B {run['hub']['per_s']:.1f}/s, "
                f"the axis alone {run['direct']['per_s']:.1f}/s"
            )
        view = b.admin.json("GET", "/v1/documents", params={"id": docs[-1][0]})["documents"][0]
    median = {
        side: {k: statistics.median(r[side][k] for r in runs) for k in runs[0][side]}
        for side in ("hub", "direct")
    }
    ratio = statistics.median(r["ratio"] for r in runs)
    return {
        "runs": runs,
        "document_bytes": len(docs[-1][1]),
        "signature_in_b": view["signature"],
        "median": {**median, "ratio": ratio},
    }


# --- report ------------------------------------------------------------------------------------
def bench(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code_state()}
    for name, group in (("large", large_group), ("exchange", exchange_group)):
        if getattr(args, f"skip_{name}"):
            continue
        try:
            out[name] = group(backend, args)
        except Exception as exc:  # noqa: BLE001 - one group failing still runs the other
            console.print(f"[red]{backend} {name} failed:[/red] {type(exc).__name__}: {exc}")
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
        out["failed"] = bool(out.get("failed") or "error" in out[name] or out[name].get("failed"))
    return out


def short(error: str) -> str:
    """An error on one line: its first, and its last (a subprocess's traceback ends there)."""
    lines = [line.strip() for line in error.splitlines() if line.strip()]
    return (lines[0] if len(lines) < 2 else f"{lines[0]} … {lines[-1]}")[:240]


def render(backend: str, res: dict[str, Any]) -> None:
    table = Table(title=f"documents (edXML) — {backend}")
    for col in ("figure", "through the hub", "baseline (same run)", "ratio"):
        table.add_column(col)
    notes = []
    for mb, row in res.get("large", {}).get("sizes", {}).items():
        what = f"{mb} MB attachment ({row['edxml_bytes'] / MB:.0f} MB edXML): POST → fetched"
        if "seconds" in row:
            hub_s = f"{row['seconds']:.1f} s (POST {row['accept_s']:.1f} s)"
            copy_s = f"copy {row['copy_s']:.2f} s"
            table.add_row(what, hub_s, copy_s, f"{row['ratio']:.1f}× the copy")
        if "error" in row:
            table.add_row(what, f"[red]{short(row['error'])}[/red]", "", "")
        for proc in row["processes"]:
            rest, peak = proc.get("rss_after_1mb_mb"), proc["peak_mb"]
            table.add_row(
                f"{mb} MB: peak RSS, {proc['role']} (pid {proc['pid']})",
                f"{peak:.0f} MB",
                f"{rest:.0f} MB after a 1 MB document" if rest else "–",
                f"+{peak - rest:.0f} MB" if rest else "",
            )
            notes.append(
                f"{mb} MB, {proc['role']}: read {proc['read_x']:.1f}× and wrote "
                f"{proc['written_x']:.1f}× the edXML's size in files"
            )
    for group in ("large", "exchange"):
        if "error" in res.get(group, {}):
            table.add_row(group, f"[red]{short(res[group]['error'])}[/red]", "", "")
    if "median" in res.get("exchange", {}):
        ex, m = res["exchange"], res["exchange"]["median"]
        hub, axis = m["hub"], m["direct"]
        table.add_row(
            f"documents/s, A → VDXP → B ({ex['document_bytes'] / 1000:.0f} KB each)",
            f"{hub['per_s']:.1f}/s (A answered {hub['sent_per_s']:.0f}/s)",
            f"{axis['per_s']:.1f}/s the axis alone",
            f"{m['ratio']:.2f}",
        )
        table.add_row(
            "  latency p50 / p99",
            f"{hub['p50_ms']:.0f} / {hub['p99_ms']:.0f} ms",
            f"{axis['p50_ms']:.0f} / {axis['p99_ms']:.0f} ms",
            "",
        )
        notes.append(
            f"signed in A with {COMMUNE_A}'s development key; B, which requires a signature, "
            f"recorded it as {ex['signature_in_b']!r}"
        )
    console.print(table)
    for note in notes:
        console.print(f"  {note}")


def sizes(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("MB of attachment, comma-separated: 100,1000") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("at least one size, each ≥ 1 MB")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument("--sizes", type=sizes, default=[100, 1000], help="MB of attachment")
    parser.add_argument("--once-from-mb", type=int, default=1000, help="larger: no --repeat")
    parser.add_argument("--large-timeout", type=float, default=900.0, help="s per document")
    parser.add_argument("--rss-cap-mb", type=int, default=8000, help="kill a hub past this")
    parser.add_argument("-n", type=int, default=200, help="documents per exchange repeat")
    parser.add_argument("--concurrency", "-c", type=int, default=4)
    parser.add_argument("--pull-seconds", type=float, default=0.2, help="B's (and direct) pull")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-exchange", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.n <= MAX_PAGE:
        parser.error(f"-n: 1 to {MAX_PAGE} (what one inbox listing shows)")
    return run_backends("documents", args, lambda b: bench(b, args), render)


if __name__ == "__main__":
    sys.exit(main())
