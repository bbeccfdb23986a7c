"""The hub's own processes on this machine: ``serve``, ``api``, ``worker``, ``db upgrade``,
``sandbox``."""

from __future__ import annotations

import threading
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
    worker_metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65000,
            help="With --workers N: worker i serves its metrics on 127.0.0.1:PORT+i/metrics "
            "(their deliveries are counted there, not on the API's /metrics).",
        ),
    ] = None,
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
    out.print(
        f"dashboard: {url}/admin/  (log in with the admin API key in {settings.admin_key_file})"
        f"  ·  metrics: {url}/metrics  ·  API docs: {url}/docs"
    )
    if demo:
        province = _sandbox(url)
        demo_registry.seed(hub, province)
        demo_key = (settings.data_dir / "demo.key").read_text().strip()
        out.print(
            "demo registry ready; the tour below runs as the one-stop system. Try too:\n"
            f"  export LGSP_API_KEY=$(cat {settings.data_dir / 'demo.key'})\n"
            "  .venv/bin/lgsp send dossier.status demo/dossier-status.json\n"
            "  .venv/bin/lgsp trace <id>"
        )
        threading.Thread(
            target=demo_registry.tour,
            args=(url, demo_key, province, lambda line: out.print(line, markup=False)),
            kwargs={
                "document_key": demo_registry.document_key(settings, "qlvb-vp").read_text().strip()
            },
            name="demo-tour",
            daemon=True,
        ).start()
    server.run(
        hub,
        host=host,
        port=port,
        worker_processes=workers,
        worker_metrics_port=worker_metrics_port,
        sock=sock,
    )


def _sandbox(hub_url: str):
    """The demo's sandbox on its fixed ports, or on free ones when another sandbox has them."""
    from sandbox import run_all

    def show(line: str) -> None:
        out.print(f"  sandbox {line}", markup=False)

    try:
        return run_all(hub_url=hub_url, block=False, out=show)
    except OSError as exc:
        out.print(f"  sandbox: {exc.strerror or exc}; using free ports", markup=False)
        return run_all(port_base=0, hub_url=hub_url, block=False, out=show)


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


MetricsPortOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=65535,
        help="Serve this worker's metrics (deliveries, latency) on 127.0.0.1:PORT/metrics.",
    ),
]


@app.command()
def worker(metrics_port: MetricsPortOpt = None) -> None:
    """A worker only: consumes every connector's queue and delivers (scale-out)."""
    from hub import server

    setup_logging()
    hub = local_hub()
    if metrics_port:
        try:
            hub.metrics.serve(metrics_port)
        except OSError as exc:
            raise fail(f"cannot serve metrics on port {metrics_port}: {exc.strerror}") from None
    server.run(hub, api=False, relay=False)


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
def sandbox(
    port_base: Annotated[
        int, typer.Option(min=0, max=65000, help="Ports from here, fixed (0: any free ports).")
    ] = 8701,
    hub_url: Annotated[
        str, typer.Option(help="The hub the payment platform calls back.")
    ] = "http://127.0.0.1:8080",
) -> None:
    """Run the sandbox partner systems until Ctrl-C, each on a fixed port, so connectors
    registered against them still work after a restart."""
    from sandbox import run_all

    try:
        run_all(
            port_base=port_base,
            hub_url=hub_url,
            block=True,
            out=lambda line: out.print(line, markup=False),
        )
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}; another sandbox running? try --port-base N") from None


# ── client commands ─────────────────────────────────────────────────────────────────────
