"""Make a development CA and one signing certificate per agency, from a checkout:

    python certs/make_dev_ca.py --out var/certs 000.00.00.H49 000.00.01.H49

The work is ``hub.edxml.devca`` (see there for what is written where); this script is kept
for checkouts and the tests (``from certs.make_dev_ca import make_dev_ca``). With the hub
installed, ``lgsp certs dev-ca --out DIR CODE…`` does the same.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the hub of this checkout, installed or not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.edxml.devca import (  # noqa: E402
    Agency,
    DevCA,
    issue_agency,
    load_or_create_ca,
    make_dev_ca,
)

__all__ = ["Agency", "DevCA", "issue_agency", "load_or_create_ca", "main", "make_dev_ca"]


def main(argv: Sequence[str] | None = None) -> int:
    """Make (or reuse) the CA and the agencies' certificates; one line on stderr, 1, if not."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="var/certs", help="directory (default var/certs)")
    parser.add_argument("--key-size", type=int, default=3072, help="CA key bits")
    parser.add_argument("codes", nargs="*", metavar="AGENCY_CODE")
    args = parser.parse_args(argv)
    try:
        ca = make_dev_ca(args.out, args.codes, key_size=args.key_size)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"trust store: {ca.trust_dir}")
    for code, agency in ca.agencies.items():
        print(f"{code}: {agency.key_path} {agency.cert_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
