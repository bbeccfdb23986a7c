"""Dead letters: the deliveries that failed for good, with their last error. Replay one or
many (the script posts them one at a time and shows the progress; without script the form
replays the selection in one request), or discard one with a reason. Each action goes
through ``hub.deadletters``, which writes the trace and the audit log in the same
transaction as the change."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from hub import deadletters, trace
from hub.admin.web import HEADERS, PREFIX, OperatorDep, form, render, wants_html
from hub.context import Hub
from hub.errors import HubError, SchemaViolation

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE = 100
MAX_SELECTED = PAGE


@router.get("/dead-letters")
async def listing(request: Request, _: OperatorDep) -> Response:
    hub: Hub = request.app.state.hub
    cursor = request.query_params.get("cursor") or None
    connector = request.query_params.get("connector") or None

    def run() -> dict[str, Any]:
        with hub.reader.connect() as conn:
            return trace.dead_letters(conn, cursor, PAGE, connector)

    page = await anyio.to_thread.run_sync(run)
    done = request.query_params.get("done")
    return render(request, "deadletters.html", page=page, connector=connector, done=done)


def _answer(request: Request, done: str, count: int, failures: list[dict[str, Any]]):
    if not wants_html(request):
        return JSONResponse({"done": done, "count": count, "failures": failures}, headers=HEADERS)
    if failures:
        return render(
            request,
            "deadletters.html",
            status_code=409,
            page={"items": [], "next_cursor": None},
            failures=failures,
            done=done,
        )
    return RedirectResponse(
        f"{PREFIX}/dead-letters?done={done}&count={count}", status_code=303, headers=HEADERS
    )


@router.post("/dead-letters/replay")
async def replay(request: Request, session: OperatorDep) -> Response:
    fields = await form(request, session)
    ids = [i for i in fields.getlist("delivery") if i][: MAX_SELECTED + 1]
    if not ids or len(ids) > MAX_SELECTED:
        raise SchemaViolation(
            f"choose between 1 and {MAX_SELECTED} dead letters",
            errors=[{"path": "/delivery", "message": "none or too many"}],
        )
    reason = (fields.get("reason") or "").strip()[:500] or None
    hub: Hub = request.app.state.hub
    failures = []
    for delivery_id in ids:
        try:
            await anyio.to_thread.run_sync(
                deadletters.replay, hub, delivery_id, session.system, reason
            )
        except HubError as exc:
            failures.append({"delivery": delivery_id, "error": exc.message})
    return _answer(request, "replayed", len(ids) - len(failures), failures)


@router.post("/dead-letters/{delivery_id}/discard")
async def discard(request: Request, delivery_id: str, session: OperatorDep) -> Response:
    fields = await form(request, session)
    reason = (fields.get("reason") or "").strip()[:500]
    hub: Hub = request.app.state.hub
    await anyio.to_thread.run_sync(deadletters.discard, hub, delivery_id, session.system, reason)
    return _answer(request, "discarded", 1, [])
