"""The hub's performance goals in one table per backend, each figure next to a raw baseline
measured in the same run, with the ratio and the goal. Never asserted anywhere: printed.

Per backend (SQLite + embedded broker; PostgreSQL + RabbitMQ), three hubs one after another:

1. ``lgsp serve``: end to end (``throughput.py``: submit → delivered at the sink, against
   direct HTTP to the same sink and raw pika), the hub's CPU per delivered message (its whole
   process group), and synchronous calls (``sync_call.py``: closed-loop maximum, then an open
   loop at half of it, against direct calls to the same sink);
2. ``lgsp api`` (no worker): accept only (``accept.py``: 202 after commit, against a bare
   uvicorn sink);
3. ``lgsp serve`` with ``LGSP_MAX_BODY_BYTES`` above 1 GB: a 1 GB edXML document
   (``large_body.py``: peak RSS of every hub process against its RSS after a 10 MB one, and
   the time against the same file POSTed straight to the sink).

Run: ``.venv/bin/python bench/run.py --repeat 3``; quick look: ``--backend sqlite -n 300
--repeat 1 --skip-1gb``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Callable
from typing import Any

import large_body
from accept import accept_repeat, start_bare_sink
from harness import (
    BACKENDS,
    code_state,
    common_arguments,
    console,
    medians,
    payload,
    run_backends,
    start_hub,
)
from rich.table import Table
from sync_call import lookup, register_sync, sync_repeat
from throughput import SERVICE, e2e_repeat, e2e_summary, register_async

from sandbox.rest_sink import RestSink

GOALS = {
    "e2e": 0.30,
    "accept": 0.50,
    "cpu_ms": 2.5,
    "sync": 0.50,
    "added_p99_ms": 25.0,
    "rss_growth_mb": 50.0,
    "large_time": 0.5,
}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over repeats, figure by figure (nested one level: ``{"hub": {...}}``)."""
    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = medians([r[key] for r in runs])
        elif isinstance(value, int | float):
            out[key] = statistics.median(r[key] for r in runs)
    return out


def serve_group(
    backend: str,
    args: argparse.Namespace,
    sink: RestSink,
    bodies: list[bytes],
    lookups: list[bytes],
) -> dict[str, Any]:
    """End to end, CPU and synchronous calls on one ``lgsp serve``, repeats interleaved."""
    with contextlib.ExitStack() as stack:
        hub = start_hub(backend, args, stack)
        register_async(hub, sink)
        register_sync(hub, sink)
        # warm-up: connections, caches, and the worker's 5 s refresh that picks up the connector
        e2e_repeat(hub, sink, bodies[: args.warmup], args)
        sync_repeat(hub, sink, lookups[: args.warmup], args, open_loop_too=False)
        e2e, sync = [], []
        for r in range(args.repeat):
            e2e.append(e2e_repeat(hub, sink, bodies, args))
            sync.append(sync_repeat(hub, sink, lookups, args))
            console.print(
                f"  repeat {r + 1}/{args.repeat}: e2e hub {e2e[-1]['hub']['msgs_per_s']:.0f}/s "
                f"vs http {e2e[-1]['http']['msgs_per_s']:.0f}/s, "
                f"{e2e[-1]['hub']['hub_cpu_ms_per_msg']:.1f} ms CPU/msg; sync hub "
                f"{sync[-1]['closed_hub']['per_s']:.0f}/s vs direct "
                f"{sync[-1]['closed_direct']['per_s']:.0f}/s, at {sync[-1]['open_rate']:.0f}/s "
                f"+{sync[-1]['added_p50_ms']:.1f}/+{sync[-1]['added_p99_ms']:.1f} ms p50/p99"
            )
    return {"e2e": e2e_summary(e2e), "sync": {"runs": sync, "median": summary(sync)}}


def accept_group(
    backend: str, args: argparse.Namespace, sink: RestSink, bodies: list[bytes]
) -> dict[str, Any]:
    """Accept only on ``lgsp api`` against the bare sink, repeats interleaved."""
    with contextlib.ExitStack() as stack:
        hub = start_hub(backend, args, stack, role="api")
        register_async(hub, sink)
        bare = start_bare_sink(stack)
        accept_repeat(hub, bare, SERVICE, bodies[: args.warmup], args)
        runs = []
        for r in range(args.repeat):
            runs.append(accept_repeat(hub, bare, SERVICE, bodies, args))
            console.print(
                f"  repeat {r + 1}/{args.repeat}: accept hub "
                f"{runs[-1]['hub']['per_s']:.0f}/s vs bare sink "
                f"{runs[-1]['bare']['per_s']:.0f}/s"
            )
    return {"runs": runs, "median": summary(runs)}


