"""``lgsp certs dev-ca``: development signing keys made on this machine, no hub and no checkout
needed — an operator trying the hub signs and verifies edXML before the province's real
certificates (VGCA) arrive."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import JsonOpt, app, emit, fail, out
from hub.edxml.devca import make_dev_ca

__all__ = ["certs_app", "dev_ca"]

certs_app = typer.Typer(help="Certificates for edXML signatures.", no_args_is_help=True)
app.add_typer(certs_app, name="certs", rich_help_panel="Documents")


@certs_app.command("dev-ca")
def dev_ca(
    codes: Annotated[
        list[str] | None,
        typer.Argument(metavar="CODE", help="Agency codes, e.g. 000.00.00.H49."),
    ] = None,
    directory: Annotated[
        Path, typer.Option("--out", help="Where the CA, trust store and agencies' keys go.")
    ] = Path("var/certs"),
    key_size: Annotated[int, typer.Option(help="The CA's RSA key bits.")] = 3072,
    as_json: JsonOpt = False,
) -> None:
    """Make a development CA and a signing key per agency code (development only).

    Reuses the CA in --out, and each certificate while valid for 30 more days."""
    try:
        ca = make_dev_ca(directory, codes or [], key_size=key_size)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from None
    agencies = {
        code: {"key": str(a.key_path), "certificate": str(a.cert_path)}
        for code, a in ca.agencies.items()
    }
    if as_json:
        emit(
            {"trust_dir": str(ca.trust_dir), "keys_dir": str(ca.keys_dir), "agencies": agencies},
            True,
        )
        return
    out.print(f"trust store: {ca.trust_dir}", markup=False, highlight=False)
    for code, paths in agencies.items():
        out.print(f"{code}: {paths['key']} {paths['certificate']}", markup=False, highlight=False)
    trust, keys = shlex.quote(str(ca.trust_dir)), shlex.quote(str(ca.keys_dir))
    out.print(
        f"export LGSP_EDOC_TRUST_DIR={trust} LGSP_EDOC_KEYS_DIR={keys}",
        markup=False,
        highlight=False,
    )
