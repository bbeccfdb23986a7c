"""Denials (refused requests, identical ones folded with a count) and the audit log (registry
changes, dead-letter operations, console logins), each searchable and paged by cursor. Both
are written masked and shown masked (``hub.trace``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from hub import trace
from hub.admin.i18n import parse_local
from hub.admin.web import PREFIX, OperatorDep, render
from hub.context import Hub
from hub.errors import SchemaViolation

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 100


def _window(request: Request):
    try:
        return (
            parse_local(request.query_params.get("since")),
            parse_local(request.query_params.get("until")),
        )
    except ValueError:
        raise SchemaViolation(
            "a time is not valid", errors=[{"path": "/since", "message": "not a time"}]
        ) from None


def _cursor(request: Request) -> str | None:
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and not (cursor.isdigit() and len(cursor) <= 18):
        raise SchemaViolation("bad cursor", errors=[{"path": "/cursor", "message": "not valid"}])
    return cursor


async def _listing(
    request: Request,
    template: str,
    names: tuple[str, ...],
    read: Callable[[Connection, str | None, dict[str, Any]], dict[str, Any]],
) -> Response:
    """One searchable page: the form's fields (``names``, and the time window) read as
    filters, a page of ``read``'s rows after the cursor."""
    hub: Hub = request.app.state.hub
    query = {n: request.query_params.get(n, "").strip() for n in names}
    since, until = _window(request)
    given = {n: v or None for n, v in query.items()} | {"since": since, "until": until}
    cursor = _cursor(request)

    def run() -> dict[str, Any]:
        with hub.reader.connect() as conn:
            return read(conn, cursor, given)

    page = await anyio.to_thread.run_sync(run)
    query |= {n: request.query_params.get(n, "") for n in ("since", "until")}
    more = {k: v for k, v in query.items() if v}
    return render(request, template, page=page, query=query, more=more)


@router.get("/denials")
async def denials(request: Request, _: OperatorDep) -> Response:
    return await _listing(
        request,
        "denials.html",
        ("system", "service"),
        lambda conn, cursor, f: trace.denials(conn, cursor, PAGE, trace.DenialFilters(**f)),
    )


@router.get("/audit")
async def audit_log(request: Request, _: OperatorDep) -> Response:
    return await _listing(
        request,
        "audit.html",
        ("actor", "action", "target"),
        lambda conn, cursor, f: trace.audit_log(conn, cursor, PAGE, trace.AuditFilters(**f)),
    )
