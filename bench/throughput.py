"""Hub throughput and latency, printed as ratios against raw baselines measured in the same run.

Why this shape: the machine is small and noisy, so an absolute msgs/s means little on its own and
a timed test would be flaky. Each repeat measures, back to back in one process and on the same
N payloads: (1) a real ``lgsp serve`` subprocess end to end (HTTP submit → store + outbox →
relay → broker → worker → REST connector → sandbox sink), (2) raw pika (persistent publish with
a confirm per message, consumed with manual acks) and (3) direct HTTP POSTs to the same sink. The
ratios say how much of the underlying transports the hub keeps; medians over ``--repeat`` damp
the noise. Run: ``.venv/bin/python bench/throughput.py --help``; see bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
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
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pika
import psycopg
import requests
from rich.console import Console
from rich.table import Table

from hub.client import HubClient
from sandbox.rest_sink import RestSink

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LGSP = Path(sys.executable).parent / "lgsp"
SERVICE, SENDER, AGENCY, CONNECTOR = "dossier.status", "bench", "000.00.00.H49", "portal"
BACKENDS = {"sqlite": "SQLite + embedded broker", "postgres": "PostgreSQL + RabbitMQ"}
console = Console()


class PhaseTimeout(RuntimeError):
    """A phase ran past ``--phase-timeout``: the run is reported as failed, never left hanging."""


def payload(i: int, size: int = 1024) -> bytes:
    """A ``dossier-status.v1.json``-valid document padded to ``size`` bytes: the schema caps
    NoiDungXuLy at 500 chars, so the padding is spread over the three free-text fields."""
    doc = {"MaHoSo": f"000.00.00.H49-261125-{i:06d}", "TrangThaiHoSo": 4,
           "ThoiDiemXuLy": "20261125090000", "NoiDungXuLy": "", "NguoiXuLy": "",
           "PhongBanXuLy": ""}
    pad = ("Dang xu ly ho so, cho bo sung giay to. " * 30)[:size - len(json.dumps(doc))]
    doc["NoiDungXuLy"], doc["NguoiXuLy"], doc["PhongBanXuLy"] = pad[:500], pad[500:700], pad[700:]
    return json.dumps(doc).encode()


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no numpy on purpose: the bench needs only the hub's deps)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))]


def blast(n: int, concurrency: int, send: Callable[[requests.Session, int], str],
          timeout: float) -> dict[str, Any]:
    """Call ``send(session, i)`` for i < n from ``concurrency`` threads, one keep-alive session
    each; returns wall-clock start/end per call and the key each call returned. Daemon threads
    and a stop flag keep Ctrl-C and the timeout effective."""
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


def summarise(starts: list[float], arrived: list[float], ends: list[float] | None = None
              ) -> dict[str, float]:
    """msgs/s from the first send to the last arrival, and per-message send→arrival latency."""
    n, first = len(starts), min(starts)
    lat = [(a - s) * 1000 for s, a in zip(starts, arrived, strict=True)]
    out = {"msgs_per_s": n / (max(arrived) - first), "p50_ms": pct(lat, 50),
           "p99_ms": pct(lat, 99)}
    if ends is not None:  # hub only: how fast it says 202, and how long a 202 takes
        rtt = [(e - s) * 1000 for s, e in zip(starts, ends, strict=True)]
        out.update(accepted_per_s=n / (max(ends) - first), accept_p50_ms=pct(rtt, 50),
                   accept_p99_ms=pct(rtt, 99))
    return out


def cpu_seconds(pgid: int) -> float:
    """utime + stime of the hub's process group (Linux /proc; a launcher may fork api and
    worker): CPU per message is far less noisy than a wall-clock rate on a shared machine, and
    says whether the hub is CPU-bound or waiting."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def hub_phase(hub: tuple[str, str, int], sink: RestSink, bodies: list[bytes], conc: int,
              timeout: float) -> dict[str, float]:
    """Submit every body over HTTP and wait for every delivery at the sink."""
    hub_url, key, pid = hub
    sink.clear_received()
    cpu, headers = cpu_seconds(pid), {"Authorization": f"Bearer {key}",
                                      "Content-Type": "application/json"}

    def send(s: requests.Session, i: int) -> str:
        r = s.post(f"{hub_url}/v1/messages", params={"service": SERVICE}, data=bodies[i],
                   headers=headers, timeout=30)
        if r.status_code != 202:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
        return r.json()["id"]

    sent = blast(len(bodies), conc, send, timeout)
    arrived = wait_received(sink, sent["keys"], timeout)
    cpu_ms = (cpu_seconds(pid) - cpu) * 1000 / len(bodies)
    return {**summarise(sent["starts"], arrived, sent["ends"]), "hub_cpu_ms_per_msg": cpu_ms}


