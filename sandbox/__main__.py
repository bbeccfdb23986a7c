"""``python -m sandbox``: start the sandbox simulators on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse

from sandbox import run_all


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--sink-port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--soap-port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--token", default=None, help="bearer token / API key the sink requires")
    args = parser.parse_args(argv)
    run_all(host=args.host, sink_port=args.sink_port, soap_port=args.soap_port, token=args.token)


if __name__ == "__main__":
    main()
