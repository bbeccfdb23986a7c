"""``lgsp stats`` and ``lgsp opdata records``: the hub's operational data at the terminal.

``stats`` is a live summary per service over the last minutes — attempts sent and failed,
error rate, latency, dead letters — from ``/v1/opdata/health``, redrawn every few seconds until
Ctrl+C; ``--once`` draws one frame (for scripts and tests). ``opdata records`` prints the
X-Road-style records of a window, following ``next_records_from`` to the end.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    app,
    client,
    emit,
    hub_errors,
    out,
    row,
)
from hub.client import ClientError, HubClient

__all__ = ["records", "stats"]

opdata_app = typer.Typer(help="Operational data: one record per exchange.", no_args_is_help=True)
app.add_typer(opdata_app, name="opdata")


def _health(hub: HubClient, minutes: float) -> dict[str, Any]:
    since = datetime.now(UTC) - timedelta(minutes=minutes)
    return hub.json("GET", "/v1/opdata/health", params={"from": since.isoformat()})


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _took_ms(record: dict[str, Any]) -> float | None:
    """The connector call: ``request_out`` → ``response_in``."""
    if record["request_out"] is None:
        return None
    took = datetime.fromisoformat(record["response_in"]) - datetime.fromisoformat(
        record["request_out"]
    )
    return took / timedelta(milliseconds=1)


def _clock(value: str | None) -> str:
    return "" if value is None else datetime.fromisoformat(value).strftime("%H:%M:%S")


def _frame(health: dict[str, Any], minutes: float, note: str | None = None) -> Table:
    """One screen: a row per service, the dead letters waiting, when it was drawn."""
    table = Table(
        "service",
        "sent",
        "failed",
        "error rate",
        "avg ms",
        "max ms",
        "dead letters",
        "last failure",
        title=f"last {minutes:g} min · {datetime.now(UTC):%H:%M:%S} UTC",
    )
    for s in health["services"]:
        sent = s["successes"] + s["failures"]
        rate = f"{s['failures'] / sent:.0%}" if sent else ""
        table.add_row(
            *row(
                s["service_code"] or "(no service)",
                sent,
                s["failures"],
                rate,
                _ms(s["latency_avg_ms"]),
                _ms(s["latency_max_ms"]),
                s["dead_letters"],
                _clock(s["last_failure_at"]),
            )
        )
    table.caption = note or f"dead letters waiting: {health['dead_letters']}"
    return table


@app.command()
def stats(
    minutes: Annotated[float, typer.Option(min=0.1, help="The window: the last N minutes.")] = 15,
    every: Annotated[float, typer.Option(min=0.5, help="Redraw every N seconds.")] = 5,
    once: Annotated[bool, typer.Option(help="Draw one frame and exit.")] = False,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Live per-service summary: sent, failed, error rate, latency, dead letters (Ctrl+C
    stops). ``--json`` prints the figures once."""
    hub = client(url, key)
    with hub_errors():  # the first frame must come: a wrong URL or key is one error line
        health = _health(hub, minutes)
    if as_json:
        emit(health, True)
        return
    if once:
        out.print(_frame(health, minutes))
        return
    try:
        with Live(_frame(health, minutes), console=out, auto_refresh=False) as live:
            while True:
                time.sleep(every)
                note = None
                try:
                    health = _health(hub, minutes)
                except ClientError as exc:  # keep the last figures, say why they are old
                    note = (
                        f"not refreshed at {datetime.now(UTC):%H:%M:%S}: {exc.code}: {exc.message}"
                    )
                live.update(_frame(health, minutes, note), refresh=True)
    except KeyboardInterrupt:
        pass


@opdata_app.command()
def records(
    since: Annotated[str, typer.Option("--from", help="ISO time with its zone, inclusive.")],
    until: Annotated[
        str | None, typer.Option("--to", help="ISO time with its zone, exclusive (default: now).")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every exchange with a partner that ended in the window, oldest first."""
    hub = client(url, key)
    params: dict[str, Any] = {"from": since, "limit": 1000, **({"to": until} if until else {})}
    found: list[dict[str, Any]] = []
    with hub_errors():
        while True:
            page = hub.json("GET", "/v1/opdata/records", params=params)
            found += page["records"]
            if page["next_records_from"] is None:
                break
            params["next_records_from"] = page["next_records_from"]
    if as_json:
        emit(found, True)
        return
    table = Table(
        "response in", "service", "client", "connector", "try", "ok", "status", "fault", "ms"
    )
    for r in found:
        table.add_row(
            *row(
                r["response_in"],
                r["service_code"],
                r["client_system"],
                r["connector"],
                r["attempt"],
                "yes" if r["succeeded"] else "no",
                r["status_code"],
                r["fault_code"],
                _ms(_took_ms(r)),
            )
        )
    table.caption = f"complete before {page['records_available_before']}"
    out.print(table)
