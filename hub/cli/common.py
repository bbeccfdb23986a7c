"""What every ``lgsp`` command shares: the application, its consoles and options, the one-line
error, the API client, and the hub of this machine's settings."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, ProgressColumn
from rich.table import Table

from hub.client import ClientError, HubClient
from hub.config import get_settings
from hub.errors import HubError

__all__ = [
    "DEFAULT_URL",
    "JsonOpt",
    "KeyOpt",
    "SinceOpt",
    "UntilOpt",
    "UrlOpt",
    "app",
    "client",
    "emit",
    "err",
    "fail",
    "given",
    "hub_errors",
    "list_documents",
    "local_hub",
    "out",
    "paged",
    "progress",
    "row",
    "setup_logging",
    "uploaded",
]

app = typer.Typer(
    help="LGSP Hub: the provincial data-sharing integration bus.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

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


def local_hub(migrate: bool = False):
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


def setup_logging() -> None:
    from hub.logs import configure

    configure()


def given(**params: Any) -> dict[str, Any]:
    """Query parameters that were given (not None)."""
    return {k: v for k, v in params.items() if v is not None}


def progress(*columns: ProgressColumn | str, quiet: bool) -> Progress:
    """A progress display on stderr, only for a person at a terminal: never with ``--json``
    (``quiet``) or when stderr is piped."""
    return Progress(*columns, console=err, transient=True, disable=quiet or not err.is_terminal)


def paged(table: Table, page: dict[str, Any], as_json: bool) -> None:
    if page["next_cursor"] and not as_json:
        table.caption = f"more: --cursor {page['next_cursor']}"
    emit(page, as_json, table)


SinceOpt = Annotated[str | None, typer.Option(help="ISO time, e.g. 2026-11-25T08:00:00Z.")]
UntilOpt = Annotated[str | None, typer.Option(help="ISO time (exclusive).")]


def list_documents(path: str, url: str, key: str | None, as_json: bool) -> None:
    """``lgsp schemas|mappings list``: each with the version in force (0: built in)."""
    with hub_errors():
        items = client(url, key).json("GET", path)
    table = Table("name", "version", "source")
    for item in items:
        table.add_row(*row(item["name"], item["version"], item["source"]))
    emit(items, as_json, table)


def uploaded(name: str, result: dict[str, Any]) -> None:
    """The one line an upload prints: the version made, or the one that already held it."""
    verb = "uploaded as" if result["created"] else "unchanged: already"
    out.print(f"{name} {verb} version {result['version']}", markup=False)
