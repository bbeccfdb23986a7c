"""``connectors``: the installed connector types and the registered instances."""

from __future__ import annotations

import typer
from rich.table import Table

from hub.cli.common import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, app, client, emit, hub_errors, row

__all__ = ["connectors_app", "connectors_list"]

connectors_app = typer.Typer(help="Connector types and instances.", no_args_is_help=True)
app.add_typer(connectors_app, name="connectors")


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
