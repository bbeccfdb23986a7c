"""``lgsp directory``: the agency directory over the API — ``list``, ``show``, ``tree`` (of an
era: ``--as-of 2025-06-30`` has the districts), ``history``, ``resolve`` (the agency that
answers today for a code as documents carry it), ``import`` (CSV, JSON or the VDXP list, all or
nothing), ``merge``, ``close``, ``reopen``, ``alias add|remove``, and ``grants list|add|remove``
(which agencies a system speaks for). Errors are one line, exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from hub.cli.common import (
    DEFAULT_URL,
    JsonOpt,
    KeyOpt,
    UrlOpt,
    app,
    client,
    emit,
    fail,
    given,
    hub_errors,
    out,
    paged,
    row,
)

__all__ = ["directory_app"]

directory_app = typer.Typer(
    help="The agency directory: codes old and new, eras, aliases, imports.", no_args_is_help=True
)
app.add_typer(directory_app, name="directory", rich_help_panel="Registry")
alias_app = typer.Typer(help="Other spellings of an agency's code.", no_args_is_help=True)
directory_app.add_typer(alias_app, name="alias")
grants_app = typer.Typer(
    help="Which agencies a system may send documents as.", no_args_is_help=True
)
directory_app.add_typer(grants_app, name="grants")

ReasonOpt = Annotated[str | None, typer.Option(help="Why (kept in the audit log with who).")]
DayOpt = Annotated[str | None, typer.Option(help="A day, YYYY-MM-DD (default: today).")]
CodeArg = Annotated[str, typer.Argument(help="An agency's code, or an alias.")]
BASE = "/v1/directory/agencies"


def _at(code: str) -> str:
    return f"{BASE}/{quote(code, safe='')}"


def _reason(reason: str | None) -> dict[str, str]:
    return {"reason": reason} if reason else {}


def _agency_line(agency: dict[str, Any]) -> str:
    state = "" if agency["state"] == "active" else f"  [{agency['state']}]"
    years = ""
    if agency.get("valid_from") or agency.get("valid_to"):
        years = f"  ({agency.get('valid_from') or '…'} – {agency.get('valid_to') or '…'})"
    return f"{agency['code']}  {agency['name']}{state}{years}"


@directory_app.command("list")
def list_(
    q: Annotated[str | None, typer.Option(help="Words of the name, or a code prefix.")] = None,
    level: Annotated[int | None, typer.Option(min=1, max=4, help="1 central … 4 commune.")] = None,
    state: Annotated[str | None, typer.Option(help="active, closed or merged.")] = None,
    as_of: Annotated[str | None, typer.Option(help="In force on this day (YYYY-MM-DD).")] = None,
    cursor: str | None = None,
    limit: int = 50,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search agencies by name (accents and case aside) or code prefix, by code."""
    params = given(q=q, level=level, state=state, as_of=as_of, cursor=cursor, limit=limit)
    with hub_errors():
        page = client(url, key).json("GET", BASE, params=params)
    table = Table("code", "name", "level", "state", "parent", "successor", "in force")
    for a in page["items"]:
        force = f"{a['valid_from'] or '…'} – {a['valid_to'] or '…'}"
        table.add_row(
            *row(
                a["code"],
                a["name"],
                a["level"],
                a["state"],
                a["parent_code"],
                a["successor_code"],
                force,
            )
        )
    paged(table, page, as_json)


