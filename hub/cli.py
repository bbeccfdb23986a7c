"""``lgsp``: run the hub's processes and talk to a running hub.

Process commands (``serve``, ``api``, ``worker``, ``db upgrade``, ``sandbox``) act on this
machine's settings. Client commands (``send``, ``trace``, ``messages``, ``dead-letters``,
``connectors list``, ``denials``, ``audit-log``) call the hub's API at ``--url`` with
``--key`` (or ``LGSP_URL`` / ``LGSP_API_KEY``, else the admin key file). Output is for people;
``--json`` is for scripts. Errors are one line on stderr and exit code 1, never a stack trace.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hub.client import ClientError, HubClient
from hub.config import get_settings
from hub.errors import HubError

__all__ = ["app"]

app = typer.Typer(
    help="LGSP Hub: the provincial data-sharing integration bus.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The hub's store.", no_args_is_help=True)
dead_app = typer.Typer(help="Deliveries that failed for good.", no_args_is_help=True)
connectors_app = typer.Typer(help="Connector types and instances.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(connectors_app, name="connectors")

# Piped output is not cut to 80 columns: ids and times must survive ``| grep``.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

UrlOpt = Annotated[str, typer.Option("--url", envvar="LGSP_URL", help="The hub's API.")]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", envvar="LGSP_API_KEY", help="API key (default: the admin key file)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
DEFAULT_URL = "http://127.0.0.1:8080"


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def row(*cells: object) -> list[str]:
    """Table cells as literal text: a ``[`` in a partner's error is not Rich markup."""
    return [escape("" if c is None else str(c)) for c in cells]


@contextmanager
def hub_errors() -> Iterator[None]:
    """The hub's structured refusal as one line: code, message and the fields it names."""
    try:
        yield
    except ClientError as exc:
        errors = exc.details.get("errors") or []
        named = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in errors[:5])
        raise fail(f"{exc.code}: {exc.message}" + (f" ({named})" if named else "")) from None


def client(url: str, key: str | None) -> HubClient:
    """A client with ``key``; only when no key is given at all (``--key`` and
    ``LGSP_API_KEY`` unset), the admin key file's. An empty key is a mistake (an unset shell
    variable in ``--key "$KEY"``), and falling back would act as the admin."""
    if key is None:  # click reads a variable that is set but empty as unset
        key = os.environ.get("LGSP_API_KEY")
    if key is not None and not key.strip():
        raise fail(
            "the API key is empty (--key or LGSP_API_KEY); give a key, or unset "
            "LGSP_API_KEY to use the admin key file"
        )
    if key is None:
        path = get_settings().admin_key_file
        key = path.read_text().strip() if path.exists() else None
    return HubClient(url, key)


def emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json or table is None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        out.print(table)


def _hub(migrate: bool = False):
    """The hub of this machine's settings; ``migrate``: bring its store up to date first
    (``serve`` and ``db upgrade`` do; ``api`` and ``worker`` replicas expect it done)."""
    from hub.context import Hub
    from hub.store.db import upgrade

    try:
        hub = Hub(get_settings())
        if migrate:
            upgrade(hub.engine)
        return hub
    except HubError as exc:
        raise fail(exc.message) from None
    except Exception as exc:  # a bad URL or an unreachable store: one line, not a traceback
        raise fail(f"cannot open the hub's store or broker: {type(exc).__name__}: {exc}") from None


def _logging() -> None:
    from hub.logs import configure

    configure()


# ── processes ───────────────────────────────────────────────────────────────────────────


@app.command()
def serve(
    demo: Annotated[bool, typer.Option(help="Start the sandbox and a demo registry.")] = False,
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=0, help="Run the worker in N child processes (uses more cores); 0: in this process."
        ),
    ] = 0,
) -> None:
    """API, outbox relay and worker in one process (the embedded default)."""
    from hub import bootstrap, server
    from hub import demo as demo_registry

    _logging()
    try:
        settings = get_settings()
    except Exception as exc:  # a bad LGSP_* value: one line, not a traceback
        raise fail(f"invalid settings: {' '.join(str(exc).split())}") from None
    host = host or settings.host
    port = settings.port if port is None else port
    try:  # bound before the store is touched or a key made: a taken port is all that is said
        sock = server.listen(host, port)
    except OSError as exc:
        raise fail(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; start on another "
            "port with --port N (or LGSP_PORT)"
        ) from None
    hub = _hub(migrate=True)
    admin_key = bootstrap.ensure_admin(hub)
    url = f"http://{host}:{sock.getsockname()[1]}"
    out.print(
        f"[bold]LGSP Hub[/bold] on {url}  (store: {hub.engine.url.render_as_string()}, "
        f"broker: {settings.broker_url.split('@')[-1]})"
    )
    if admin_key:
        out.print(f"admin API key (shown once, also in {settings.admin_key_file}): {admin_key}")
    if demo:
        from sandbox import run_all

        sink, soap = run_all(block=False, out=lambda line: out.print(f"  sandbox {line}"))
        demo_registry.seed(hub, sink.url, soap.wsdl_url)
        out.print(
            "demo registry ready; try:\n"
            f"  export LGSP_API_KEY=$(cat {settings.data_dir / 'demo.key'})\n"
            "  .venv/bin/lgsp send dossier.status demo/dossier-status.json\n"
            "  .venv/bin/lgsp trace <id>"
        )
    server.run(hub, host=host, port=port, worker_processes=workers, sock=sock)


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """The API and the outbox relay, without a worker (scale-out)."""
    from hub import bootstrap, server

    _logging()
    hub = _hub()
    bootstrap.ensure_admin(hub)
    server.run(hub, worker=False, host=host, port=port)


