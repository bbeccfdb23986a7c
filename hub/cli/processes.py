"""The hub's own processes on this machine: ``serve``, ``api``, ``worker``, ``db upgrade``,
``sandbox``."""

from __future__ import annotations

from typing import Annotated

import typer

from hub.cli.common import app, fail, local_hub, out, setup_logging
from hub.config import get_settings

__all__ = ["api", "db_upgrade", "sandbox", "serve", "worker"]

db_app = typer.Typer(help="The hub's store.", no_args_is_help=True)
app.add_typer(db_app, name="db")


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

    setup_logging()
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
    hub = local_hub(migrate=True)
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

    setup_logging()
    hub = local_hub()
    bootstrap.ensure_admin(hub)
    server.run(hub, worker=False, host=host, port=port)


@app.command()
def worker() -> None:
    """A worker only: consumes every connector's queue and delivers (scale-out)."""
    from hub import server

    setup_logging()
    server.run(local_hub(), api=False, relay=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the store's schema to the latest revision."""
    from hub import bootstrap

    hub = local_hub(migrate=True)
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
