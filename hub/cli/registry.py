"""The registry from the command line: ``lgsp agencies|systems|services|access-rules|routes|
connectors list|show|add|update|disable|enable|delete``, and ``lgsp systems rotate-key|
revoke-key``. Each command is one call to the admin API.

The options of ``add`` and ``update`` are made from the fields of ``hub.registry.models`` —
the models the API validates the same request with — so the CLI never drifts from the API. A
field holding JSON (a connector's ``config``, a route's ``condition``) takes JSON text, or
``@FILE``. ``update --unset FIELD`` sets an optional field back to null.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from pydantic import BaseModel
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
    row,
)
from hub.cli.connectors import connectors_app
from hub.registry.models import FORMS, MAX_GRACE_SECONDS

__all__ = ["GROUPS"]

ReasonOpt = Annotated[str | None, typer.Option(help="Why (kept in the audit log with who).")]

# kind → (command group, API path, the columns ``list`` shows)
GROUPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "agencies": ("agencies", "/v1/agencies", ("code", "name", "parent_code", "level", "enabled")),
    "systems": ("systems", "/v1/systems", ("code", "agency_code", "name", "role", "active")),
    "services": ("services", "/v1/services", ("code", "name", "mode", "content_type", "enabled")),
    "access_rules": (
        "access-rules",
        "/v1/access-rules",
        ("system_code", "service_code", "enabled"),
    ),
    "connectors": ("connectors", "/v1/connectors", ("name", "type", "enabled")),
    "routes": (
        "routes",
        "/v1/routes",
        ("name", "service_code", "recipient", "connector", "mapping", "priority", "enabled"),
    ),
}
KEY_HELP = {
    "access_rules": "SYSTEM/SERVICE (the two codes)",
    "connectors": "The instance's name.",
    "routes": "The route's name.",
}
CLIENT = ("url", "key")


def _json_field(name: str, text: str) -> Any:
    """A JSON-valued option: JSON text, or ``@FILE`` holding it."""
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise fail(
                f"--{name.replace('_', '-')}: cannot read {text[1:]}: {exc.strerror}"
            ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise fail(f"--{name.replace('_', '-')} is not JSON: {exc}") from None


def _scalar(annotation: Any) -> type | None:
    """The option type for a field's annotation; None for one that holds JSON."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    if typing.get_origin(annotation) is typing.Literal or annotation is date:
        return str  # the API names the choices (or the date's form) when one is wrong
    return annotation if annotation in (str, int, float, bool) else None


def _field_options(model: type[BaseModel], patch: bool) -> tuple[list[inspect.Parameter], set]:
    """One option per field of ``model``; required where registering needs it. Returns the
    parameters and the names of the fields that take JSON."""
    params, json_fields = [], set()
    for name, field in model.model_fields.items():
        kind = _scalar(field.annotation)
        if kind is None:
            json_fields.add(name)
        required = field.is_required() and not patch
        hint = (field.description or "") + (" JSON, or @FILE." if kind is None else "")
        option = typer.Option(f"--{name.replace('_', '-')}", help=hint.strip() or None)
        annotation = Annotated[(kind or str) if required else (kind or str) | None, option]
        default = inspect.Parameter.empty if required else None
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
            )
        )
    return params, json_fields


def _command(group: typer.Typer, name: str, help: str, params: list[inspect.Parameter]):
    """Register ``fn(**options)`` as ``name`` with ``params`` (plus ``--url``, ``--key``)."""

    def decorate(fn: Callable[..., None]) -> None:
        kw = inspect.Parameter.KEYWORD_ONLY
        every = [
            *params,
            inspect.Parameter("url", kw, annotation=UrlOpt, default=DEFAULT_URL),
            inspect.Parameter("key", kw, annotation=KeyOpt, default=None),
        ]

        def command(**given: Any) -> None:
            with hub_errors():
                fn(client(given.pop("url"), given.pop("key")), **given)

        command.__signature__ = inspect.Signature(every)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in every}
        command.__doc__ = help
        group.command(name)(command)

    return decorate


def _key_argument(kind: str, label: str) -> inspect.Parameter:
    help_ = KEY_HELP.get(kind, f"The {label}'s code.")
    return inspect.Parameter(
        "entry",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[str, typer.Argument(help=help_, metavar="KEY")],
    )


def _path(base: str, entry: str) -> str:
    return f"{base}/" + "/".join(quote(part, safe="") for part in entry.split("/"))


def _shown(data: Any, as_json: bool) -> None:
    if as_json:
        emit(data, True)
        return
    table = Table("field", "value")
    for name, value in data.items():
        table.add_row(
            *row(
                name,
                json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value,
            )
        )
    out.print(table)


def _group(kind: str) -> typer.Typer:
    name = GROUPS[kind][0]
    if kind == "connectors":
        return connectors_app
    group = typer.Typer(help=f"Registered {name.replace('-', ' ')}.", no_args_is_help=True)
    app.add_typer(group, name=name, rich_help_panel="Registry")
    return group


