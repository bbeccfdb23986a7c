"""Two provinces on one machine, exchanging documents through the sandbox's VDXP axis: each
province a hub of its own (its store, its blobs, its keys, its port), both connected to one
``VdxpAxis`` with their own system accounts, and a development CA whose keys sign what each
province's agencies send and whose root both trust.

``lgsp provinces`` runs it (``start`` here); the README's walk-through sends a commune's document
in A to a department in B and the department's status 03 and 06 back, from the CLI. Inside A a
commune's document to the city goes straight to the city's document system, never to the axis.
Seeding is idempotent: a restart keeps the stores, the keys and the API keys already written.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from sqlalchemy import select

from hub import bootstrap, registry
from hub.api.app import create_app
from hub.config import Settings
from hub.context import Hub
from hub.documents.axis import Puller
from hub.edxml.devca import make_dev_ca
from hub.outbox import Relay
from hub.security import write_private
from hub.server import uvicorn_config
from hub.store.db import upgrade
from hub.store.tables import agencies, systems
from hub.worker import Worker
from sandbox.vdxp import VdxpAxis

__all__ = ["A", "B", "Provinces", "Spec", "start"]

Say = Callable[[str], object]


@dataclass(frozen=True)
class Spec:
    """A province: its agencies (code, name, parent, level, document system) and its account
    at the axis."""

    key: str
    name: str
    axis_system: str
    agencies: tuple[tuple[str, str, str | None, int, str], ...]

    @property
    def codes(self) -> list[str]:
        return [a[0] for a in self.agencies]


A = Spec(
    "a",
    "Thành phố Huế (H57)",
    "lgsp-h57",
    (
        ("000.00.00.H57", "UBND thành phố Huế", None, 2, "qlvb-tinh"),
        ("000.00.20.H57", "UBND phường Thuận Hóa", "000.00.00.H57", 4, "qlvb-xa"),
    ),
)
B = Spec(
    "b",
    "Tỉnh H49",
    "lgsp-h49",
    (
        ("000.00.00.H49", "UBND tỉnh", None, 2, "qlvb-ubnd"),
        ("000.01.00.H49", "Sở Tài chính", "000.00.00.H49", 2, "qlvb-stc"),
    ),
)


@dataclass
class Running:
    spec: Spec
    hub: Hub
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    parts: list = field(default_factory=list)

    def stop(self) -> None:
        for part in reversed(self.parts):
            part.stop()
        self.server.should_exit = True
        self.thread.join(10)
        self.hub.close()


@dataclass
class Provinces:
    axis: VdxpAxis
    running: list[Running]
    data_dir: Path

    def stop(self) -> None:
        for r in self.running:
            r.stop()
        self.axis.stop()


def start(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    ports: tuple[int, int] = (8081, 8082),
    axis_port: int = 8711,
) -> Provinces:
    """The axis, the CA and both hubs, serving; ``stop()`` ends them."""
    data_dir = Path(data_dir)
    axis = VdxpAxis(host, axis_port, seed=False).start()
    ca = make_dev_ca(data_dir / "certs", [*A.codes, *B.codes], key_size=2048)
    running = []
    try:
        for spec, port in ((A, ports[0]), (B, ports[1])):
            secret = _secret(data_dir / spec.key / "vdxp.secret")
            axis.add_system(spec.axis_system, secret.read_text().strip())
            for code, name, parent, _, _ in spec.agencies:
                axis.add_agency(code, name, parent, spec.axis_system)
            settings = Settings(
                data_dir=data_dir / spec.key,
                database_url="",
                broker_url="embedded",
                host=host,
                port=port,
                edoc_keys_dir=ca.keys_dir,
                edoc_trust_dir=ca.trust_dir,
                edoc_signatures={"*": "required", **{c: "optional" for c in spec.codes}},
                edoc_pull_seconds=1.0,
            )
            running.append(_serve(spec, settings, axis.url, secret))
    except BaseException:
        for r in running:
            r.stop()
        axis.stop()
        raise
    return Provinces(axis, running, data_dir)


def _secret(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_hex(16) + "\n")
    return path


def _serve(spec: Spec, settings: Settings, axis_url: str, secret: Path) -> Running:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    hub = Hub(settings)
    upgrade(hub.engine)
    bootstrap.ensure_admin(hub)
    seed(hub, spec, axis_url, secret)
    server = uvicorn.Server(uvicorn_config(create_app(hub), settings.host, settings.port))
    thread = threading.Thread(target=server.run, name=f"api-{spec.key}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            hub.close()
            raise RuntimeError(f"province {spec.key}: the API did not start on {settings.port}")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://{settings.host}:{port}"
    r = Running(spec, hub, url, server, thread)
    r.parts = [Relay(hub).start(), Worker(hub).start(), Puller(hub).start()]
    return r


def seed(hub: Hub, spec: Spec, axis_url: str, secret: Path) -> None:
    """The province's agencies and their document systems (API keys written under
    ``keys/``), the axis's system account, the ``edoc`` service, the VDXP connector and the
    route that sends every other agency's documents to it. Idempotent."""
    actor = "provinces"
    keys = hub.settings.data_dir / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    config = {"base_url": axis_url, "system_id": spec.axis_system, "secret_file": str(secret)}
    with registry.changing(hub) as conn:
        known = set(conn.execute(select(agencies.c.code)).scalars())
        have = set(conn.execute(select(systems.c.code)).scalars())
        for code, name, parent, level, _ in spec.agencies:
            if code not in known:
                registry.add_agency(hub, actor, code, name, parent, level, conn=conn)
        for code, _, _, _, system in (*spec.agencies, (spec.codes[0], "", None, 0, "vdxp")):
            if system not in have:
                key = registry.add_system(hub, actor, system, code, system, conn=conn)["api_key"]
                write_private(keys / f"{system}.key", key + "\n")
        if "vdxp" in have:
            registry.update_entry(hub, actor, "connectors", "vdxp", {"config": config}, conn=conn)
            return
        for code, _, _, _, system in spec.agencies:
            registry.update_entry(
                hub, actor, "agencies", code, {"document_system": system}, conn=conn
            )
        registry.add_service(
            hub,
            actor,
            "edoc",
            "Văn bản điện tử (edXML)",
            content_type="application/xml",
            conn=conn,
        )
        for system in (*(a[4] for a in spec.agencies), "vdxp"):
            registry.allow(hub, actor, system, "edoc", conn=conn)
        registry.add_connector(hub, actor, "vdxp", "vdxp", config, conn=conn)
        registry.add_route(hub, actor, "edoc-to-vdxp", "vdxp", service_code="edoc", conn=conn)