def http_phase(sink: RestSink, bodies: list[bytes], conc: int, timeout: float
               ) -> dict[str, float]:
    """The same bodies POSTed straight to the sink: the cost of the last hop alone."""
    sink.clear_received()

    def send(s: requests.Session, i: int) -> str:
        key = f"direct-{i}"
        r = s.post(f"{sink.url}/direct", data=bodies[i], timeout=30,
                   headers={"Content-Type": "application/json", "Idempotency-Key": key})
        if r.status_code not in (200, 201):
            raise RuntimeError(f"HTTP {r.status_code}")
        return key

    sent = blast(len(bodies), conc, send, timeout)
    return summarise(sent["starts"], wait_received(sink, sent["keys"], timeout))


def pika_phase(amqp_url: str, bodies: list[bytes], timeout: float) -> dict[str, float]:
    """Persistent publish with one confirm per message on one BlockingConnection, to a fresh
    durable queue consumed meanwhile (manual ack, prefetch 100) on a second connection: a
    BlockingConnection belongs to one thread. The queue is deleted afterwards."""
    params, n, queue = pika.URLParameters(amqp_url), len(bodies), f"bench-raw-{uuid.uuid4().hex}"
    sent, arrived, got, failure = [0.0] * n, [0.0] * n, [], []
    ready, stop = threading.Event(), threading.Event()

    def on_message(ch: Any, method: Any, props: Any, _body: bytes) -> None:
        arrived[int(props.message_id)] = time.time()
        ch.basic_ack(method.delivery_tag)
        got.append(1)

    def consume() -> None:
        try:
            with pika.BlockingConnection(params) as conn:
                ch = conn.channel()
                ch.queue_declare(queue, durable=True)
                ch.basic_qos(prefetch_count=100)
                ch.basic_consume(queue, on_message)
                ready.set()
                while len(got) < n and not stop.is_set():
                    conn.process_data_events(time_limit=0.1)
        except Exception as exc:  # noqa: BLE001 - raised again on the main thread
            failure.append(exc)
        finally:
            ready.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    deadline = time.monotonic() + timeout
    try:
        ready.wait(30)
        with pika.BlockingConnection(params) as pub:
            channel = pub.channel()
            channel.confirm_delivery()
            for i, body in enumerate(bodies):
                if failure or time.monotonic() > deadline:
                    break
                sent[i] = time.time()
                channel.basic_publish("", queue, body, pika.BasicProperties(
                    delivery_mode=2, message_id=str(i), content_type="application/json"))
        consumer.join(max(0.0, deadline - time.monotonic()))
    finally:
        stop.set()
        consumer.join(5)
        delete_queues(amqp_url, [queue])
    if failure:
        raise failure[0]
    if len(got) < n:
        raise PhaseTimeout(f"raw pika: {len(got)} of {n} consumed in {timeout:.0f}s")
    return summarise(sent, arrived)


