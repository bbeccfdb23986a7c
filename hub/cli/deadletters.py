"""``dead-letters``: deliveries that failed for good — list, replay (one, several or all, with
a progress bar at a terminal), discard."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    app,
    client,
    emit,
    err,
    fail,
    hub_errors,
    out,
    progress,
    row,
)
from hub.client import ClientError, HubClient

__all__ = ["dead_discard", "dead_list", "dead_replay"]

dead_app = typer.Typer(help="Deliveries that failed for good.", no_args_is_help=True)
app.add_typer(dead_app, name="dead-letters")


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
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(help="Dead deliveries to replay.", show_default=False)
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every dead delivery (of --connector, if given).")
    ] = False,
    connector: Annotated[str | None, typer.Option(help="With --all: this connector's.")] = None,
    reason: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue dead deliveries again: those named, or --all. One that is no longer dead (replayed
    or discarded meanwhile) is skipped and named; the command then exits 1."""
    if bool(delivery_ids) == every:
        raise fail("name the dead deliveries to replay, or give --all (not both)")
    if connector and not every:
        raise fail("--connector chooses among all dead deliveries: give --all with it")
    hub = client(url, key)
    with hub_errors():
        targets = delivery_ids or _every_dead(hub, connector)
    replayed: list[str] = []
    skipped: list[dict[str, str]] = []
    with _progress(as_json) as progress:
        task = progress.add_task("replaying", total=len(targets))
        for delivery_id in targets:
            try:
                hub.json("POST", f"/v1/dead-letters/{delivery_id}/replay", json={"reason": reason})
            except ClientError as exc:
                if exc.code not in ("conflict", "not_found"):  # the hub, not this one: stop
                    done = (
                        f" ({len(replayed)} of {len(targets)} replayed before)" if replayed else ""
                    )
                    raise fail(f"{exc.code}: {exc.message}{done}") from None
                skipped.append({"id": delivery_id, "code": exc.code, "message": exc.message})
            else:
                replayed.append(delivery_id)
            progress.advance(task)
    if as_json:
        emit({"replayed": replayed, "skipped": skipped}, True)
    elif len(targets) == 1 and replayed:
        out.print(f"replayed {replayed[0]}", markup=False)
    elif len(targets) != 1:
        out.print(
            f"replayed {len(replayed)} of {len(targets)} dead letter(s)",
            markup=False,
            highlight=False,
        )
    for s in skipped:  # on stderr even with --json: the exit code says to look
        line = f"{s['id']}: {s['code']}: {s['message']}"
        err.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    if skipped:
        raise typer.Exit(1)


def _every_dead(hub: HubClient, connector: str | None) -> list[str]:
    """The ids of every dead delivery (of ``connector``), read page by page before any is
    replayed, so a replay cannot shift the pages."""
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 500, **({"connector": connector} if connector else {})}
    while True:
        page = hub.json("GET", "/v1/dead-letters", params=params)
        ids += [d["id"] for d in page["items"]]
        if not page["next_cursor"]:
            return ids
        params["cursor"] = page["next_cursor"]


def _progress(quiet: bool) -> Progress:
    return progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        quiet=quiet,
    )


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