# -- the walk-through ---------------------------------------------------------------------------
EXAMPLES = Path(__file__).resolve().parents[1] / "demo" / "documents"
DOCUMENT_ID = "000.00.20.H57,2026/11/27,125/UBND-VP"


def key_file(p: Provinces, spec: Spec, system: str) -> Path:
    return p.data_dir / spec.key / "keys" / f"{system}.key"


def walkthrough(p: Provinces, say: Say, timeout: float = 60) -> None:
    """The README's steps, run as the document systems would, each printed with its command."""
    from hub.client import HubClient

    a, b = p.running
    client = {
        name: HubClient(r.url, key_file(p, r.spec, name).read_text().strip())
        for r, name in ((a, "qlvb-xa"), (a, "qlvb-tinh"), (b, "qlvb-stc"))
    }

    def send(system: str, example: str) -> str:
        body = (EXAMPLES / example).read_bytes()
        result = client[system].json(
            "POST", "/v1/documents", data=body, headers={"Content-Type": "application/json"}
        )
        say(f"  {system} sent {example}: message {result['id']}")
        return result["id"]

    def pick_up(system: str, kind: str) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = [
                i
                for i in client[system].json("GET", "/v1/documents/inbox")["items"]
                if i["kind"] == kind
            ]
            if items:
                item = items[0]
                client[system].request("GET", f"/v1/documents/inbox/{item['id']}")
                client[system].json("POST", f"/v1/documents/inbox/{item['id']}/confirm")
                what = item["status_code"] or item["document_id"]
                say(f"  {system} picked up and confirmed {kind} {what} from {item['sender']}")
                return item
            time.sleep(0.5)
        raise TimeoutError(f"{system} got no {kind} within {timeout:g} s")

    say("1. A commune in A sends a document to a department in B, through VDXP:")
    send("qlvb-xa", "xa-to-stc.json")
    pick_up("qlvb-stc", "edoc")
    say("2. The department accepts it (status 03), then finishes it (status 06):")
    for example in ("stc-accepted.json", "stc-finished.json"):
        send("qlvb-stc", example)
        pick_up("qlvb-xa", "status")
    view = client["qlvb-xa"].json("GET", "/v1/documents", params={"id": DOCUMENT_ID})
    for r in view["documents"][0]["recipients"]:
        steps = " → ".join(f"{s['status_code']} {s['state']}" for s in r["timeline"])
        say(f"  A's timeline for {r['recipient']} (via {r['channel']}): {steps}")
    say("3. Inside A, the commune's document to the city goes straight to its system:")
    before = len(p.axis.sent_by(A.axis_system))
    send("qlvb-xa", "xa-to-tinh.json")
    pick_up("qlvb-tinh", "edoc")
    after = len(p.axis.sent_by(A.axis_system))
    say(f"  documents A sent to VDXP meanwhile: {after - before}")
