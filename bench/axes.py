"""The national axes through the hub, each against the same partner called without it.

* **DVCQG dossier sync in batches.** ``DongBoHoSoMC`` messages of B dossiers each (B = 1, 10,
  100 by default), N dossiers in all, submitted to a real ``lgsp serve`` (service
  ``dossier.sync``, the ``dvcqg`` connector, the sandbox portal in this process); dossiers per
  second from the first submit until the portal has accepted the last call. Baseline: the
  same messages delivered by a ``DvcqgConnector`` in this process, with the same concurrency —
  the same login, session and HTTP client, no hub. The ratio is what the hub keeps of the
  partner's own throughput while making every batch durable, traced and retried.
* **The population lookup** (``citizen.verify``, a personal-data synchronous service on the
  ``population`` connector through the sandbox NDXP gateway): closed-loop max rate, then an
  open loop at half the hub's max for the added p50/p99 — against the same requests delivered
  by a ``PopulationConnector`` in this process (token, SOAP, parsing: everything but the hub).

Run: ``.venv/bin/python bench/axes.py --backend sqlite``; ``--help`` for the sizes. Printed,
never asserted; a median of ``--repeat`` runs, each ratio measured within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import requests
from harness import (
    SENDER,
    Hub,
    blast,
    code_state,
    common_arguments,
    console,
    open_loop,
    round_trips,
    run_backends,
    start_hub,
)
from rich.table import Table
from run import summary

from connectors.dvcqg import DvcqgConnector
from connectors.population import PopulationConnector
from hub.connector import OutboundMessage
from hub.ids import new_id
from hub.payload import Payload
from sandbox.dvcqg import DvcqgPortal
from sandbox.ndxp import NdxpGateway

DOSSIER_SERVICE = "dossier.sync"
LOOKUP_SERVICE = "citizen.verify"
GROUNDS = {"X-LGSP-Purpose": "bench", "X-LGSP-Officer": "cb-bench"}


def dossier(code: str) -> dict[str, Any]:
    """A dossier the portal accepts, as the mapping from a one-stop system gives it."""
    return {
        "MaHoSo": code,
        "MaTTHC": "1.001193.000.00.00.H49",
        "TenTTHC": "Đăng ký khai sinh",
        "MaLinhVuc": "HT",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": 2,
        "ChuHoSo": "Nguyễn Thị Lan",
        "LoaiDoiTuong": 1,
        "TrichYeuHoSo": "Đăng ký khai sinh cho con",
        "NgayTiepNhan": "20261125080500",
        "NgayHenTra": "20261127170000",
        "TrangThaiHoSo": 4,
        "HinhThuc": 0,
        "DonViXuLy": "UBND phường",
        "DinhDanhCHS": [{"LoaiDinhDanh": 1, "SoDinhDanh": "049190001234"}],
    }


def batches(prefix: str, total: int, size: int) -> list[bytes]:
    """``total`` dossiers in ``DongBoHoSoMC`` messages of ``size`` each, codes unique per prefix."""
    return [
        json.dumps(
            {
                "service": "DongBoHoSoMC",
                "data": [
                    dossier(f"{prefix}-{first + i:06d}") for i in range(min(size, total - first))
                ],
            },
            ensure_ascii=False,
        ).encode()
        for first in range(0, total, size)
    ]


def dvcqg_config(portal: DvcqgPortal, password_file: Path) -> dict[str, Any]:
    return {
        "url": portal.service_url,
        "login_url": portal.login_url,
        "username": portal.username,
        "password_file": str(password_file),
        "dstcode": portal.dstcode,
        "madonvi": portal.madonvi,
        "timeout_seconds": 30,
    }


def register_dvcqg(hub: Hub, portal: DvcqgPortal) -> None:
    secret = hub.data / "dvcqg.password"
    secret.write_text(portal.password)
    hub.add_service(DOSSIER_SERVICE)
    hub.connectors.append("dvcqg")
    hub.admin.json(
        "POST",
        "/v1/connectors",
        json={"name": "dvcqg", "type": "dvcqg", "config": dvcqg_config(portal, secret)},
    )
    hub.admin.json(
        "POST",
        "/v1/routes",
        json={"name": "dvcqg", "connector": "dvcqg", "service_code": DOSSIER_SERVICE},
    )


def through_hub(hub: Hub, portal: DvcqgPortal, bodies: list[bytes], args) -> float:
    """Seconds from the first submit until the portal accepted every message."""
    portal.clear_received()
    url, headers = f"{hub.url}/v1/messages?service={DOSSIER_SERVICE}", hub.headers()

    def send(s: requests.Session, i: int) -> str:
        r = s.post(url, data=bodies[i], headers=headers, timeout=60)
        if r.status_code != 202:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
        return ""

    begin = time.time()
    blast(len(bodies), args.concurrency, send, args.phase_timeout)
    portal.wait_for(len(bodies), timeout=args.phase_timeout, unique=True)
    return time.time() - begin


def direct(connector: DvcqgConnector, bodies: list[bytes], args) -> float:
    """The same messages delivered by the connector alone, same concurrency."""

    def send(_: requests.Session, i: int) -> str:
        message = OutboundMessage(
            id=new_id(),
            correlation_id=new_id(),
            sender_agency="000.00.00.H49",
            sender_system=SENDER,
            service=DOSSIER_SERVICE,
            recipient=None,
            content_type="application/json",
            payload=Payload.of(bodies[i], "application/json"),
        )
        connector.deliver(message, timeout=60)
        return ""

    begin = time.time()
    blast(len(bodies), args.concurrency, send, args.phase_timeout)
    return time.time() - begin


def dvcqg_group(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        portal = stack.enter_context(DvcqgPortal())
        hub = start_hub(backend, args, stack)
        register_dvcqg(hub, portal)
        secret = hub.data / "dvcqg.password"
        connector = DvcqgConnector("dvcqg-direct", dvcqg_config(portal, secret))
        stack.callback(connector.close)
        through_hub(hub, portal, batches("warm", 20, 1), args)  # the worker picks the route up
        for size in args.batch_sizes:
            runs = []
            for r in range(args.repeat):
                tag = f"{backend[:2]}{size}r{r}"
                hub_s = through_hub(hub, portal, batches(f"H{tag}", args.dossiers, size), args)
                direct_s = direct(connector, batches(f"D{tag}", args.dossiers, size), args)
                runs.append(
                    {
                        "hub_per_s": args.dossiers / hub_s,
                        "direct_per_s": args.dossiers / direct_s,
                        "ratio": direct_s / hub_s,
                    }
                )
                console.print(
                    f"  batch {size}: hub {runs[-1]['hub_per_s']:.0f} dossiers/s vs direct "
                    f"{runs[-1]['direct_per_s']:.0f}/s"
                )
            out[str(size)] = {
                "runs": runs,
                **{k: statistics.median(run[k] for run in runs) for k in runs[0]},
            }
    return out


def population_config(gateway: NdxpGateway, secret: Path) -> dict[str, Any]:
    return {
        "url": gateway.url,
        "consumer_key": gateway.consumer_key,
        "consumer_secret_file": str(secret),
        "context": "csdldc",
        "version": gateway.version,
        "form": "soap",
        "MaDVC": "1.000001.000.00.00.H49",
        "MaTichHop": "TH-H49-01",
        "MaDonVi": "000.00.00.H49",
        "MaDichVu": "033",
        "timeout_seconds": 30,
    }


def lookups(gateway: NdxpGateway, n: int) -> list[bytes]:
    """Verifications of the gateway's citizens, round robin."""
    people = list(gateway.citizens.values())
    return [
        json.dumps(
            {
                "SoDinhDanh": c.SoDinhDanh,
                "HoVaTen": c.HoVaTen,
                "NgayThangNamSinh": c.NgaySinh,
            },
            ensure_ascii=False,
        ).encode()
        for c in (people[i % len(people)] for i in range(n))
    ]


