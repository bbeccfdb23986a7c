"""``dead-letters``: deliveries that failed for good — list, replay, discard."""

from __future__ import annotations

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
    hub_errors,
    out,
    row,
)

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
