"""``lgsp edxml check|to-json|from-json``: edXML files read and built on this machine, no hub
needed — an integrator checks what a system produces before it is connected."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hub.cli.common import JsonOpt, app, emit, err, fail, out
from hub.content import loads_json
from hub.edxml import builder, jsonform, reader
from hub.errors import HubError

__all__ = ["edxml_app"]

edxml_app = typer.Typer(help="edXML documents: check, convert to and from JSON.")
app.add_typer(edxml_app, name="edxml", rich_help_panel="Documents")

MAX_JSON_BYTES = 50 * 1024 * 1024


@edxml_app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="edXML files (documents or status).")],
    as_json: JsonOpt = False,
) -> None:
    """Read each file as the hub would: OK with its document id, sender, recipients, business
    type, attachments and warnings, or FAIL with the error. Exit 1 if any file fails."""
    results = [_check(path) for path in files]
    if as_json:
        emit(results, True)
    else:
        for result in results:
            _print(result)
    if any(not r["ok"] for r in results):
        raise typer.Exit(1)


def _check(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"file": str(path), "ok": False, "error": "no such file"}
    try:
        message = reader.read(path)
    except HubError as exc:
        return {"file": str(path), "ok": False, "error": _error_line(exc)}
    result: dict[str, Any] = {
        "file": str(path),
        "ok": True,
        "kind": message.kind,
        "document_id": message.document_id,
        "sender": message.sender,
        "recipients": message.recipients,
    }
    if message.kind == "edoc":
        result["business_type"] = message.business_type.name.lower()
        result["attachments"] = len(message.attachments)
    else:
        result["status_code"] = message.status_code
    result["signature"] = message.signature
    result["warnings"] = [str(w) for w in message.warnings]
    return result


def _error_line(exc: HubError) -> str:
    details = exc.details
    named = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in details.get("errors", [])[:3])
    line, reason = details.get("line"), details.get("reason")
    extra = named or (f"line {line}: {reason}" if line and reason else reason or "")
    return f"{exc.code}: {exc.message}" + (f" ({extra})" if extra else "")


def _print(result: dict[str, Any]) -> None:
    name = result["file"]
    if not result["ok"]:
        out.print(f"[red]FAIL[/red] {name}: {result['error']}", highlight=False, markup=True)
        return
    if result["kind"] == "edoc":
        what = (
            f"{result['business_type']} document {result['document_id']}, "
            f"{result['attachments']} attachment(s)"
        )
    else:
        what = f"status {result['status_code']} for {result['document_id']}"
    to = ", ".join(result["recipients"])
    signed = f", signed ({result['signature']})" if result["signature"] else ", unsigned"
    out.print(
        f"[green]OK[/green]   {name}: {what}; from {result['sender']} to {to}{signed}",
        highlight=False,
    )
    for warning in result["warnings"]:
        out.print(f"     [yellow]warning[/yellow] {warning}", highlight=False)


@edxml_app.command("to-json")
def to_json(file: Path) -> None:
    """Print an edXML file as the hub's flat JSON (attachments described, not inlined)."""
    try:
        message = reader.read(file)
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}") from None
    except HubError as exc:
        raise fail(f"{file}: {_error_line(exc)}") from None
    emit(jsonform.to_json(message), True)


@edxml_app.command("from-json")
def from_json(
    file: Annotated[Path, typer.Argument(help="Flat JSON (edoc-flat.v1.json); - for stdin.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Build a conformant edXML from the flat JSON form (validated against the hub's XSD)."""
    try:
        raw = sys.stdin.buffer.read(MAX_JSON_BYTES + 1) if str(file) == "-" else _read(file)
        if len(raw) > MAX_JSON_BYTES:
            raise fail(f"{file}: over {MAX_JSON_BYTES} bytes")
        message, contents = jsonform.from_json(loads_json(raw))
        data = builder.build_bytes(message, jsonform.opener(contents))
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror or exc}") from None
    except HubError as exc:
        raise fail(f"{file}: {_error_line(exc)}") from None
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        err.print(f"wrote {output} ({len(data)} bytes)", highlight=False)


def _read(file: Path) -> bytes:
    with open(file, "rb") as fh:
        return fh.read(MAX_JSON_BYTES + 1)
