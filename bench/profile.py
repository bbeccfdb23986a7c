"""Where a delivered message's time goes, before anyone optimises: CPU per message (user and
system), SQL statements and transactions per message, and — with ``--spy`` and py-spy
installed — the share of GIL-holding samples per function. Nothing is asserted: printed.

    .venv/bin/python bench/profile.py                    # lgsp serve, SQLite, 3000 messages
    .venv/bin/python bench/profile.py --role api -c 1    # accept only
    .venv/bin/python bench/profile.py --spy              # plus py-spy (pip install py-spy)

SQL is counted on SQLite only: a ``sitecustomize`` on the hub's ``PYTHONPATH`` sets the driver's
trace callback on every connection and writes the counts when the hub exits.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import blast, common_arguments, cpu_seconds, payload, start_hub
from throughput import SERVICE, register_async

from sandbox.rest_sink import RestSink

SITECUSTOMIZE = """
import atexit, collections, os, sqlite3, threading
if os.environ.get("LGSP_DATA_DIR"):
    _counts, _lock, _connect = collections.Counter(), threading.Lock(), sqlite3.connect
    def _traced(*args, **kwargs):
        conn = _connect(*args, **kwargs)
        def seen(sql):
            with _lock:
                _counts[" ".join(sql.split()[:3])] += 1
        conn.set_trace_callback(seen)
        return conn
    sqlite3.connect = sqlite3.dbapi2.connect = _traced
    def _dump():
        path = os.path.join(os.environ["LGSP_PROFILE_OUT"], f"sql-{os.getpid()}.json")
        with open(path, "w") as f:
            f.write(__import__("json").dumps(_counts))
    atexit.register(_dump)
"""


def user_system(pid: int) -> tuple[float, float]:
    """utime and stime of one process, in seconds (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / 100, int(fields[12]) / 100


def top_frames(raw: Path, limit: int = 25) -> list[tuple[float, str]]:
    """py-spy's raw output folded into inclusive shares per function."""
    inclusive, total = collections.Counter(), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in {
            re.sub(r" \((.*/)?([^/:]+)(:\d+)?\)$", r" (\2)", f) for f in stack.split(";")
        }:
            inclusive[frame] += int(count)
    return [(100 * n / total, f) for f, n in inclusive.most_common(limit)] if total else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument("--role", choices=("serve", "api"), default="serve")
    parser.add_argument("-n", "--messages", type=int, default=3000)
    parser.add_argument("-c", "--clients", type=int, default=8)
    parser.add_argument("--spy", action="store_true", help="record with py-spy (--gil)")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="lgsp-profile-"))
    (out / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {"PYTHONPATH": str(out), "LGSP_PROFILE_OUT": str(out)}
    n, body = args.messages, payload(1)
    with contextlib.ExitStack() as stack, RestSink() as sink:
        hub = start_hub("sqlite", args, stack, role=args.role, env=env)
        register_async(hub, sink)
        url = f"{hub.url}/v1/messages"

        def send(session, i: int) -> str:
            r = session.post(url, params={"service": SERVICE}, data=body, headers=hub.headers())
            if r.status_code != 202:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
            return ""

        blast(200, args.clients, send, args.phase_timeout)  # warm up
        spy = None
        spy_bin = shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )
        if args.spy and spy_bin:
            spy = subprocess.Popen(
                [spy_bin, "record", "-p", str(hub.pid), "--gil", "--nonblocking", "-s",
                 "-f", "raw", "-o", str(out / "spy.raw")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1)
        before, cpu0, started = user_system(hub.pid), cpu_seconds(hub.pid), time.monotonic()
        blast(n, args.clients, send, args.phase_timeout)
        if args.role == "serve":
            sink.wait_for(n + 200, timeout=args.phase_timeout)
        elapsed, after = time.monotonic() - started, user_system(hub.pid)
        cpu = cpu_seconds(hub.pid) - cpu0
        if spy:
            spy.send_signal(2)
            spy.wait(30)
    counts: collections.Counter = collections.Counter()
    for dump in out.glob("sql-*.json"):
        counts.update(json.loads(dump.read_text()))
    total = n + 200
    print(f"{args.role}: {n} messages in {elapsed:.1f} s = {n / elapsed:.0f}/s")
    print(
        f"CPU per message: {1000 * cpu / n:.2f} ms (user {1000 * (after[0] - before[0]) / n:.2f}"
        f", system {1000 * (after[1] - before[1]) / n:.2f}; the hub process)"
    )
    if counts:
        statements = sum(
            v for k, v in counts.items() if not k.startswith(("BEGIN", "COMMIT", "ROLLBACK"))
        )
        print(
            f"per message, over the whole run: {statements / total:.1f} statements, "
            f"{counts['BEGIN IMMEDIATE'] / total:.2f} write and {counts['BEGIN'] / total:.2f} "
            "read transactions"
        )
        for kind, count in counts.most_common(12):
            print(f"  {count / total:6.2f}  {kind}")
    if (out / "spy.raw").exists():
        print("GIL-holding samples, inclusive:")
        for share, frame in top_frames(out / "spy.raw"):
            print(f"  {share:5.1f}%  {frame[:110]}")
    shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