def population_group(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    """Closed loop max rate, then an open loop at half the hub's max: hub vs the connector."""
    with contextlib.ExitStack() as stack:
        gateway = stack.enter_context(NdxpGateway())
        hub = start_hub(backend, args, stack)
        secret = hub.data / "ndxp.secret"
        secret.write_text(gateway.consumer_secret)
        config = population_config(gateway, secret)
        hub.admin.json(
            "POST",
            "/v1/services",
            json={
                "code": LOOKUP_SERVICE,
                "name": LOOKUP_SERVICE,
                "mode": "sync",
                "request_schema": "citizen-verify.v1.json",
                "personal_data": True,
            },
        )
        hub.admin.json(
            "POST",
            "/v1/access-rules",
            json={"system_code": SENDER, "service_code": LOOKUP_SERVICE},
        )
        hub.admin.json(
            "POST",
            "/v1/connectors",
            json={"name": "population", "type": "population", "config": config},
        )
        hub.admin.json(
            "POST",
            "/v1/routes",
            json={"name": "population", "connector": "population", "service_code": LOOKUP_SERVICE},
        )
        connector = PopulationConnector("population-direct", config)
        stack.callback(connector.close)
        bodies = lookups(gateway, args.lookups)
        url, headers = (
            f"{hub.url}/v1/services/{LOOKUP_SERVICE}/call",
            {
                **hub.headers(),
                **GROUNDS,
            },
        )

        def via_hub(s: requests.Session, i: int) -> str:
            r = s.post(url, data=bodies[i % len(bodies)], headers=headers, timeout=60)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:150]}")
            return ""

        def direct(_: requests.Session, i: int) -> str:
            message = OutboundMessage(
                id=new_id(),
                correlation_id=new_id(),
                sender_agency="000.00.00.H49",
                sender_system=SENDER,
                service=LOOKUP_SERVICE,
                recipient=None,
                content_type="application/json",
                payload=Payload.of(bodies[i % len(bodies)], "application/json"),
                headers={"x-lgsp-officer": GROUNDS["X-LGSP-Officer"]},
            )
            connector.deliver(message, timeout=60)
            return ""

        t, n, c = args.phase_timeout, len(bodies), args.concurrency
        blast(min(n, 50), c, via_hub, t)  # warm-up: token, connections, caches
        blast(min(n, 50), c, direct, t)
        runs = []
        for r in range(args.repeat):
            run: dict[str, Any] = {
                "closed_hub": round_trips(blast(n, c, via_hub, t)),
                "closed_direct": round_trips(blast(n, c, direct, t)),
            }
            rate = run["closed_hub"]["per_s"] / 2
            count = max(20, round(rate * args.open_seconds))
            run["open_rate"] = rate
            run["open_hub"] = round_trips(open_loop(count, rate, via_hub, t))
            run["open_direct"] = round_trips(open_loop(count, rate, direct, t))
            run["ratio"] = run["closed_hub"]["per_s"] / run["closed_direct"]["per_s"]
            run["added_p50_ms"] = run["open_hub"]["p50_ms"] - run["open_direct"]["p50_ms"]
            run["added_p99_ms"] = run["open_hub"]["p99_ms"] - run["open_direct"]["p99_ms"]
            runs.append(run)
            console.print(
                f"  repeat {r + 1}: lookups hub {run['closed_hub']['per_s']:.0f}/s vs direct "
                f"{run['closed_direct']['per_s']:.0f}/s; at {rate:.0f}/s "
                f"+{run['added_p50_ms']:.1f}/+{run['added_p99_ms']:.1f} ms p50/p99"
            )
    return {"runs": runs, "median": summary(runs)}


