"""The province's whole sandbox: every simulator at once, each on its own fixed port.

Fixed ports matter to an integrator: a connector registered against the sandbox names its
address, so ``lgsp sandbox`` must come back on the same ports after a restart. The ports are
``port_base`` plus each simulator's offset (``SIMULATORS``); ``port_base=0`` takes free ports
instead (tests, or a second sandbox beside the first). The simulators keep their state in
memory: a restart starts them empty, as a partner's test environment after a reset.

The credentials are each simulator's defaults: sandbox values, not secrets, printed so that a
connector can be pointed at them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sandbox.dvcqg import DvcqgPortal
from sandbox.emc import EmcCollector
from sandbox.ndxp import NdxpGateway
from sandbox.onestop import OnestopSystem
from sandbox.payment import PaymentPlatform
from sandbox.reporting import ReportingSystem
from sandbox.rest_sink import RestSink
from sandbox.server import SandboxServer
from sandbox.sms import SmsGateway
from sandbox.soap_service import SoapService
from sandbox.vdxp import VdxpAxis
from sandbox.vnpost import VnpostApi

__all__ = ["DEFAULT_PORT_BASE", "SIMULATORS", "Province", "start"]

DEFAULT_PORT_BASE = 8701


@dataclass(frozen=True)
class Simulator:
    name: str
    offset: int
    make: Callable[[str, int], SandboxServer]
    describe: Callable[[SandboxServer], str]


def _sink(host: str, port: int) -> SandboxServer:
    return RestSink(host, port)


SIMULATORS: tuple[Simulator, ...] = (
    Simulator(
        "rest-sink",
        0,
        _sink,
        lambda s: f"{s.url}  POST/PUT anything; GET {s.url}/_sandbox/received",
    ),
    Simulator("soap-service", 1, SoapService, lambda s: f"{s.endpoint}  WSDL {s.wsdl_url}"),
    Simulator(
        "dvcqg",
        2,
        DvcqgPortal,
        lambda s: (
            f"{s.service_url}  login {s.login_url}, dstcode {s.dstcode}, "
            f"user {s.username} / {s.password}"
        ),
    ),
    Simulator(
        "payment",
        3,
        PaymentPlatform,
        lambda s: (
            f"{s.api_url}  Bearer {s.token}, partner {s.partner} / secret {s.secret}; "
            f"pay at {s.url}/pay/<MaThamChieu>"
        ),
    ),
    Simulator(
        "ndxp",
        4,
        NdxpGateway,
        lambda s: (
            f"{s.url}  POST /token (Basic {s.consumer_key} / {s.consumer_secret}); "
            f"contexts {', '.join(s.contexts)}; population database inside"
        ),
    ),
    Simulator(
        "onestop",
        5,
        OnestopSystem,
        lambda s: f"{s.url}  Bearer {s.token} or X-API-Key {s.api_key}",
    ),
    Simulator(
        "sms",
        6,
        SmsGateway,
        lambda s: (
            f"{s.url}  Basic {s.username} / {s.password}, brandname " + ", ".join(s.brandnames)
        ),
    ),
    Simulator(
        "vnpost",
        7,
        VnpostApi,
        lambda s: f"{s.url}  header access_token: {s.access_token}",
    ),
    Simulator("reporting", 8, ReportingSystem, lambda s: f"{s.url}  Bearer {s.token}"),
    Simulator("emc", 9, EmcCollector, lambda s: f"{s.url}  Bearer {s.token}"),
    Simulator(
        "vdxp",
        10,
        VdxpAxis,
        lambda s: (
            f"{s.url}  VNPT: system {s.system_id} / secret {s.secret}; "
            f"WSO2: {s.url}{s.context}, POST /token (Basic {s.consumer_key} / {s.consumer_secret})"
        ),
    ),
)


@dataclass
class Province:
    """The started simulators, by name (``province["dvcqg"]``)."""

    servers: dict[str, SandboxServer] = field(default_factory=dict)

    def __getitem__(self, name: str) -> SandboxServer:
        return self.servers[name]

    def __iter__(self) -> Iterator[SandboxServer]:
        return iter(self.servers.values())

    def lines(self) -> list[str]:
        """One line per simulator: its name, address and credentials."""
        described = {s.name: s.describe for s in SIMULATORS}
        return [f"{name:<14}{described[name](s)}" for name, s in self.servers.items()]

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start(host: str = "127.0.0.1", port_base: int = DEFAULT_PORT_BASE) -> Province:
    """Start every simulator; on a port already taken, stop those started and raise
    ``OSError`` naming the simulator and the port."""
    province = Province()
    for sim in SIMULATORS:
        port = port_base + sim.offset if port_base else 0
        try:
            province.servers[sim.name] = sim.make(host, port).start()
        except OSError as exc:
            province.stop()
            raise OSError(
                exc.errno, f"sandbox {sim.name}: cannot listen on {host}:{port} ({exc.strerror})"
            ) from None
    return province
