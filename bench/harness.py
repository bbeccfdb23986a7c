"""What every benchmark here shares: a real hub in a subprocess, load generators, /proc readings.

* :func:`start_hub` runs ``lgsp serve`` (or ``lgsp api``) on a fresh temp data dir, a fresh
  PostgreSQL database and a unique RabbitMQ queue prefix, on a free port, and registers the
  bench's sender through the admin API; every resource is undone by the caller's ``ExitStack``
  (process group, database, queues, temp dir), in reverse, on success, failure or Ctrl-C.
* :func:`blast` is a closed loop (N calls from C keep-alive clients, as fast as answered);
  :func:`open_loop` sends at a fixed rate whatever the answers do, and times each call from
  when it was due, so a slow server cannot hide its queueing (no coordinated omission).
* :func:`cpu_seconds`, :func:`group_pids`, :func:`memory_kb` read ``/proc`` for the hub's whole
  process group (``serve --workers N`` children included).

Nothing here asserts a speed: the scripts print ratios against baselines taken in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import queue
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pika
import psycopg
import requests
from rich.console import Console

from hub.client import HubClient
from sandbox.rest_sink import RestSink

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LGSP = Path(sys.executable).parent / "lgsp"
SENDER, AGENCY = "bench", "000.00.00.H49"
BACKENDS = {"sqlite": "SQLite + embedded broker", "postgres": "PostgreSQL + RabbitMQ"}
QUEUE = "lgsp.deliver."  # a connector's delivery queue is QUEUE + its name (hub/brokers)
console = Console(width=None if sys.stdout.isatty() else 150)  # no wrapping in a log


class PhaseTimeout(RuntimeError):
    """A phase ran past its time limit: the run is reported as failed, never left hanging."""


# --- payloads and statistics ---------------------------------------------------------------------
def payload(i: int, size: int = 1024) -> bytes:
    """A ``dossier-status.v1.json``-valid document padded to ``size`` bytes: the schema caps
    NoiDungXuLy at 500 chars, so the padding is spread over the three free-text fields."""
    doc = {
        "MaHoSo": f"000.00.00.H49-261125-{i:06d}",
        "TrangThaiHoSo": 4,
        "ThoiDiemXuLy": "20261125090000",
        "NoiDungXuLy": "",
        "NguoiXuLy": "",
        "PhongBanXuLy": "",
    }
    pad = ("Dang xu ly ho so, cho bo sung giay to. " * 30)[: size - len(json.dumps(doc))]
    doc["NoiDungXuLy"], doc["NguoiXuLy"], doc["PhongBanXuLy"] = pad[:500], pad[500:700], pad[700:]
    return json.dumps(doc).encode()


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no numpy on purpose: the bench needs only the hub's deps)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def summarise(
    starts: list[float], arrived: list[float], ends: list[float] | None = None
) -> dict[str, float]:
    """msgs/s from the first send to the last arrival, and per-message send→arrival latency;
    with ``ends`` (the answers) also the answer rate and round trip."""
    n, first = len(starts), min(starts)
    lat = [(a - s) * 1000 for s, a in zip(starts, arrived, strict=True)]
    out = {"msgs_per_s": n / (max(arrived) - first), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
    if ends is not None:
        rtt = [(e - s) * 1000 for s, e in zip(starts, ends, strict=True)]
        out.update(
            accepted_per_s=n / (max(ends) - first),
            accept_p50_ms=pct(rtt, 50),
            accept_p99_ms=pct(rtt, 99),
        )
    return out


def medians(runs: list[Mapping[str, float]]) -> dict[str, float]:
    """The median of each figure over repeats (figures missing from a run are skipped)."""
    keys = [k for k in runs[0] if all(isinstance(r.get(k), int | float) for r in runs)]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def round_trips(sent: Mapping[str, list[float]]) -> dict[str, float]:
    """Calls per second and p50/p99 of the round trip, for callers that wait for the answer."""
    starts, ends = sent["starts"], sent["ends"]
    rtt = [(e - s) * 1000 for s, e in zip(starts, ends, strict=True)]
    return {
        "per_s": len(starts) / (max(ends) - min(starts)),
        "p50_ms": pct(rtt, 50),
        "p99_ms": pct(rtt, 99),
    }


# --- load generators ----------------------------------------------------------------------------
Send = Callable[[requests.Session, int], str]


def blast(n: int, concurrency: int, send: Send, timeout: float) -> dict[str, Any]:
    """Closed loop: call ``send(session, i)`` for i < n from ``concurrency`` threads, one
    keep-alive session each; returns wall-clock start/end per call and the key each call
    returned. Daemon threads and a stop flag keep Ctrl-C and the timeout effective."""
    starts, ends, keys, errors = [0.0] * n, [0.0] * n, [""] * n, []
    counter, stop = itertools.count(), threading.Event()

    def run() -> None:
        session = requests.Session()
        while not stop.is_set() and (i := next(counter)) < n:
            starts[i] = time.time()
            try:
                keys[i] = send(session, i)
            except Exception as exc:  # noqa: BLE001 - counted and reported, not fatal
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            ends[i] = time.time()
        session.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(concurrency)]
    deadline = time.monotonic() + timeout
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
    if any(t.is_alive() for t in threads):
        raise PhaseTimeout(f"sending {n} messages took over {timeout:.0f}s")
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} sends failed, first: {errors[0]}")
    return {"starts": starts, "ends": ends, "keys": keys}


def open_loop(n: int, rate: float, send: Send, timeout: float, threads: int = 32) -> dict[str, Any]:
    """Open loop: call ``send`` n times at ``rate`` per second, evenly spaced, from a pool of
    ``threads`` keep-alive sessions. Each call is timed from when it was *due* (``starts``),
    so time spent waiting for a free thread counts against the server being measured."""
    starts, ends, keys, errors = [0.0] * n, [0.0] * n, [""] * n, []
    due: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    stop = threading.Event()

    def run() -> None:
        session = requests.Session()
        while (i := due.get()) is not None and not stop.is_set():
            try:
                keys[i] = send(session, i)
            except Exception as exc:  # noqa: BLE001 - counted and reported, not fatal
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            ends[i] = time.time()
        session.close()

    pool = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    begin, deadline = time.time() + 0.05, time.monotonic() + timeout
    try:
        for i in range(n):
            starts[i] = begin + i / rate
            pause = starts[i] - time.time()
            if pause > 0:
                time.sleep(pause)
            if time.monotonic() > deadline:
                raise PhaseTimeout(f"open loop: {i} of {n} calls due in {timeout:.0f}s")
            due.put(i)
        for _ in pool:
            due.put(None)
        for t in pool:
            t.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in pool):
            raise PhaseTimeout(f"open loop: {n} calls at {rate:.0f}/s took over {timeout:.0f}s")
    finally:
        stop.set()
        for _ in pool:
            due.put(None)
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} calls failed, first: {errors[0]}")
    return {"starts": starts, "ends": ends, "keys": keys}


def wait_received(sink: RestSink, keys: list[str], timeout: float) -> list[float]:
    """The sink's first-arrival time of each key (the REST connector sends the message id as
    ``Idempotency-Key``); polling does not skew results, the sink stamps each arrival itself."""
    wanted, deadline = set(keys), time.monotonic() + timeout
    while True:
        got: dict[str, float] = {}
        for rec in sink.received:
            if rec.idempotency_key in wanted:
                got.setdefault(rec.idempotency_key, rec.received_at)
        if len(got) == len(wanted):
            return [got[k] for k in keys]
        if time.monotonic() > deadline:
            raise PhaseTimeout(f"only {len(got)} of {len(wanted)} arrived in {timeout:.0f}s")
        time.sleep(0.1)


# --- /proc ----------------------------------------------------------------------------------------
def _stat_fields(stat: Path) -> list[str]:
    """``/proc/PID/stat`` after the command name; field k of proc(5) is index k - 3."""
    return stat.read_text().rsplit(")", 1)[1].split()


def group_pids(pgid: int) -> list[int]:
    """Every live process of a process group: the hub and, with ``--workers``, its children."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(stat)
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
    return sorted(pids)