def _add_lifecycle(kind: str) -> typer.Typer:
    name, base, columns = GROUPS[kind]
    label = {"access_rules": "access rule"}.get(kind, kind[:-1] if kind != "agencies" else "agency")
    group = _group(kind)
    register, change = FORMS[kind]
    key_arg = _key_argument(kind, label)
    kw = inspect.Parameter.KEYWORD_ONLY
    as_json = inspect.Parameter("as_json", kw, annotation=JsonOpt, default=False)
    reason = inspect.Parameter("reason", kw, annotation=ReasonOpt, default=None)

    if kind != "connectors":  # ``connectors list`` also shows types and circuits

        @_command(group, "list", f"Every registered {label}.", [as_json])
        def list_(api, as_json: bool) -> None:
            items = api.json("GET", base)
            table = Table(*columns)
            for item in items:
                table.add_row(*row(*(item.get(c) for c in columns)))
            emit(items, as_json, table)

    @_command(group, "show", f"One {label}, every field.", [key_arg, as_json])
    def show(api, entry: str, as_json: bool) -> None:
        _shown(api.json("GET", _path(base, entry)), as_json)

    fields, json_fields = _field_options(register, patch=False)

    @_command(group, "add", f"Register a {label}.", [*fields, reason, as_json])
    def add(api, reason: str | None, as_json: bool, **values: Any) -> None:
        body = {
            k: _json_field(k, v) if k in json_fields else v
            for k, v in values.items()
            if v is not None
        }
        created = api.json("POST", base, json=body, params=_reason(reason))
        _shown(created, as_json)
        if "api_key" in created and not as_json:
            out.print("[bold]The API key is shown this once.[/bold]")

    if change is not None:
        fields, json_fields = _field_options(change, patch=True)
        unset = inspect.Parameter(
            "unset",
            kw,
            annotation=Annotated[
                list[str] | None, typer.Option(help="Set this field to null (repeatable).")
            ],
            default=None,
        )

        @_command(
            group,
            "update",
            f"Change some fields of a {label}.",
            [key_arg, *fields, unset, reason, as_json],
        )
        def update(
            api,
            entry: str,
            unset: list[str] | None,
            reason: str | None,
            as_json: bool,
            **values: Any,
        ) -> None:
            body = {
                k: _json_field(k, v) if k in json_fields else v
                for k, v in values.items()
                if v is not None
            }
            body.update(dict.fromkeys(unset or (), None))
            if not body:
                raise fail("nothing to change: give at least one field option or --unset FIELD")
            _shown(
                api.json("PATCH", _path(base, entry), json=body, params=_reason(reason)), as_json
            )

    for verb, doc in (
        ("disable", f"Disable a {label} (audited); nothing registered or queued is lost."),
        ("enable", f"Enable a disabled {label} again (audited)."),
    ):

        @_command(group, verb, doc, [key_arg, reason])
        def switch(api, entry: str, reason: str | None, verb: str = verb) -> None:
            api.json("POST", f"{_path(base, entry)}/{verb}", params=_reason(reason))
            out.print(f"{verb}d {label} {entry}", markup=False)

    @_command(group, "delete", f"Delete a {label} nothing refers to any more.", [key_arg, reason])
    def delete(api, entry: str, reason: str | None) -> None:
        api.request("DELETE", _path(base, entry), params=_reason(reason))
        out.print(f"deleted {label} {entry}", markup=False)

    return group


def _reason(reason: str | None) -> dict[str, str]:
    return {"reason": reason} if reason else {}


def _system_key_commands(group: typer.Typer) -> None:
    kw = inspect.Parameter.KEYWORD_ONLY
    code = inspect.Parameter("entry", kw, annotation=Annotated[str, typer.Argument(metavar="CODE")])
    reason = inspect.Parameter("reason", kw, annotation=ReasonOpt, default=None)
    grace = inspect.Parameter(
        "grace_seconds",
        kw,
        annotation=Annotated[
            float,
            typer.Option(
                min=0,
                max=MAX_GRACE_SECONDS,
                help="How long the key in use until now stays valid (0: refused at once).",
            ),
        ],
        default=86400.0,
    )
    as_json = inspect.Parameter("as_json", kw, annotation=JsonOpt, default=False)

    @_command(
        group,
        "rotate-key",
        "Issue a new key (shown once); the old one works for a grace period.",
        [code, grace, reason, as_json],
    )
    def rotate(api, entry: str, grace_seconds: float, reason: str | None, as_json: bool) -> None:
        rotated = api.json(
            "POST",
            _path("/v1/systems", entry) + "/rotate-key",
            json={"grace_seconds": grace_seconds},
            params=_reason(reason),
        )
        if as_json:
            emit(rotated, True)
            return
        out.print(f"new API key for {entry} (shown this once): {rotated['api_key']}", markup=False)
        until = rotated.get("previous_key_until")
        out.print(
            f"the old key works until {until}" if until else "the old key is refused from now on",
            markup=False,
        )

    @_command(group, "revoke-key", "Refuse every key of a system at once.", [code, reason])
    def revoke(api, entry: str, reason: str | None) -> None:
        api.json("POST", _path("/v1/systems", entry) + "/revoke-key", params=_reason(reason))
        out.print(
            f"every key of {entry} is refused from now on; rotate-key issues a new one",
            markup=False,
        )


_groups = {kind: _add_lifecycle(kind) for kind in GROUPS}
_system_key_commands(_groups["systems"])
