"""Runnable simulators of partner systems (and, later, the national axes) with fault injection.

One module per simulated system, all on the shared base in :mod:`sandbox.server`:

* :class:`sandbox.rest_sink.RestSink` - a partner REST API that records what it receives,
* :class:`sandbox.soap_service.SoapService` - a provincial SOAP 1.1 service (WSDL + two operations).

``run_all()`` (``python -m sandbox`` / ``lgsp sandbox``) starts both and prints their URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.server import SandboxServer

__all__ = ["run_all"]


def run_all(
    *,
    host: str = "127.0.0.1",
    sink_port: int = 0,
    soap_port: int = 0,
    token: str | None = None,
    block: bool = True,
    out: Callable[[str], object] = print,
) -> list[SandboxServer]:
    """Start a REST sink and the SOAP service and print how to reach them.

    ``block=True`` serves until Ctrl-C and then stops both; ``block=False`` returns the started
    servers (the caller stops them). ``token`` makes the sink require that bearer token/API key.
    """
    from sandbox.rest_sink import RestSink
    from sandbox.soap_service import SoapService

    sink = RestSink(host, sink_port, require_token=token).start()
    soap = SoapService(host, soap_port).start()
    out(f"rest-sink     {sink.url}   POST/PUT anything; GET {sink.url}/_sandbox/received")
    out(f"soap-service  {soap.endpoint}   WSDL: {soap.wsdl_url}")
    out('faults        POST <url>/_sandbox/faults  e.g. {"fail_next": 2, "fail_status": 503}')
    servers: list[SandboxServer] = [sink, soap]
    if not block:
        return servers
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        out("stopping")
    finally:
        for server in servers:
            server.stop()
    return servers
