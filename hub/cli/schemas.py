"""``lgsp schemas list|show|versions|upload``: the schemas in the registry, built in or uploaded
(``hub.registry.documents``)."""

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
    list_documents,
    row,
    uploaded,
)

__all__ = ["schemas_app"]

schemas_app = typer.Typer(
    help="Schemas: built in, or uploaded and versioned.", no_args_is_help=True
)
app.add_typer(schemas_app, name="schemas", rich_help_panel="Registry")


@schemas_app.command("list")
def list_(url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Every schema, with the version in force (0: the built-in file)."""
    list_documents("/v1/schemas", url, key, as_json)


@schemas_app.command()
def show(
    name: str,
    version: Annotated[int | None, typer.Option(min=1, help="An uploaded version.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Print a schema as it is in force (or --version)."""
    with hub_errors():
        response = client(url, key).request(
            "GET", f"/v1/schemas/{name}", params={"version": version} if version else None
        )
    sys.stdout.write(response.text if response.text.endswith("\n") else response.text + "\n")


@schemas_app.command()
def versions(
    name: str, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Every uploaded version of a schema, oldest first."""
    with hub_errors():
        items = client(url, key).json("GET", f"/v1/schemas/{name}/versions")
    table = Table("version", "sha256", "by", "at (UTC)")
    for item in items:
        table.add_row(*row(item["version"], item["sha256"][:16], item["actor"], item["created_at"]))
    emit(items, as_json, table)


@schemas_app.command()
def upload(
    name: Annotated[str, typer.Argument(help="The schema's name, e.g. dossier-status.v2.json.")],
    file: Annotated[str, typer.Argument(help="The JSON Schema or XSD file, or - for stdin.")],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Upload a schema as its next version, in force everywhere within the cache window."""
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    media = "application/xml" if name.endswith(".xsd") else "application/schema+json"
    with hub_errors():
        result = client(url, key).json(
            "PUT",
            f"/v1/schemas/{name}",
            data=body,
            params={"reason": reason} if reason else None,
            headers={"Content-Type": media},
        )
    uploaded(name, result)
