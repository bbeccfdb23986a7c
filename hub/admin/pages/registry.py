"""The registry as an admin sees it: agencies as their level tree, systems, services, access
rules, routes and connectors — and each entry edited, enabled or disabled through the
registry's lifecycle (``hub.registry.lifecycle``): a change is checked by the same change
model as the API's ``PATCH``, then the whole entry as at registration, and audited with who
changed what and why. A system's key is rotated here too; the
new key is shown on the answer page once and never again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.types import JSON

from hub.admin.web import HEADERS, PREFIX, OperatorDep, form, render
from hub.context import Hub
from hub.errors import NotFound, SchemaViolation
from hub.registry.keys import rotate_key
from hub.registry.lifecycle import set_enabled, update_entry
from hub.registry.models import FORMS
from hub.registry.reads import KINDS, get, list_all

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
TABS = ("agencies", "systems", "services", "access_rules", "routes", "connectors")


def _kind(kind: str) -> str:
    if kind not in TABS:
        raise NotFound(f"no registry kind {kind!r}")
    return kind


def _tree(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Agencies in tree order, each with its depth (a parent outside the list: a root)."""
    by_parent: dict[str | None, list[dict[str, Any]]] = {}
    codes = {r["code"] for r in rows}
    for row in rows:
        parent = row.get("parent_code") if row.get("parent_code") in codes else None
        by_parent.setdefault(parent, []).append(row)
    ordered: list[dict[str, Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for row in sorted(by_parent.get(parent, []), key=lambda r: r["code"]):
            ordered.append({**row, "depth": depth})
            if depth < 10:
                walk(row["code"], depth + 1)

    walk(None, 0)
    return ordered


@router.get("/registry")
async def listing(request: Request, _: OperatorDep) -> Response:
    hub: Hub = request.app.state.hub
    kind = _kind(request.query_params.get("kind") or "routes")

    def run() -> list[dict[str, Any]]:
        with hub.reader.connect() as conn:
            rows = list_all(conn, kind)
        return _tree(rows) if kind == "agencies" else rows

    rows = await anyio.to_thread.run_sync(run)
    k = KINDS[kind]
    columns = [c.name for c in k.shown if c.name not in ("key_prefix", "previous_key_prefix")]
    return render(
        request,
        "registry.html",
        kind=kind,
        tabs=TABS,
        rows=rows,
        columns=columns[:9],
        key_of=k.key_of,
        switch=k.switch,
        saved=request.query_params.get("saved"),
    )


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, indent=1)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _changes(kind: str, data: Mapping[str, str]) -> dict[str, Any]:
    """The form's fields checked by the registry's own change model (``FORMS``), as the API's
    ``PATCH`` checks a body: an empty field means null, a JSON column's field is JSON text."""
    model = FORMS[kind][1]
    if model is None:
        return {}
    given: dict[str, Any] = {}
    for name in model.model_fields:
        if name not in data:
            continue
        text = str(data[name]).strip()
        try:
            json_column = isinstance(KINDS[kind].table.c[name].type, JSON)
            given[name] = None if not text else json.loads(text) if json_column else text
        except ValueError as exc:
            raise SchemaViolation(
                f"{name}: {exc}", errors=[{"path": f"/{name}", "message": "not valid JSON"}]
            ) from None
    try:
        return model.model_validate(given).model_dump(exclude_unset=True)
    except ValidationError as exc:
        raise SchemaViolation(
            f"the {KINDS[kind].label} is not valid",
            errors=[
                {"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()
            ],
        ) from None


@router.get("/registry/{kind}/{key:path}")
async def entry(request: Request, kind: str, key: str, _: OperatorDep) -> Response:
    hub: Hub = request.app.state.hub
    kind = _kind(kind)

    def run() -> dict[str, Any]:
        with hub.reader.connect() as conn:
            return get(conn, kind, key)

    row = await anyio.to_thread.run_sync(run)
    model = FORMS[kind][1]
    fields = [(name, _shown(row.get(name))) for name in sorted(model.model_fields if model else ())]
    return render(
        request,
        "registry_entry.html",
        kind=kind,
        key=key,
        row=row,
        fields=fields,
        switch=KINDS[kind].switch,
    )


@router.post("/registry/{kind}/{key:path}")
async def change(request: Request, kind: str, key: str, session: OperatorDep) -> Response:
    """One form: the updatable fields, the switch, a reason; each part applied through the
    lifecycle (an update that changes nothing writes nothing)."""
    hub: Hub = request.app.state.hub
    kind = _kind(kind)
    data = await form(request, session)
    reason = str(data.get("reason") or "").strip()[:500] or None
    action = str(data.get("action") or "save")
    if action == "rotate_key" and kind == "systems":
        rotated = await anyio.to_thread.run_sync(
            lambda: rotate_key(hub, session.system, key, reason=reason)
        )
        return render(request, "new_key.html", system=key, api_key=rotated["api_key"])
    changes = _changes(kind, data)
    switch = KINDS[kind].switch
    enabled = data.get(switch) == "on"

    def run() -> None:
        if changes:
            update_entry(hub, session.system, kind, key, changes, reason=reason)
        set_enabled(hub, session.system, kind, key, enabled, reason=reason)

    await anyio.to_thread.run_sync(run)
    target = f"{PREFIX}/registry?kind={kind}&saved={quote(key, safe='')}"
    return RedirectResponse(target, status_code=303, headers=HEADERS)
