"""``lgsp provinces``: two provinces' hubs on this machine, exchanging documents through the
sandbox's VDXP axis (``hub.provinces``)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import app, fail, out, setup_logging

__all__ = ["provinces"]


@app.command(rich_help_panel="Documents")
def provinces(
    data_dir: Annotated[Path, typer.Option(help="Both stores, keys and the dev CA.")] = Path(
        "var/provinces"
    ),
    port_a: Annotated[int, typer.Option(help="Province A's API (0: any free port).")] = 8081,
    port_b: Annotated[int, typer.Option(help="Province B's API (0: any free port).")] = 8082,
    axis_port: Annotated[int, typer.Option(help="The VDXP simulator (0: any).")] = 8711,
    walkthrough: Annotated[
        bool, typer.Option(help="Run the README's exchange once they are up.")
    ] = False,
    exit_after: Annotated[
        bool, typer.Option(help="Stop when the walk-through is done (for scripts).")
    ] = False,
) -> None:
    """Province A (Huế) and province B, each a hub with its own store, and VDXP between them."""
    from hub import provinces as two

    setup_logging()
    try:
        p = two.start(data_dir, ports=(port_a, port_b), axis_port=axis_port)
    except OSError as exc:
        raise fail(f"cannot start: {exc.strerror or exc} (free ports: --port-a 0 …)") from None
    a, b = p.running
    out.print(f"VDXP axis (sandbox): {p.axis.url}", markup=False)
    for r in (a, b):
        keys = data_dir / r.spec.key / "keys"
        out.print(
            f"province {r.spec.key.upper()} {r.spec.name}: {r.url}  keys in {keys}/", markup=False
        )
        for code, name, _, _, system in r.spec.agencies:
            out.print(f"  {code} {name}: document system {system}", markup=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if walkthrough:
            two.walkthrough(p, lambda line: out.print(line, markup=False))
        if not exit_after:
            out.print("running; Ctrl-C stops both provinces", markup=False)
            stop.wait()
    finally:
        p.stop()