@app.command()
def worker() -> None:
    """A worker only: consumes every connector's queue and delivers (scale-out)."""
    from hub import server

    _logging()
    server.run(_hub(), api=False, relay=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema to the latest revision."""
    from hub import bootstrap

    hub = _hub(migrate=True)
    key = bootstrap.ensure_admin(hub)
    out.print(f"store at {hub.engine.url.render_as_string()} is up to date")
    if key:
        out.print(f"admin API key written to {hub.settings.admin_key_file}")
    hub.close()


@app.command()
def sandbox() -> None:
    """Run the sandbox partner systems until Ctrl-C."""
    from sandbox import run_all

    run_all(block=True)


# ── client commands ─────────────────────────────────────────────────────────────────────


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


@dead_app.command("list")
def dead_list(
    connector: str | None = None,
    limit: int = 50,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dead deliveries, newest first."""
    params = {"limit": limit, **({"connector": connector} if connector else {})}
    with hub_errors():
        page = client(url, key).json("GET", "/v1/dead-letters", params=params)
    table = Table("delivery", "message", "connector", "attempts", "remote", "error")
    for d in page["items"]:
        table.add_row(
            *row(
                d["id"],
                d["message_id"],
                d["connector"],
                d["attempts"],
                d["remote_status"],
                (d["last_error"] or "")[:60],
            )
        )
    emit(page, as_json, table)


@dead_app.command("replay")
def dead_replay(
    delivery_id: str, reason: str | None = None, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None
) -> None:
    """Queue a dead delivery again."""
    with hub_errors():
        client(url, key).json(
            "POST", f"/v1/dead-letters/{delivery_id}/replay", json={"reason": reason}
        )
    out.print(f"replayed {delivery_id}", markup=False)


@dead_app.command("discard")
def dead_discard(
    delivery_id: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Give up on a dead delivery, with a reason."""
    with hub_errors():
        client(url, key).json(
            "POST", f"/v1/dead-letters/{delivery_id}/discard", json={"reason": reason}
        )
    out.print(f"discarded {delivery_id}", markup=False)


def _given(**params: Any) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _paged(table: Table, page: dict[str, Any], as_json: bool) -> None:
    if page["next_cursor"] and not as_json:
        table.caption = f"more: --cursor {page['next_cursor']}"
    emit(page, as_json, table)


SinceOpt = Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-11-25T08:00:00Z.")]
UntilOpt = Annotated[str | None, typer.Option(help="ISO time (exclusive).")]


@app.command()
def denials(
    system: str | None = None,
    service: str | None = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: int = 50,
    cursor: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refused requests, newest first (identical ones counted in one row)."""
    params = _given(
        system=system, service=service, since=since, until=until, limit=limit, cursor=cursor
    )
    with hub_errors():
        page = client(url, key).json("GET", "/v1/denials", params=params)
    table = Table("time (UTC)", "system", "service", "action", "reason", "from", "count")
    for d in page["items"]:
        table.add_row(
            *row(
                str(d["at"])[:19],
                d["system_code"],
                d["service_code"],
                d["action"],
                d["reason"],
                d["remote_addr"],
                d["count"],
            )
        )
    _paged(table, page, as_json)


@app.command("audit-log")
def audit_log(
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: int = 50,
    cursor: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Registry changes and dead-letter operations, newest first, with who and why."""
    params = _given(
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    with hub_errors():
        page = client(url, key).json("GET", "/v1/audit-log", params=params)
    table = Table("time (UTC)", "actor", "action", "target", "reason")
    for e in page["items"]:
        table.add_row(*row(str(e["at"])[:19], e["actor"], e["action"], e["target"], e["reason"]))
    _paged(table, page, as_json)


@connectors_app.command("list")
def connectors_list(
    url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Installed connector types, and the instances registered in the hub with their
    circuit (open: the partner is failing and its queue waits)."""
    from hub.connector import connector_types

    types = {name: f"{cls.__module__}.{cls.__name__}" for name, cls in connector_types().items()}
    with hub_errors():
        instances = client(url, key).json("GET", "/v1/connectors")
    table = Table("instance", "type", "enabled", "circuit", "installed as")
    for inst in instances:
        circuit = inst.get("circuit") or {"state": "closed"}
        state = circuit["state"]
        if state != "closed":
            state += f" (probe {circuit.get('probe_at') or '-'}: {circuit.get('last_error')})"
        table.add_row(
            *row(
                inst["name"],
                inst["type"],
                inst["enabled"],
                state,
                types.get(inst["type"], "NOT INSTALLED"),
            )
        )
    for name, where in types.items():
        if not any(i["type"] == name for i in instances):
            table.add_row(*row("-", name, "-", "-", where))
    emit({"types": types, "instances": instances}, as_json, table)


if __name__ == "__main__":  # pragma: no cover
    app()