def cpu_seconds(pgid: int) -> float:
    """utime + stime of every process of the group, plus cutime + cstime (children that exited
    and were reaped, e.g. a restarted worker). CPU per message is far less noisy than a rate on
    a shared machine, and says whether the hub is CPU-bound or waiting."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(stat)
            if int(fields[2]) == pgid:
                total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (peak resident) of one process, in kB."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line[:5]] = int(line.split()[1])
    return out


def reset_peak(pid: int) -> bool:
    """Restart a process's ``VmHWM`` at its current RSS (Linux ≥ 4.0, our own processes)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def process_role(pid: int) -> str:
    """``serve``, ``api``, ``worker``…: the hub subcommand a process runs."""
    with contextlib.suppress(OSError):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [a.decode(errors="replace") for a in argv if a]
        for role in ("serve", "api", "worker"):
            if role in words:
                return role
        return Path(words[0]).name if words else "?"
    return "?"


# --- servers and clean-up -----------------------------------------------------------------------
def pg_admin(pg_url: str, sql: str) -> None:
    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def delete_queues(amqp_url: str, names: list[str]) -> None:
    with (
        contextlib.suppress(Exception),
        pika.BlockingConnection(pika.URLParameters(amqp_url)) as conn,
    ):
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM to the process's own group (the hub then stops worker and relay in order, and
    its worker children), SIGKILL to whatever of it is left after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


