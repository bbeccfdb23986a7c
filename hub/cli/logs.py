"""The hub's own records: ``denials`` (refused requests), the ``audit-log`` and the
``personal-data-log`` (lookups of citizens' data)."""

from __future__ import annotations

from rich.table import Table

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    SinceOpt,
    UntilOpt,
    UrlOpt,
    app,
    client,
    given,
    hub_errors,
    paged,
    row,
)

__all__ = ["audit_log", "denials", "personal_data_log"]


@app.command()
def denials(
    system: str | None = None,
    service: str | None = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: int = 50,
    cursor: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Refused requests, newest first (identical ones counted in one row)."""
    params = given(
        system=system, service=service, since=since, until=until, limit=limit, cursor=cursor
    )
    with hub_errors():
        page = client(url, key).json("GET", "/v1/denials", params=params)
    table = Table("time (UTC)", "system", "service", "action", "reason", "from", "count")
    for d in page["items"]:
        table.add_row(
            *row(
                str(d["at"])[:19],
                d["system_code"],
                d["service_code"],
                d["action"],
                d["reason"],
                d["remote_addr"],
                d["count"],
            )
        )
    paged(table, page, as_json)


@app.command("audit-log")
def audit_log(
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: int = 50,
    cursor: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Registry changes and dead-letter operations, newest first, with who and why."""
    params = given(
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    with hub_errors():
        page = client(url, key).json("GET", "/v1/audit-log", params=params)
    table = Table("time (UTC)", "actor", "action", "target", "reason")
    for e in page["items"]:
        table.add_row(*row(str(e["at"])[:19], e["actor"], e["action"], e["target"], e["reason"]))
    paged(table, page, as_json)


@app.command("personal-data-log")
def personal_data_log(
    system: str | None = None,
    service: str | None = None,
    officer: str | None = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: int = 50,
    cursor: str | None = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lookups of citizens' personal data, newest first: who asked, why, and what came back."""
    params = given(
        system=system,
        service=service,
        officer=officer,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    with hub_errors():
        page = client(url, key).json("GET", "/v1/personal-data-access", params=params)
    table = Table("time (UTC)", "system", "officer", "purpose", "service", "subject", "result")
    for a in page["items"]:
        table.add_row(
            *row(
                str(a["at"])[:19],
                a["system_code"],
                a["officer"],
                a["purpose"],
                a["service_code"],
                a["subject"],
                a["result"],
            )
        )
    paged(table, page, as_json)