def pg_admin(pg_url: str, sql: str) -> None:
    with psycopg.connect(f"{pg_url}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def delete_queues(amqp_url: str, names: list[str]) -> None:
    with contextlib.suppress(Exception), pika.BlockingConnection(
            pika.URLParameters(amqp_url)) as conn:
        channel = conn.channel()
        for name in names:
            channel.queue_delete(name)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM to the hub's own process group (uvicorn then stops worker and relay in order),
    SIGKILL to whatever of it is left after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


def start_hub(backend: str, args: argparse.Namespace, sink: RestSink,
              stack: contextlib.ExitStack) -> tuple[str, str, int]:
    """``lgsp serve`` on a fresh data dir (and, for postgres, a fresh database and queue
    prefix) and a free port; every resource is undone by ``stack``, in reverse, even on
    Ctrl-C. Returns the hub URL, the registered sender's API key and the hub's pid."""
    tmp = Path(tempfile.mkdtemp(prefix=f"lgsp-bench-{backend}-"))
    stack.callback(shutil.rmtree, tmp, ignore_errors=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LGSP_")}
    env.update(LGSP_DATA_DIR=str(tmp), LGSP_PORT=str(port), LGSP_HOST="127.0.0.1",
               LGSP_LOG_LEVEL="WARNING")
    if backend == "postgres":
        db, prefix = f"lgsp_bench_{uuid.uuid4().hex[:10]}", f"bench-{uuid.uuid4().hex[:8]}."
        pg_admin(args.pg_url, f'CREATE DATABASE "{db}"')
        stack.callback(pg_admin, args.pg_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        queue = f"{prefix}lgsp.deliver.{CONNECTOR}"
        stack.callback(delete_queues, args.amqp_url, [queue, f"{queue}.dead"])
        env.update(LGSP_DATABASE_URL=f"{args.pg_url}/{db}", LGSP_BROKER_URL=args.amqp_url,
                   LGSP_QUEUE_PREFIX=prefix)
    log = (tmp / "hub.log").open("wb")

    def keep_log(failed: type[BaseException] | None, *_: object) -> None:
        if failed:  # the data dir goes away; its log is what explains the failure
            with contextlib.suppress(OSError):
                shutil.copy(tmp / "hub.log", RESULTS / f"hub-{backend}-failed.log")

    stack.push(keep_log)
    stack.callback(log.close)
    launcher = os.path.abspath(args.lgsp) if os.sep in args.lgsp else args.lgsp  # cwd=tmp
    command = [launcher, "serve", "--workers", str(args.workers)]
    proc = subprocess.Popen(command, env=env, cwd=tmp, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    stack.callback(stop_process, proc)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (tmp / "hub.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"hub did not get ready (exit {proc.poll()}):\n{tail}")
        time.sleep(0.2)
    console.print(f"  hub pid {proc.pid} on {url}, data {tmp}")
    admin = HubClient(url, (tmp / "admin.key").read_text().strip())
    replies = [admin.json("POST", path, json=body) for path, body in (  # as tests/e2e do
        ("/v1/agencies", {"code": AGENCY, "name": "UBND tinh"}),
        ("/v1/systems", {"code": SENDER, "agency_code": AGENCY, "name": "Bench sender"}),
        ("/v1/services", {"code": SERVICE, "name": SERVICE, "mode": "async",
                          "content_type": "application/json",
                          "request_schema": "dossier-status.v1.json"}),
        ("/v1/connectors", {"name": CONNECTOR, "type": "rest",
                            "config": {"url": f"{sink.url}/hub", "timeout_seconds": 10}}),
        ("/v1/routes", {"name": "route-portal", "connector": CONNECTOR,
                        "service_code": SERVICE, "priority": 100}),
        ("/v1/access-rules", {"system_code": SENDER, "service_code": SERVICE}))]
    return url, replies[1]["api_key"], proc.pid


def bench_backend(backend: str, args: argparse.Namespace, sink: RestSink,
                  bodies: list[bytes]) -> dict[str, Any]:
    """One hub for all repeats of a backend; baselines interleaved with its runs, so each ratio
    compares measurements taken minutes apart at most, under the same background noise."""
    runs: dict[str, list[dict[str, float]]] = {"hub": [], "pika": [], "http": []}
    warm = bodies[:args.warmup]
    with contextlib.ExitStack() as stack:
        console.print(f"[bold]{BACKENDS[backend]}[/bold]: starting the hub")
        code, hub = code_state(), start_hub(backend, args, sink, stack)
        t = args.phase_timeout
        # warm-up: connections, caches, and the worker's 5 s refresh that picks up the connector
        hub_phase(hub, sink, warm, args.concurrency, t)
        http_phase(sink, warm, args.concurrency, t)
        pika_phase(args.amqp_url, warm, t)
        for r in range(args.repeat):
            runs["hub"].append(hub_phase(hub, sink, bodies, args.concurrency, t))
            runs["http"].append(http_phase(sink, bodies, args.concurrency, t))
            runs["pika"].append(pika_phase(args.amqp_url, bodies, t))
            h, p, d = (runs[k][-1]["msgs_per_s"] for k in ("hub", "pika", "http"))
            console.print(f"  repeat {r + 1}/{args.repeat}: hub {h:.0f}/s, pika {p:.0f}/s, "
                          f"http {d:.0f}/s")
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
           for name, rs in runs.items()}
    ratios = {"hub_e2e_over_pika": med["hub"]["msgs_per_s"] / med["pika"]["msgs_per_s"],
              "hub_e2e_over_http": med["hub"]["msgs_per_s"] / med["http"]["msgs_per_s"],
              "hub_p50_over_http_p50": med["hub"]["p50_ms"] / med["http"]["p50_ms"]}
    return {"code": code, "runs": runs, "median": med, "ratios": ratios}


def render(backend: str, res: dict[str, Any], args: argparse.Namespace) -> None:
    med, ratios = res["median"], res["ratios"]
    table = Table(title=f"{BACKENDS[backend]}: {args.messages} × 1 KB, "
                  f"{args.concurrency} clients, median of {args.repeat}")
    table.add_column("measurement (msgs/s: first send → last arrival)")
    for col in ("msgs/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    hub = med["hub"]
    table.add_row("hub accepted: submit → 202", f"{hub['accepted_per_s']:.0f}",
                  f"{hub['accept_p50_ms']:.1f}", f"{hub['accept_p99_ms']:.1f}")
    for label, k in (("hub end-to-end: submit → sink", "hub"),
                     ("raw pika: confirmed publish → consume", "pika"),
                     ("direct HTTP: POST → sink", "http")):
        table.add_row(label, f"{med[k]['msgs_per_s']:.0f}", f"{med[k]['p50_ms']:.1f}",
                      f"{med[k]['p99_ms']:.1f}")
    cpu = hub["hub_cpu_ms_per_msg"]
    table.caption = "\n".join((
        f"hub CPU {cpu:.1f} ms/msg = {cpu * hub['msgs_per_s'] / 1000:.2f} cores at the e2e rate",
        f"hub e2e ÷ raw pika = {ratios['hub_e2e_over_pika']:.3f}",
        f"hub e2e ÷ direct HTTP = {ratios['hub_e2e_over_http']:.3f}",
        f"hub p50 ÷ HTTP p50 = {ratios['hub_p50_over_http_p50']:.0f}"))
    console.print(table)


def code_state() -> dict[str, str]:
    """The commit and uncommitted changes the hub starts from: others edit hub/ in parallel, so
    it is taken again at each hub start."""
    def git(*cmd: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True,
                              text=True).stdout.strip()
    return {"commit": git("rev-parse", "HEAD"), "changes": git("status", "--short", "hub",
                                                                 "connectors", "sandbox")}


def environment() -> dict[str, Any]:
    """What a later reader needs to compare two result files: versions, machine load."""
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "pika": pika.__version__, "cpus": os.cpu_count(), "loadavg": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", "-n", type=int, default=2000)
    parser.add_argument("--concurrency", "-c", type=int, default=8)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", "-r", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--workers", type=int, default=0,
                        help="lgsp serve --workers: worker child processes (0: in the hub's)")
    parser.add_argument("--phase-timeout", type=float, default=240.0,
                        help="seconds one phase (submit, or wait for arrivals) may take")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="server URL without database; a fresh database is made per run")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--lgsp", default=str(LGSP),
                        help="the hub launcher run as `LGSP serve` (A/B runs of a patched hub)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # cleanup runs on kill, too
    RESULTS.mkdir(parents=True, exist_ok=True)
    bodies = [payload(i) for i in range(args.messages)]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    report: dict[str, Any] = {"started": datetime.now().isoformat(timespec="seconds"),
                              "args": vars(args), "payload_bytes": len(bodies[0]),
                              "environment": environment(), "backends": {}}
    status = 0
    with RestSink() as sink:
        for backend in backends:
            try:
                report["backends"][backend] = bench_backend(backend, args, sink, bodies)
            except KeyboardInterrupt:
                console.print("[red]interrupted; cleaned up[/red]")
                return 130
            except Exception as exc:  # noqa: BLE001 - one backend failing still reports others
                console.print(f"[red]{backend} failed:[/red] {type(exc).__name__}: {exc}")
                report["backends"][backend] = {"error": f"{type(exc).__name__}: {exc}"}
                status = 1
    report["environment"]["loadavg_end"] = os.getloadavg()
    for backend, res in report["backends"].items():
        if "median" in res:
            render(backend, res, args)
    out = RESULTS / f"throughput-{datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    console.print(f"JSON: {out.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
