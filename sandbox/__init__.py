"""Runnable simulators of the province's partners and the national axes, with fault injection.

One module per simulated system, all on the shared base in :mod:`sandbox.server`: a REST sink
and a SOAP service (generic partners), DVCQG and its payment platform, the NDXP gateway with the
population database, the one-stop system, the SMS gateway, VNPost, the reporting system, EMC and
the document exchange axis (VDXP). :mod:`sandbox.province` starts them all on fixed ports.

``run_all()`` (``python -m sandbox`` / ``lgsp sandbox``) starts them and prints how to reach
each. The sandbox imports nothing from the hub: it is an independent implementation of each
partner's side, so a connector bug shows up as a refusal here rather than agreeing with itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sandbox.province import DEFAULT_PORT_BASE, Province, start

__all__ = ["run_all"]

FAULTS_HELP = 'faults        POST <url>/_sandbox/faults  e.g. {"fail_next": 2, "fail_status": 503}'


def run_all(
    *,
    host: str = "127.0.0.1",
    port_base: int = DEFAULT_PORT_BASE,
    hub_url: str = "http://127.0.0.1:8080",
    block: bool = True,
    out: Callable[[str], object] = print,
) -> Province:
    """Start every simulator and print how to reach it. The payment platform calls the hub at
    ``hub_url`` back. ``block=True`` serves until Ctrl-C and then stops them; ``block=False``
    returns them started (the caller stops them)."""
    province = start(host, port_base)
    province["payment"].callback_url = f"{hub_url.rstrip('/')}/v1/payments/callback"
    for line in province.lines():
        out(line)
    out(FAULTS_HELP)
    if not block:
        return province
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        out("stopping")
    finally:
        province.stop()
    return province