def spawn(
    command: list[str], env: Mapping[str, str], cwd: Path, log: Path, stack: contextlib.ExitStack
) -> subprocess.Popen:
    """A subprocess in a session (and process group) of its own, logging to ``log``, stopped
    by ``stack``."""
    out = log.open("wb")
    stack.callback(out.close)
    proc = subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    stack.callback(stop_process, proc)
    return proc


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{proc.args[1:3]} did not get ready (exit {proc.poll()}):\n{tail}")
        time.sleep(0.2)


@dataclass
class Hub:
    """A running hub subprocess and the bench's handles on it."""

    backend: str
    url: str
    pid: int  # also its process group: every hub process, children included
    data: Path
    admin: HubClient
    key: str = ""  # the bench sender's API key
    connectors: list[str] = field(default_factory=list)

    def processes(self) -> list[int]:
        return group_pids(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "Content-Type": content_type}

    def add_service(
        self,
        code: str,
        *,
        mode: str = "async",
        content_type: str = "application/json",
        schema: str | None = None,
    ) -> None:
        self.admin.json(
            "POST",
            "/v1/services",
            json={
                "code": code,
                "name": code,
                "mode": mode,
                "content_type": content_type,
                "request_schema": schema,
            },
        )
        self.admin.json(
            "POST", "/v1/access-rules", json={"system_code": SENDER, "service_code": code}
        )

    def add_rest_route(self, service: str, connector: str, url: str, timeout: float = 10) -> None:
        self.connectors.append(connector)
        self.admin.json(
            "POST",
            "/v1/connectors",
            json={
                "name": connector,
                "type": "rest",
                "config": {"url": url, "timeout_seconds": timeout},
            },
        )
        self.admin.json(
            "POST",
            "/v1/routes",
            json={
                "name": f"route-{connector}",
                "connector": connector,
                "service_code": service,
                "priority": 100,
            },
        )


