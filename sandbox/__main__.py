"""``python -m sandbox``: start the sandbox simulators on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import sys

from sandbox import run_all
from sandbox.province import DEFAULT_PORT_BASE


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port-base", type=int, default=DEFAULT_PORT_BASE, help="0 = any free ports"
    )
    parser.add_argument("--hub-url", default="http://127.0.0.1:8080", help="for payment callbacks")
    args = parser.parse_args(argv)
    try:
        run_all(host=args.host, port_base=args.port_base, hub_url=args.hub_url)
    except OSError as exc:
        sys.exit(f"error: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
