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
import sys
import threading
import time
import uuid
from typing import Any

import pika
import requests
from harness import (
    BACKENDS,
    Hub,
    PhaseTimeout,
    blast,
    code_state,
    common_arguments,
    console,
    delete_queues,
    medians,
    payload,
    run_backends,
    start_hub,
    summarise,
    wait_received,
)
from rich.table import Table

from sandbox.rest_sink import RestSink

SERVICE, CONNECTOR = "dossier.status", "portal"


def hub_phase(
    hub: Hub, sink: RestSink, bodies: list[bytes], conc: int, timeout: float
) -> dict[str, float]:
    """Submit every body over HTTP and wait for every delivery at the sink; the hub's CPU over
    that time (every process of its group) divided by the messages delivered."""
    sink.clear_received()
    cpu, headers, url = hub.cpu_seconds(), hub.headers(), f"{hub.url}/v1/messages"

    def send(s: requests.Session, i: int) -> str:
        r = s.post(url, params={"service": SERVICE}, data=bodies[i], headers=headers, timeout=30)
        if r.status_code != 202:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
        return r.json()["id"]

    sent = blast(len(bodies), conc, send, timeout)
    arrived = wait_received(sink, sent["keys"], timeout)
    cpu_ms = (hub.cpu_seconds() - cpu) * 1000 / len(bodies)
    return {
        **summarise(sent["starts"], arrived, sent["ends"]),
        "hub_cpu_ms_per_msg": cpu_ms,
        "hub_processes": len(hub.processes()),
    }


def register_async(hub: Hub, sink: RestSink) -> None:
    """The ``dossier.status`` service (JSON schema), a REST connector to the sink, a route."""
    hub.add_service(SERVICE, schema="dossier-status.v1.json")
    hub.add_rest_route(SERVICE, CONNECTOR, f"{sink.url}/hub")


def http_phase(sink: RestSink, bodies: list[bytes], conc: int, timeout: float) -> dict[str, float]:
    """The same bodies POSTed straight to the sink: the cost of the last hop alone."""
    sink.clear_received()

    def send(s: requests.Session, i: int) -> str:
        key = f"direct-{i}"
        r = s.post(
            f"{sink.url}/direct",
            data=bodies[i],
            timeout=30,
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
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
                channel.basic_publish(
                    "",
                    queue,
                    body,
                    pika.BasicProperties(
                        delivery_mode=2, message_id=str(i), content_type="application/json"
                    ),
                )
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


def e2e_repeat(
    hub: Hub, sink: RestSink, bodies: list[bytes], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """One repeat: the hub end to end, then direct HTTP and raw pika on the same bodies, back
    to back, so each ratio compares measurements taken under the same background noise."""
    t = args.phase_timeout
    return {
        "hub": hub_phase(hub, sink, bodies, args.concurrency, t),
        "http": http_phase(sink, bodies, args.concurrency, t),
        "pika": pika_phase(args.amqp_url, bodies, t),
    }


def e2e_summary(runs: list[dict[str, dict[str, float]]]) -> dict[str, Any]:
    """Medians over repeats of every figure, and the ratios between them."""
    med = {name: medians([r[name] for r in runs]) for name in runs[0]}
    ratios = {
        "hub_e2e_over_pika": med["hub"]["msgs_per_s"] / med["pika"]["msgs_per_s"],
        "hub_e2e_over_http": med["hub"]["msgs_per_s"] / med["http"]["msgs_per_s"],
        "hub_p50_over_http_p50": med["hub"]["p50_ms"] / med["http"]["p50_ms"],
    }
    return {"runs": runs, "median": med, "ratios": ratios}


def bench_backend(
    backend: str, args: argparse.Namespace, sink: RestSink, bodies: list[bytes]
) -> dict[str, Any]:
    """One hub for all repeats of a backend; baselines interleaved with its runs."""
    with contextlib.ExitStack() as stack:
        console.print(f"[bold]{BACKENDS[backend]}[/bold]: starting the hub")
        code, hub = code_state(), start_hub(backend, args, stack)
        register_async(hub, sink)
        # warm-up: connections, caches, and the worker's 5 s refresh that picks up the connector
        e2e_repeat(hub, sink, bodies[: args.warmup], args)
        runs = []
        for r in range(args.repeat):
            runs.append(e2e_repeat(hub, sink, bodies, args))
            h, p, d = (runs[-1][k]["msgs_per_s"] for k in ("hub", "pika", "http"))
            console.print(
                f"  repeat {r + 1}/{args.repeat}: hub {h:.0f}/s, pika {p:.0f}/s, http {d:.0f}/s"
            )
    return {"code": code, **e2e_summary(runs)}


def render(backend: str, res: dict[str, Any], args: argparse.Namespace) -> None:
    med, ratios = res["median"], res["ratios"]
    table = Table(
        title=f"{BACKENDS[backend]}: {args.messages} × 1 KB, "
        f"{args.concurrency} clients, median of {args.repeat}"
    )
    table.add_column("measurement (msgs/s: first send → last arrival)")
    for col in ("msgs/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right")
    hub = med["hub"]
    table.add_row(
        "hub accepted: submit → 202",
        f"{hub['accepted_per_s']:.0f}",
        f"{hub['accept_p50_ms']:.1f}",
        f"{hub['accept_p99_ms']:.1f}",
    )
    for label, k in (
        ("hub end-to-end: submit → sink", "hub"),
        ("raw pika: confirmed publish → consume", "pika"),
        ("direct HTTP: POST → sink", "http"),
    ):
        table.add_row(
            label,
            f"{med[k]['msgs_per_s']:.0f}",
            f"{med[k]['p50_ms']:.1f}",
            f"{med[k]['p99_ms']:.1f}",
        )
    cpu = hub["hub_cpu_ms_per_msg"]
    table.caption = "\n".join(
        (
            f"hub CPU {cpu:.1f} ms/msg = {cpu * hub['msgs_per_s'] / 1000:.2f} cores "
            "at the e2e rate",
            f"hub e2e ÷ raw pika = {ratios['hub_e2e_over_pika']:.3f}",
            f"hub e2e ÷ direct HTTP = {ratios['hub_e2e_over_http']:.3f}",
            f"hub p50 ÷ HTTP p50 = {ratios['hub_p50_over_http_p50']:.0f}",
        )
    )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", "-n", type=int, default=2000)
    parser.add_argument("--concurrency", "-c", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=30)
    common_arguments(parser)
    args = parser.parse_args(argv)
    bodies = [payload(i) for i in range(args.messages)]
    with RestSink() as sink:
        return run_backends(
            "throughput",
            args,
            lambda backend: bench_backend(backend, args, sink, bodies),
            lambda backend, res: render(backend, res, args),
            payload_bytes=len(bodies[0]),
        )


if __name__ == "__main__":
    sys.exit(main())