def guarded(name: str, phase: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One group failing (the hub is mid-refactor) still leaves the others' figures."""
    try:
        return phase()
    except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
        console.print(f"  [red]{name} failed:[/red] {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    sink: RestSink,
    bodies: list[bytes],
    lookups: list[bytes],
    docs: Callable[[], Any],
) -> dict[str, Any]:
    console.print(f"[bold]{BACKENDS[backend]}[/bold]")
    res: dict[str, Any] = {"code": code_state()}
    res["serve"] = guarded(
        "end to end / sync", lambda: serve_group(backend, args, sink, bodies, lookups)
    )
    res["accept"] = guarded("accept", lambda: accept_group(backend, args, sink, bodies))
    if not args.skip_1gb:
        res["large"] = guarded(
            "1 GB XML", lambda: large_body.large_phase(backend, args, sink, docs())
        )
    res["failed"] = [k for k in ("serve", "accept", "large") if "error" in res.get(k, {})]
    return res


# --- the table ------------------------------------------------------------------------------------
def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("[green]yes[/green]" if ok else "[red]no[/red]")


def render(backend: str, res: dict[str, Any], args: argparse.Namespace) -> None:
    """One row per goal of the issue, in its order; a group that failed shows its error."""
    table = Table(
        title=f"{BACKENDS[backend]}: median of {args.repeat} "
        f"({args.messages} × 1 KB, {args.concurrency} clients)"
    )
    for col in ("figure", "measured", "baseline (same run)", "ratio", "goal", "met"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    notes: list[str] = []
    serve, accept = res["serve"], res["accept"]

    def failed(figure: str, group: dict[str, Any], goal: str) -> None:
        table.add_row(figure, f"[red]{group['error'][:120]}[/red]", "", "", goal, _met(False))

    e2e = serve.get("e2e", {}).get("median", {})
    if e2e:
        hub, http = e2e["hub"], e2e["http"]
        r = serve["e2e"]["ratios"]["hub_e2e_over_http"]
        table.add_row(
            "end to end: submit → delivered at the sink",
            f"{hub['msgs_per_s']:.0f} msg/s",
            f"direct HTTP {http['msgs_per_s']:.0f}/s",
            f"{r:.3f}",
            f"≥ {GOALS['e2e']:.2f}",
            _met(r >= GOALS["e2e"]),
        )
        notes.append(
            f"end to end p50/p99 {hub['p50_ms']:.0f}/{hub['p99_ms']:.0f} ms (a "
            f"backlog figure), direct HTTP {http['p50_ms']:.1f}/{http['p99_ms']:.1f} ms;"
            f" raw pika {e2e['pika']['msgs_per_s']:.0f}/s, hub ÷ pika "
            f"{serve['e2e']['ratios']['hub_e2e_over_pika']:.3f}"
        )
    else:
        failed("end to end: submit → delivered at the sink", serve, "≥ 0.30")
    if "error" in accept:
        failed("accept: 202 after commit", accept, "≥ 0.50")
    else:
        hub, bare = accept["median"]["hub"], accept["median"]["bare"]
        r = hub["per_s"] / bare["per_s"]
        table.add_row(
            f"accept: 202 after commit (`lgsp api`, {args.accept_clients} client)",
            f"{hub['per_s']:.0f}/s",
            f"bare uvicorn {bare['per_s']:.0f}/s",
            f"{r:.3f}",
            f"≥ {GOALS['accept']:.2f}",
            _met(r >= GOALS["accept"]),
        )
        notes.append(
            f"accept p50/p99: hub {hub['p50_ms']:.1f}/{hub['p99_ms']:.1f} ms, bare "
            f"sink {bare['p50_ms']:.1f}/{bare['p99_ms']:.1f} ms"
        )
    if e2e:
        hub, cpu = e2e["hub"], e2e["hub"]["hub_cpu_ms_per_msg"]
        procs = f"{hub['hub_processes']:.0f} process{'' if hub['hub_processes'] == 1 else 'es'}"
        table.add_row(
            f"hub CPU per delivered message ({procs})",
            f"{cpu:.2f} ms",
            "–",
            f"{cpu * hub['msgs_per_s'] / 1000:.2f} cores",
            f"≤ {GOALS['cpu_ms']} ms",
            _met(cpu <= GOALS["cpu_ms"]),
        )
    else:
        failed("hub CPU per delivered message", serve, "≤ 2.5 ms")
    sync = serve.get("sync", {}).get("median", {})
    if sync:
        oh, od = sync["open_hub"], sync["open_direct"]
        r = sync["closed_hub"]["per_s"] / sync["closed_direct"]["per_s"]
        table.add_row(
            "sync call: closed-loop max rate",
            f"{sync['closed_hub']['per_s']:.0f}/s",
            f"direct {sync['closed_direct']['per_s']:.0f}/s",
            f"{r:.3f}",
            f"≥ {GOALS['sync']:.2f}",
            _met(r >= GOALS["sync"]),
        )
        table.add_row(
            f"sync call: added p50 at {sync['open_rate']:.0f}/s (½ max)",
            f"+{sync['added_p50_ms']:.1f} ms",
            f"direct p50 {od['p50_ms']:.1f} ms",
            "–",
            "–",
            _met(None),
        )
        table.add_row(
            f"sync call: added p99 at {sync['open_rate']:.0f}/s (½ max)",
            f"+{sync['added_p99_ms']:.1f} ms",
            f"direct p99 {od['p99_ms']:.1f} ms",
            "–",
            f"≤ +{GOALS['added_p99_ms']:.0f} ms",
            _met(sync["added_p99_ms"] <= GOALS["added_p99_ms"]),
        )
        notes.append(
            f"sync p50/p99 at {sync['open_rate']:.0f}/s: hub {oh['p50_ms']:.1f}/"
            f"{oh['p99_ms']:.1f} ms, direct {od['p50_ms']:.1f}/{od['p99_ms']:.1f} ms"
        )
    else:
        failed("sync call ÷ direct call", serve, "≥ 0.50")
    if "large" in res:
        render_large(table, res["large"], notes)
    table.caption = "\n".join(notes)
    console.print(table)


def render_large(table: Table, large: dict[str, Any], notes: list[str]) -> None:
    size = f"{large.get('bytes', 10**9) / 10**9:g} GB"
    procs = [p for p in large.get("processes", []) if p.get("rss_after_10mb_mb") is not None]
    if procs:
        worst = max(procs, key=lambda p: p["growth_mb"])
        ok = all(p["growth_mb"] <= GOALS["rss_growth_mb"] for p in procs)
        table.add_row(
            f"{size} XML: peak RSS, worst of {len(procs)} hub process"
            f"{'' if len(procs) == 1 else 'es'}",
            f"{worst['peak_mb']:.0f} MB ({worst['role']})",
            f"after 10 MB {worst['rss_after_10mb_mb']:.0f} MB",
            f"+{worst['growth_mb']:.0f} MB",
            f"≤ +{GOALS['rss_growth_mb']:.0f} MB",
            _met(ok),
        )
        notes += [
            f"{size}: pid {p['pid']} {p['role']}: {p['rss_after_10mb_mb']:.0f} MB after "
            f"10 MB → peak {p['peak_mb']:.0f} MB ({p['peak_from']})"
            for p in procs
        ]
    hub, direct = large.get("hub", {}), large.get("direct", {})
    if "time_ratio" in large:
        table.add_row(
            f"{size} XML: submit → delivered",
            f"{hub['delivered_s']:.1f} s",
            f"direct POST {direct['seconds']:.1f} s",
            f"{large['time_ratio']:.3f}",
            f"≥ {GOALS['large_time']}",
            _met(large["time_ratio"] >= GOALS["large_time"]),
        )
        notes.append(f"{size}: 202 after {hub['accept_s']:.1f} s; delivered byte for byte")
    else:
        baseline = f"direct POST {direct['seconds']:.1f} s" if direct else ""
        table.add_row(
            f"{size} XML: submit → delivered",
            f"[red]{large.get('error', '?')[:160]}[/red]",
            baseline,
            "–",
            f"≥ {GOALS['large_time']}",
            _met(False),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--messages",
        "-n",
        type=int,
        default=2000,
        help="1 KB messages per repeat: end to end and accept",
    )
    parser.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=8,
        help="clients for end to end and the sync closed loop",
    )
    parser.add_argument(
        "--accept-clients",
        type=int,
        default=1,
        help="clients for accept only (hub and bare sink alike)",
    )
    parser.add_argument(
        "--sync-messages", type=int, default=1000, help="calls per closed loop (hub, then direct)"
    )
    parser.add_argument(
        "--open-seconds",
        type=float,
        default=10.0,
        help="length of each open-loop run at half the hub's max sync rate",
    )
    parser.add_argument("--warmup", type=int, default=30)
    common_arguments(parser)
    large_body.arguments(parser)
    args = parser.parse_args(argv)
    bodies = [payload(i) for i in range(args.messages)]
    lookups = [lookup(i) for i in range(args.sync_messages)]
    with contextlib.ExitStack() as stack:
        made: list[Any] = []

        def docs() -> Any:  # written once, on first use, removed at the very end
            if not made:
                made.append(large_body.make_documents(stack, args.large_mb))
            return made[0]

        sink = stack.enter_context(RestSink(max_body_bytes=(args.large_mb + 64) * 10**6))
        return run_backends(
            "run",
            args,
            lambda backend: bench_backend(backend, args, sink, bodies, lookups, docs),
            lambda backend, res: render(backend, res, args),
            payload_bytes=len(bodies[0]),
        )


if __name__ == "__main__":
    sys.exit(main())
