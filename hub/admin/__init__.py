"""The admin console, served by the hub at ``/admin/``: overview, message search and trace,
dead letters, the registry, denials and the audit log — in Vietnamese and English, rendered
on the server, working without internet (every asset is the hub's own)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from hub.admin.pages import deadletters, home, login, logs, messages, registry
from hub.admin.web import HERE, PREFIX, LoginRequired, answer_error, answer_login_required

__all__ = ["PREFIX", "answer_error", "install"]


def install(app: FastAPI) -> None:
    app.mount(PREFIX + "/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for module in (login, home, messages, deadletters, registry, logs):
        app.include_router(module.router)
    app.include_router(home.root)

    @app.exception_handler(LoginRequired)
    async def login_required(_: Request, exc: LoginRequired):
        return answer_login_required(exc)
