"""``lgsp documents send|show|inbox|fetch|confirm|pull``: documents (edXML) as a document system
and an admin use them — send one, follow it by its document id, pick up what the hub holds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    app,
    client,
    emit,
    fail,
    hub_errors,
    local_hub,
    out,
    row,
)

__all__ = ["documents_app"]

documents_app = typer.Typer(
    help="Documents (edXML): send, follow, pick up, confirm; pull from VDXP.",
    no_args_is_help=True,
)
app.add_typer(documents_app, name="documents", rich_help_panel="Documents")


@documents_app.command()
def send(
    file: Annotated[str, typer.Argument(help="edXML, or its flat JSON form; - for stdin.")],
    recipient: Annotated[
        list[str] | None, typer.Option("--recipient", "-r", help="Narrow to these (of To).")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a document or status message as the system of --key; prints the message id."""
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    json_form = file.endswith(".json") or body.lstrip()[:1] in (b"{", b"[")
    content_type = "application/json" if json_form else "application/xml"
    with hub_errors():
        result = client(url, key).json(
            "POST",
            "/v1/documents",
            data=body,
            headers={"Content-Type": content_type},
            params={"recipient": recipient or []},
        )
    if as_json:
        emit(result, True)
    else:
        word = "duplicate of" if result["duplicate"] else "accepted"
        out.print(f"{word} {result['id']}", markup=False)


@documents_app.command()
def show(
    document_id: Annotated[str, typer.Argument(help="The edXML DocumentId.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A document by its id: each message about it and each recipient's timeline."""
    with hub_errors():
        view = client(url, key).json("GET", "/v1/documents", params={"id": document_id})
    if as_json:
        emit(view, True)
        return
    for doc in view["documents"]:
        head = row(doc["message_id"], doc["business_type"], doc["sender"], doc["signature"])
        out.print(
            f"[bold]{head[0]}[/bold]  business type {head[1]}  from {head[2]}  signature {head[3]}"
        )
        table = Table("recipient", "via", "delivery", "state", "timeline")
        for r in doc["recipients"]:
            steps = " → ".join(f"{s['status_code']} {s['state']}" for s in r["timeline"])
            table.add_row(
                *row(r["recipient"], r["channel"], r["delivery_status"], r["state"], steps)
            )
        out.print(table)
    if view["status_messages"]:
        table = Table("status message", "code", "from", "to", "received (UTC)")
        for s in view["status_messages"]:
            table.add_row(
                *row(
                    s["message_id"],
                    s["status_code"],
                    s["sender"],
                    ", ".join(s["recipients"]),
                    s["received_at"][:19],
                )
            )
        out.print(table)


@documents_app.command()
def inbox(url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """What the hub holds for the system of --key, oldest first."""
    with hub_errors():
        items = client(url, key).json("GET", "/v1/documents/inbox")["items"]
    if as_json:
        emit(items, True)
        return
    table = Table("id", "kind", "document id", "from", "for", "status", "bytes")
    for i in items:
        table.add_row(
            *row(
                i["id"],
                i["kind"],
                i["document_id"],
                i["sender"],
                ", ".join(i["recipients"]),
                i["status_code"],
                i["size"],
            )
        )
    out.print(table)


@documents_app.command()
def fetch(
    message_id: str,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Default: stdout.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Download one held document as edXML (it stays pending until confirmed)."""
    with hub_errors():
        response = client(url, key).request("GET", f"/v1/documents/inbox/{message_id}")
    if output is None:
        sys.stdout.buffer.write(response.content)
    else:
        output.write_bytes(response.content)
        out.print(f"wrote {output} ({len(response.content)} bytes)", markup=False)


@documents_app.command()
def confirm(message_id: str, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None) -> None:
    """Say the system has stored it: no longer pending."""
    with hub_errors():
        result = client(url, key).json("POST", f"/v1/documents/inbox/{message_id}/confirm")
    out.print(f"confirmed {result['id']} at {result['confirmed_at']}", markup=False)


@documents_app.command()
def pull(as_json: JsonOpt = False) -> None:
    """One round of pulling received documents from VDXP (this machine's settings), as the
    relay does every LGSP_EDOC_PULL_SECONDS."""
    from hub.documents.axis import pull as pull_round

    hub = local_hub()
    try:
        pulled = pull_round(hub).as_dict()
    finally:
        hub.close()
    if as_json:
        emit(pulled, True)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in pulled.items()), markup=False)
