"""Synchronous calls: ``POST /v1/services/citizen.lookup/call`` through the hub (``mode: sync``,
JSON schema ``citizen-lookup.v1.json``, the ``rest`` connector to the sandbox ``RestSink``,
which answers ``201`` with a small JSON body) against the same body POSTed straight to the sink,
with the same clients.

Each repeat measures (1) the closed-loop maximum rate, hub and direct, from ``--concurrency``
keep-alive clients, then (2) an open loop at half of the hub's maximum just measured, for
``--open-seconds``, on the hub and then direct at the *same* rate: the hub's added latency is
hub minus direct, at p50 and p99, each call timed from when it was due.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import requests
from harness import Hub, Send, blast, open_loop, round_trips

from sandbox.rest_sink import RestSink

SERVICE, CONNECTOR = "citizen.lookup", "citizen-registry"


def lookup(i: int) -> bytes:
    """A ``citizen-lookup.v1.json``-valid request (a distinct ID number per call)."""
    return json.dumps(
        {
            "IdNumber": f"{i % 10**12:012d}",
            "Purpose": "Xac minh chu ho so",
            "OfficerId": f"cb-{i % 97}",
        }
    ).encode()


def register_sync(hub: Hub, sink: RestSink) -> None:
    hub.add_service(SERVICE, mode="sync", schema="citizen-lookup.v1.json")
    hub.add_rest_route(SERVICE, CONNECTOR, f"{sink.url}/lookup")


def _caller(url: str, headers: dict[str, str], bodies: list[bytes], ok: int) -> Send:
    def send(s: requests.Session, i: int) -> str:
        r = s.post(url, data=bodies[i % len(bodies)], headers=headers, timeout=30)
        if r.status_code != ok:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
        return ""

    return send


def callers(hub: Hub, sink: RestSink, bodies: list[bytes]) -> tuple[Send, Send]:
    """Through the hub (answer 200, the partner's body) and straight to the sink (201)."""
    return (
        _caller(f"{hub.url}/v1/services/{SERVICE}/call", hub.headers(), bodies, 200),
        _caller(f"{sink.url}/lookup", {"Content-Type": "application/json"}, bodies, 201),
    )


def sync_repeat(
    hub: Hub,
    sink: RestSink,
    bodies: list[bytes],
    args: argparse.Namespace,
    open_loop_too: bool = True,
) -> dict[str, Any]:
    t, n = args.phase_timeout, len(bodies)
    via_hub, direct = callers(hub, sink, bodies)

    def closed(send: Send) -> dict[str, float]:
        return round_trips(blast(n, args.concurrency, send, t))

    sink.clear_received()
    out: dict[str, Any] = {"closed_hub": closed(via_hub), "closed_direct": closed(direct)}
    if open_loop_too:
        rate = out["closed_hub"]["per_s"] / 2
        count = max(20, round(rate * args.open_seconds))
        out["open_rate"] = rate
        out["open_hub"] = round_trips(open_loop(count, rate, via_hub, t))
        out["open_direct"] = round_trips(open_loop(count, rate, direct, t))
        out["added_p50_ms"] = out["open_hub"]["p50_ms"] - out["open_direct"]["p50_ms"]
        out["added_p99_ms"] = out["open_hub"]["p99_ms"] - out["open_direct"]["p99_ms"]
    sink.clear_received()
    return out
