"""The overview: is traffic flowing, what fails, what waits, which partner is down. The page
refreshes its body every 15 seconds through ``/admin/overview`` (the same figures, as a
fragment) when script runs; without script the browser's reload does the same."""

from __future__ import annotations

from datetime import datetime

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hub.admin import charts, i18n
from hub.admin.overview import overview
from hub.admin.web import HEADERS, PREFIX, OperatorDep, language, render
from hub.context import Hub

__all__ = ["figures", "root", "router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
root = APIRouter(include_in_schema=False)


@root.get("/")
@root.get(PREFIX)
async def to_console() -> Response:
    return RedirectResponse(PREFIX + "/", status_code=303, headers=HEADERS)


def _minute(when: datetime) -> str:
    return when.astimezone(i18n.LOCAL).strftime("%H:%M")


def _hour(when: datetime) -> str:
    return when.astimezone(i18n.LOCAL).strftime("%Hh")


def figures(hub: Hub, language: str, now: datetime | None = None) -> dict:
    """The overview's figures and charts (``bench/console.py`` times this and the page)."""
    view = overview(hub, now)
    per_min = i18n.translate("per_minute", language)
    return {
        "view": view,
        "hour_chart": charts.bars(view.per_minute, _minute, f"{per_min} (60 min)"),
        "day_chart": charts.bars(view.per_hour, _hour, f"{per_min} (24 h)", scale=1 / 60),
        "groups": charts.GROUPS,
    }


async def _figures(request: Request) -> dict:
    return await anyio.to_thread.run_sync(figures, request.app.state.hub, language(request))


@router.get("/")
async def home(request: Request, _: OperatorDep) -> Response:
    return render(request, "overview.html", **await _figures(request))


@router.get("/overview")
async def overview_fragment(request: Request, _: OperatorDep) -> Response:
    return render(request, "_overview.html", **await _figures(request))
