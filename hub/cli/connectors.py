"""``connectors``: the installed connector types and the registered instances; ``check``
tests one instance (its connection, a round trip, its error classes) in the hub, where its
secrets live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
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
    row,
)

__all__ = ["connectors_app", "connectors_check", "connectors_list"]

CHECK_TIMEOUT = 180.0  # a round trip and the stand-in checks, each under its own timeouts
SHOWN = {"ok": "pass", "warn": "warn", "fail": "FAIL", "skipped": "skipped"}

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


@connectors_app.command("check")
def connectors_check(
    name: Annotated[str, typer.Argument(help="The connector instance.")],
    service: Annotated[
        str | None,
        typer.Option(help="Service code: its request schema's first example, its route's mapping."),
    ] = None,
    example: Annotated[
        Path | None,
        typer.Option(help="Example message to deliver: a .json or .xml file.", dir_okay=False),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Test connection (secrets, DNS, TCP, credentials), a round trip with the example, and
    the error classes (4xx permanent; 5xx, 429, timeout retryable). Exit 1 if a check fails."""
    body: dict[str, Any] = {"service": service} if service else {}
    if example is not None:
        body.update(_example(example))
    api = client(url, key)
    api.timeout = CHECK_TIMEOUT
    with hub_errors():
        report = api.json("POST", f"/v1/connectors/{quote(name, safe='')}/check", json=body)
    table = Table("part", "check", "status", "detail")
    for part in ("checks", "conformance"):
        for result in report[part]:
            status = SHOWN.get(result["status"], result["status"])
            table.add_row(*row(part.rstrip("s"), result["name"], status, result["detail"]))
    failed = sum(r["status"] == "fail" for part in ("checks", "conformance") for r in report[part])
    where = f"example: {report['example']}" if report["example"] else "no example message"
    table.caption = f"{report['connector']} ({report['type']}), {where}: " + (
        f"{failed} failed" if failed else "no check failed"
    )
    emit(report, as_json, table)
    if failed:
        raise typer.Exit(1)


def _example(path: Path) -> dict[str, Any]:
    """The body fields for an example file: a JSON value, or XML text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(
            f"--example: cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return {"example": json.loads(text)}
        except ValueError as exc:
            raise fail(f"--example: {path} is not JSON: {exc}") from None
    if suffix == ".xml":
        return {"example": text, "content_type": "application/xml"}
    raise fail(f"--example: {path} must be a .json or .xml file")