def bench(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"code": code_state()}
    if not args.skip_population:
        out["population"] = population_group(backend, args)
    if not args.skip_dvcqg:
        out["dvcqg"] = dvcqg_group(backend, args)
    return out


def render(backend: str, res: dict[str, Any]) -> None:
    table = Table(title=f"national axes — {backend}")
    for col in ("figure", "through the hub", "direct (same run)", "ratio", "goal"):
        table.add_column(col)
    if "population" in res:
        m = res["population"]["median"]
        table.add_row(
            "population lookup, max rate",
            f"{m['closed_hub']['per_s']:.0f}/s",
            f"{m['closed_direct']['per_s']:.0f}/s",
            f"{m['ratio']:.2f}",
            "≥ 0.50",
        )
        table.add_row(
            f"population lookup, p50 / p99 at {m['open_rate']:.0f}/s",
            f"{m['open_hub']['p50_ms']:.1f} / {m['open_hub']['p99_ms']:.1f} ms",
            f"{m['open_direct']['p50_ms']:.1f} / {m['open_direct']['p99_ms']:.1f} ms",
            f"+{m['added_p50_ms']:.1f} / +{m['added_p99_ms']:.1f} ms",
            "p99 ≤ +25 ms",
        )
    for size, row in res.get("dvcqg", {}).items():
        table.add_row(
            f"DVCQG DongBoHoSoMC, {size} per message",
            f"{row['hub_per_s']:.0f} dossiers/s",
            f"{row['direct_per_s']:.0f} dossiers/s",
            f"{row['ratio']:.2f}",
            "",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_arguments(parser)
    parser.add_argument("--dossiers", type=int, default=1000, help="dossiers per batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--concurrency", "-c", type=int, default=8)
    parser.add_argument("--lookups", type=int, default=600, help="population lookups per loop")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument("--skip-population", action="store_true")
    parser.add_argument("--skip-dvcqg", action="store_true")
    args = parser.parse_args(argv)
    return run_backends("axes", args, lambda b: bench(b, args), render)


if __name__ == "__main__":
    sys.exit(main())