def start_hub(
    backend: str,
    args: argparse.Namespace,
    stack: contextlib.ExitStack,
    *,
    role: str = "serve",
    env: Mapping[str, str] | None = None,
) -> Hub:
    """``lgsp serve`` (``--workers`` from args) or ``lgsp api`` (API + outbox relay, no worker)
    on a fresh data dir (and, for postgres, a fresh database and queue prefix) and a free
    port, with the bench's agency and sender registered. ``env`` adds ``LGSP_*`` settings."""
    tmp = Path(tempfile.mkdtemp(prefix=f"lgsp-bench-{backend}-{role}-"))
    stack.callback(shutil.rmtree, tmp, ignore_errors=True)
    port = free_port()
    hub_env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    hub_env.update(
        LGSP_DATA_DIR=str(tmp),
        LGSP_PORT=str(port),
        LGSP_HOST="127.0.0.1",
        LGSP_LOG_LEVEL="WARNING",
        **(env or {}),
    )
    connectors: list[str] = []
    if backend == "postgres":
        db, prefix = f"lgsp_bench_{uuid.uuid4().hex[:10]}", f"bench-{uuid.uuid4().hex[:8]}."
        pg_admin(args.pg_url, f'CREATE DATABASE "{db}"')
        stack.callback(pg_admin, args.pg_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        # runs after the hub has stopped; delay queues expire by themselves
        stack.callback(
            lambda: delete_queues(
                args.amqp_url,
                [
                    f"{prefix}{QUEUE}{name}{suffix}"
                    for name in connectors
                    for suffix in ("", ".dead")
                ],
            )
        )
        hub_env.update(
            LGSP_DATABASE_URL=f"{args.pg_url}/{db}",
            LGSP_BROKER_URL=args.amqp_url,
            LGSP_QUEUE_PREFIX=prefix,
        )
    log = tmp / "hub.log"

    def keep_log(failed: type[BaseException] | None, *_: object) -> None:
        if failed:  # the data dir goes away; its log is what explains the failure
            with contextlib.suppress(OSError):
                shutil.copy(log, RESULTS / f"hub-{backend}-{role}-failed.log")

    stack.push(keep_log)
    launcher = os.path.abspath(args.lgsp) if os.sep in args.lgsp else args.lgsp  # cwd=tmp
    if role == "api":  # unlike serve, `lgsp api` does not migrate the store itself
        done = subprocess.run(
            [launcher, "db", "upgrade"],
            env=hub_env,
            cwd=tmp,
            text=True,
            capture_output=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(
                f"lgsp db upgrade failed ({done.returncode}):\n"
                f"{(done.stdout + done.stderr)[-2000:]}"
            )
        command = [launcher, "api"]
    else:
        command = [launcher, "serve", "--workers", str(args.workers)]
    proc = spawn(command, hub_env, tmp, log, stack)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/readyz", proc, log)
    admin = HubClient(url, (tmp / "admin.key").read_text().strip())
    hub = Hub(backend, url, proc.pid, tmp, admin, connectors=connectors)
    admin.json("POST", "/v1/agencies", json={"code": AGENCY, "name": "UBND tinh"})
    hub.key = admin.json(
        "POST", "/v1/systems", json={"code": SENDER, "agency_code": AGENCY, "name": "Bench sender"}
    )["api_key"]
    console.print(f"  hub `{role}` pid {proc.pid} on {url}, data {tmp}")
    return hub


# --- provenance ---------------------------------------------------------------------------------
def code_state() -> dict[str, str]:
    """The commit and uncommitted changes the hub starts from: others edit hub/ in parallel, so
    it is taken again at each hub start."""

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *cmd], capture_output=True, text=True
        ).stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        "changes": git("status", "--short", "hub", "connectors", "sandbox"),
    }


def environment() -> dict[str, Any]:
    """What a later reader needs to compare two result files: versions, machine load."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "pika": pika.__version__,
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
    }


def run_backends(
    name: str,
    args: argparse.Namespace,
    bench: Callable[[str], dict[str, Any]],
    render: Callable[[str, dict[str, Any]], None],
    **extra: Any,
) -> int:
    """Run ``bench(backend)`` for each backend asked for (one failing still reports the
    others), print each with ``render``, and write everything to
    ``bench/results/<name>-<timestamp>.json``. SIGTERM is turned into Ctrl-C, so the benches'
    ``ExitStack``s clean up on a kill too. Returns the exit status."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # even if started with SIGINT ignored (&)
        signal.signal(sig, signal.default_int_handler)
    RESULTS.mkdir(parents=True, exist_ok=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {
        "started": datetime.now().isoformat(timespec="seconds"),
        "args": vars(args),
        **extra,
        "environment": environment(),
        "backends": {},
    }
    status = 0
    for backend in backends:
        try:
            report["backends"][backend] = bench(backend)
            if report["backends"][backend].get("failed"):  # some phases of it failed
                status = 1
        except KeyboardInterrupt:
            console.print("[red]interrupted; cleaned up[/red]")
            report["interrupted"], status = True, 130
            break
        except Exception as exc:  # noqa: BLE001 - one backend failing still reports others
            console.print(f"[red]{backend} failed:[/red] {type(exc).__name__}: {exc}")
            report["backends"][backend] = {"error": f"{type(exc).__name__}: {exc}"}
            status = 1
    report["environment"]["loadavg_end"] = os.getloadavg()
    for backend, res in report["backends"].items():
        if "error" not in res:
            render(backend, res)
    out = RESULTS / f"{name}-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    console.print(f"JSON: {out.relative_to(ROOT)}")
    return status


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every bench script takes."""
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", "-r", type=int, default=1)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="lgsp serve --workers: worker child processes (0: in the hub's)",
    )
    parser.add_argument(
        "--phase-timeout",
        type=float,
        default=240.0,
        help="seconds one phase (submit, or wait for arrivals) may take",
    )
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432",
        help="server URL without database; a fresh database is made per run",
    )
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument(
        "--lgsp",
        default=str(LGSP),
        help="the hub launcher run as `LGSP serve` (A/B runs of a patched hub)",
    )
