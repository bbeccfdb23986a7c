"""``lgsp registry export|apply|schema``: the whole registry as one YAML file, kept in version
control beside the province's other configuration (``hub.registry.ascode``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
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
    progress,
    row,
)

__all__ = ["apply", "export", "schema"]

registry_app = typer.Typer(help="The whole registry as one file.", no_args_is_help=True)
app.add_typer(registry_app, name="registry", rich_help_panel="Registry")

HEADER = (
    "# LGSP Hub registry file: `lgsp registry apply -f FILE` makes a hub match it.\n"
    "# No API keys and no secrets: connectors name environment variables or files.\n"
)


@registry_app.command()
def export(url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False) -> None:
    """Print the whole registry as YAML (``> province.yaml``), or JSON."""
    with hub_errors(), _working("reading the registry", as_json):
        document = client(url, key).json("GET", "/v1/registry")
    if as_json:
        emit(document, True)
        return
    sys.stdout.write(HEADER + yaml.safe_dump(document, allow_unicode=True, sort_keys=False))


@registry_app.command()
def apply(
    file: Annotated[str, typer.Option("--file", "-f", help="The registry file, or - for stdin.")],
    dry_run: Annotated[bool, typer.Option(help="Print the plan and change nothing.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the hub's registry match FILE: print the plan (what is created, changed, disabled),
    then apply it whole — or, with --dry-run, stop there."""
    try:
        body = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    params = {"dry_run": str(dry_run).lower(), **({"reason": reason} if reason else {})}
    with hub_errors(), _working("planning" if dry_run else "applying", as_json):
        result = client(url, key).json(
            "POST",
            "/v1/registry/apply",
            data=body,
            params=params,
            headers={"Content-Type": "application/yaml"},
        )
    if as_json:
        emit(result, True)
        return
    table = Table("action", "kind", "entry", "fields")
    for change in result["changes"]:
        table.add_row(
            *row(change["action"], change["kind"], change["key"], ", ".join(change["fields"]))
        )
    if result["changes"]:
        out.print(table)
    verb = "applied" if result["applied"] else "planned (dry run: nothing changed)"
    out.print(f"{len(result['changes'])} change(s) {verb}", markup=False)
    for system, api_key in result["api_keys"].items():
        out.print(f"API key of new system {system} (shown once): {api_key}", markup=False)


def _working(what: str, quiet: bool) -> Progress:
    """A spinner with the time spent on stderr while the hub works (a large registry takes a
    while to plan and apply); only for a person at a terminal, never in --json or piped."""
    spinner = progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), quiet=quiet
    )
    spinner.add_task(what, total=None)
    return spinner


@registry_app.command()
def schema() -> None:
    """Print the registry file's JSON Schema (shipped with the hub), for an editor to check the
    file as it is typed: ``lgsp registry schema > registry.schema.json``."""
    from hub.registry.ascode import SCHEMA_FILE

    sys.stdout.write(SCHEMA_FILE.read_text(encoding="utf-8"))