@directory_app.command()
def show(
    code: CodeArg, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """One agency: its fields, resolution, parent, children, aliases and receiving system."""
    with hub_errors():
        agency = client(url, key).json("GET", _at(code))
    if as_json:
        emit(agency, True)
        return
    table = Table("field", "value")
    for name in (
        "code",
        "name",
        "level",
        "state",
        "successor_code",
        "valid_from",
        "valid_to",
        "parent_code",
        "document_system",
        "enabled",
    ):
        table.add_row(*row(name, agency[name]))
    resolution = agency["resolution"]
    if resolution["code"] != agency["code"]:
        table.add_row(*row("resolves to", " → ".join(resolution["chain"])))
    table.add_row(*row("aliases", ", ".join(a["alias"] for a in agency["aliases"]) or None))
    table.add_row(*row("children", ", ".join(c["code"] for c in agency["children"]) or None))
    out.print(table)


@directory_app.command()
def tree(
    root: Annotated[str | None, typer.Option(help="Only under this agency.")] = None,
    as_of: Annotated[str | None, typer.Option(help="The day (YYYY-MM-DD); default today.")] = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The agencies in force on a day, as a tree."""
    with hub_errors():
        answer = client(url, key).json(
            "GET", "/v1/directory/tree", params=given(root=root, as_of=as_of)
        )
    if as_json:
        emit(answer, True)
        return
    shown = Tree(f"agencies in force on {answer['as_of']}")

    def grow(branch: Tree, node: dict[str, Any]) -> None:
        twig = branch.add(escape(_agency_line(node)))
        for child in node["children"]:
            grow(twig, child)

    for node in answer["roots"]:
        grow(shown, node)
    out.print(shown)


@directory_app.command()
def history(
    code: CodeArg,
    cursor: str | None = None,
    limit: int = 100,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """An agency's changes, newest first."""
    with hub_errors():
        page = client(url, key).json(
            "GET", f"{_at(code)}/history", params=given(cursor=cursor, limit=limit)
        )
    table = Table("time (UTC)", "change", "before", "after", "actor", "reason")

    def fields(values: dict[str, Any] | None) -> str:
        return ", ".join(f"{k}={v}" for k, v in (values or {}).items() if v is not None)

    for h in page["items"]:
        table.add_row(
            *row(
                str(h["at"])[:19],
                h["change"],
                fields(h["before"]),
                fields(h["after"]),
                h["actor"],
                h["reason"],
            )
        )
    paged(table, page, as_json)


@directory_app.command()
def resolve(
    code: Annotated[str, typer.Argument(help="A code as a document carries it.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The agency that answers today for a code: an alias to its agency, a merged agency along
    its successors. Exit code 1 if the code is unknown."""
    with hub_errors():
        found = client(url, key).json("GET", "/v1/directory/resolve", params={"code": code})
    if as_json:
        emit(found, True)
    elif not found["known"]:
        out.print(f"{code}: unknown to the directory", markup=False)
    else:
        via = " (an alias)" if found["alias"] else ""
        out.print(f"{code}{via} → {' → '.join(found['chain'])}  [{found['state']}]", markup=False)
    if not found["known"]:
        raise typer.Exit(1)


@directory_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="The list: .csv, .json, or the VDXP list.")],
    format: Annotated[
        str | None, typer.Option(help="csv, json or vdxp (default: by the file's suffix).")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Say what would change; change nothing.")] = False,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a list of agencies: all of it, or on any bad row nothing."""
    from hub.directory.lists import MAX_BYTES

    fmt = format or {".csv": "csv", ".json": "json"}.get(file.suffix.lower())
    if fmt is None:
        raise fail(f"say the format of {file.name} with --format csv, json or vdxp")
    try:
        if file.stat().st_size > MAX_BYTES:
            raise fail(f"{file} is over {MAX_BYTES} bytes: split it")
        data = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from None
    media = "text/csv" if fmt == "csv" else "application/json"
    with hub_errors():
        result = client(url, key).json(
            "POST",
            "/v1/directory/import",
            data=data,
            headers={"Content-Type": media},
            params={"format": fmt, "dry_run": str(dry_run).lower(), **_reason(reason)},
        )
    if as_json:
        emit(result, True)
        return
    verb = "would change (dry run: nothing changed)" if not result["applied"] else "imported"
    out.print(
        f"{verb}: {result['rows']} rows — {len(result['created'])} created, "
        f"{len(result['changed'])} changed, {len(result['aliases_added'])} aliases added, "
        f"{result['unchanged']} unchanged",
        markup=False,
    )
    for code in result["created"][:20]:
        out.print(f"  create {code}", markup=False)
    for change in result["changed"][:20]:
        out.print(f"  change {change['code']}: {', '.join(change['fields'])}", markup=False)


@directory_app.command()
def merge(
    code: CodeArg,
    into: Annotated[str, typer.Option(help="The successor (code or alias).")],
    reparent_children: Annotated[
        bool, typer.Option(help="Move the agencies under it to the successor.")
    ] = False,
    on: DayOpt = None,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Merge an agency into its successor: its code then resolves there."""
    body = {"into": into, "reparent_children": reparent_children, **given(on=on)}
    with hub_errors():
        merged = client(url, key).json(
            "POST", f"{_at(code)}/merge", json=body, params=_reason(reason)
        )
    out.print(f"merged {merged['code']} into {merged['successor_code']}", markup=False)


@directory_app.command()
def close(
    code: CodeArg,
    on: DayOpt = None,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Close an agency that has no successor."""
    with hub_errors():
        closed = client(url, key).json(
            "POST", f"{_at(code)}/close", json=given(on=on), params=_reason(reason)
        )
    out.print(f"closed {closed['code']} (in force until {closed['valid_to']})", markup=False)


@directory_app.command()
def reopen(
    code: CodeArg, reason: ReasonOpt = None, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None
) -> None:
    """Make a closed or merged agency active again."""
    with hub_errors():
        opened = client(url, key).json("POST", f"{_at(code)}/reopen", params=_reason(reason))
    out.print(f"reopened {opened['code']}", markup=False)


@alias_app.command("add")
def alias_add(
    code: Annotated[str, typer.Argument(help="The agency's code.")],
    alias: Annotated[str, typer.Argument(help="Another spelling, e.g. H56.14.")],
    note: Annotated[str | None, typer.Option(help="Where the spelling is used.")] = None,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Give an agency another spelling of its code, resolved like it."""
    with hub_errors():
        client(url, key).json(
            "POST",
            f"{_at(code)}/aliases",
            json={"alias": alias, **given(note=note)},
            params=_reason(reason),
        )
    out.print(f"{alias} is now an alias of {code}", markup=False)


@alias_app.command("remove")
def alias_remove(
    code: Annotated[str, typer.Argument(help="The agency's code.")],
    alias: str,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Remove an alias."""
    with hub_errors():
        client(url, key).request(
            "DELETE", f"{_at(code)}/aliases/{quote(alias, safe='')}", params=_reason(reason)
        )
    out.print(f"removed alias {alias} of {code}", markup=False)


def _grants_path(system: str) -> str:
    return f"/v1/systems/{quote(system, safe='')}/agencies"


@grants_app.command("list")
def grants_list(
    system: str, url: UrlOpt = DEFAULT_URL, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """The agencies a system speaks for: its own, then those granted."""
    with hub_errors():
        items = client(url, key).json("GET", _grants_path(system))
    table = Table("agency", "name", "state", "subtree", "own")
    for g in items:
        table.add_row(*row(g["agency_code"], g["name"], g["state"], g["subtree"], g["own"]))
    emit(items, as_json, table)


@grants_app.command("add")
def grants_add(
    system: str,
    agency: Annotated[str, typer.Argument(help="The agency's code, or an alias.")],
    subtree: Annotated[bool, typer.Option(help="And every agency below it.")] = False,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Let a system send documents as an agency."""
    with hub_errors():
        granted = client(url, key).json(
            "POST",
            _grants_path(system),
            json={"agency_code": agency, "subtree": subtree},
            params=_reason(reason),
        )
    below = " and every agency below it" if granted["subtree"] else ""
    out.print(f"{system} speaks for {granted['agency_code']}{below}", markup=False)


@grants_app.command("remove")
def grants_remove(
    system: str,
    agency: str,
    reason: ReasonOpt = None,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
) -> None:
    """Take back a grant (a system's own agency stays)."""
    with hub_errors():
        client(url, key).request(
            "DELETE", f"{_grants_path(system)}/{quote(agency, safe='')}", params=_reason(reason)
        )
    out.print(f"{system} no longer speaks for {agency}", markup=False)
