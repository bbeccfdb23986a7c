"""Messages: ``send`` one, ``call`` a synchronous service, ``trace`` one, search ``messages``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

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
    out,
    row,
)

__all__ = ["call", "messages", "send", "trace"]


@app.command()
def send(
    service: Annotated[str, typer.Argument(help="Service code.")],
    file: Annotated[str, typer.Argument(help="Payload file, or - for stdin.")],
    recipient: Annotated[list[str] | None, typer.Option("--recipient", "-r")] = None,
    content_type: Annotated[str | None, typer.Option(help="Default: by file suffix.")] = None,
    idempotency_key: Annotated[str | None, typer.Option()] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a message; prints its id."""
    body, content_type = _payload(file, content_type)
    with hub_errors():
        result = client(url, key).send(
            service, body, content_type, recipient or [], idempotency_key
        )
    if as_json:
        emit(result, True)
    else:
        out.print(
            f"{'duplicate of' if result['duplicate'] else 'accepted'} {result['id']}", markup=False
        )


@app.command()
def call(
    service: Annotated[str, typer.Argument(help="Service code of a synchronous service.")],
    file: Annotated[str, typer.Argument(help="Request file, or - for stdin.")],
    purpose: Annotated[
        str | None, typer.Option(help="Why (a personal-data lookup must say).")
    ] = None,
    officer: Annotated[
        str | None, typer.Option(help="Who asks (a personal-data lookup must say).")
    ] = None,
    content_type: Annotated[str | None, typer.Option(help="Default: by file suffix.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Call a synchronous service: prints the partner's answer, and on stderr the message id
    that traces the call."""
    body, content_type = _payload(file, content_type)
    grounds = {"X-LGSP-Purpose": purpose, "X-LGSP-Officer": officer}
    headers = {k: quote(v, safe=" ") for k, v in grounds.items() if v}  # headers are Latin-1
    with hub_errors():
        response = client(url, key).call(service, body, content_type, headers)
    sys.stdout.write(response.text.rstrip("\n") + "\n")
    typer.echo(f"message {response.headers.get('X-LGSP-Message-Id', '?')}", err=True)


def _payload(file: str, content_type: str | None) -> tuple[bytes, str]:
    """A request body from a file or stdin, and its media type (given, or by its look)."""
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    if content_type is None:
        content_type = (
            "application/xml"
            if file.endswith((".xml", ".edxml")) or body.lstrip().startswith(b"<")
            else "application/json"
        )
    return body, content_type


@app.command()
def trace(
    message_id: str, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """A message's deliveries and every event of its trace, in order."""
    with hub_errors():
        msg = client(url, key).json("GET", f"/v1/messages/{message_id}")
    if as_json:
        emit(msg, True)
        return
    head = row(
        msg["id"], msg["service_code"], msg["sender_agency"], msg["sender_system"], msg["status"]
    )
    out.print(
        f"[bold]{head[0]}[/bold]  {head[1]}  from {head[2]}/{head[3]}  status "
        f"[bold]{head[4]}[/bold]  {msg['size']} bytes  trace "
        f"{'intact' if msg['trace_intact'] else '[red]TAMPERED[/red]'}"
    )
    out.print(f"created {msg['created_at']}")
    table = Table("#", "time (UTC)", "event", "attempt", "connector", "remote", "ms", "error")
    for e in msg["events"]:
        table.add_row(
            *row(
                e["seq"],
                str(e["at"])[11:23],
                e["event"],
                e["attempt"],
                e["connector"],
                e["remote_status"],
                f"{e['duration_ms']:.1f}" if e["duration_ms"] is not None else "",
                e["error"],
            )
        )
    out.print(table)


@app.command()
def messages(
    service: str | None = None,
    status: str | None = None,
    sender: str | None = None,
    recipient: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search messages, newest first."""
    params = {
        k: v
        for k, v in dict(
            service=service,
            status=status,
            sender=sender,
            recipient=recipient,
            limit=limit,
            cursor=cursor,
        ).items()
        if v is not None
    }
    with hub_errors():
        page = client(url, key).json("GET", "/v1/messages", params=params)
    table = Table("id", "created (UTC)", "service", "sender", "status", "bytes")
    for m in page["items"]:
        table.add_row(
            *row(
                m["id"],
                str(m["created_at"])[:19],
                m["service_code"],
                m["sender_system"],
                m["status"],
                m["size"],
            )
        )
    if page["next_cursor"] and not as_json:
        table.caption = f"more: --cursor {page['next_cursor']}"
    emit(page, as_json, table)
