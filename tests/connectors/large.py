"""Large payloads for the streaming tests: a file written block by block (never whole in
memory), and a child process that delivers it with a real connector and reports its peak RSS,
so the measure is the connector's alone (the sandbox partner runs in the test process)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024

# Text that exercises the XML escaping and UTF-8 sequences split across read boundaries.
TEXT_UNIT = 'Công văn số 7816/VPCP & <phụ lục> "kèm" theo\r\n'.encode()

_CHILD = """
import json, sys
from pathlib import Path
from hub.connector import OutboundMessage, connector_type
from hub.payload import Payload

def peak_kib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))

args = json.loads(sys.argv[1])
ct = args["content_type"]
connector = connector_type(args["type"])("large", args["config"])
def message(id, payload):
    return OutboundMessage(id=id, correlation_id=id, sender_agency="000.00.00.H49",
                           sender_system="qlvb", service="edoc.send", recipient=None,
                           content_type=ct, payload=payload)
connector.deliver(message("warm-up", Payload.of(args["warm_up"].encode(), ct)))
baseline = peak_kib()
stored = Payload.stored(Path(args["path"]), args["size"], args["sha256"], ct)
result = connector.deliver(message("large", stored))
print(json.dumps({"remote_status": result.remote_status, "baseline_kib": baseline,
                  "peak_kib": peak_kib()}))
"""


def write_file(path: Path, size: int, unit: bytes | None = None) -> str:
    """Write ``size`` bytes to ``path`` and return their SHA-256: whole ``unit``s (text stays
    valid UTF-8; the tail is padded with dots), else pseudo-random blocks."""
    digest = hashlib.sha256()
    if unit:
        block = unit * (MIB // len(unit))
    else:
        block = hashlib.sha512(b"x").digest() * (MIB // 64)
    with path.open("wb") as fh:
        written = 0
        while written < size:
            piece = block[: size - written]
            if unit:
                piece = piece[: len(piece) - len(piece) % len(unit)] or b"." * len(piece)
            else:  # vary the blocks so a stuck or repeated chunk changes the digest
                piece = (written.to_bytes(8, "big") + piece[8:])[: len(piece)]
            fh.write(piece)
            digest.update(piece)
            written += len(piece)
    return digest.hexdigest()


def deliver_in_child(
    connector_type: str,
    config: dict[str, Any],
    path: Path,
    size: int,
    sha256: str,
    content_type: str,
    warm_up: str,
) -> dict[str, Any]:
    """Deliver a small message (warm-up: WSDL, pools, imports), note the peak RSS, deliver the
    stored file, and return ``remote_status`` and the peak before/after in KiB."""
    args = {
        "type": connector_type,
        "config": config,
        "path": str(path),
        "size": size,
        "sha256": sha256,
        "content_type": content_type,
        "warm_up": warm_up,
    }
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
