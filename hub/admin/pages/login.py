"""Log in, log out, choose the language. The login form has a CSRF token of its own (a
cookie and a hidden field that must match), so another site cannot log the admin's browser
into a session of its choosing."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from hub.admin import i18n, sessions
from hub.admin.web import HEADERS, PREFIX, OperatorDep, addr, form, render
from hub.errors import Forbidden, HubError

__all__ = ["router"]

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LOGIN_COOKIE = "lgsp_login"


def _next(target: str | None) -> str:
    """Only a page of the console: a login link must not send the admin elsewhere."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"


def _cookie_args(request: Request, path: str = PREFIX) -> dict:
    return {
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": path,
    }


def _login_form(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        login_csrf=token,
        next=_next(request.query_params.get("next")),
        error=error,
    )
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, **_cookie_args(request))
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login")
async def login(request: Request) -> Response:
    data = await form(request)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    presented = data.get("login_csrf", "")
    hub = request.app.state.hub
    if not cookie or not hmac.compare_digest(cookie.encode(), presented.encode()):
        hub.denials.add(None, None, "console login", "console: login form CSRF", addr(request))
        raise Forbidden("the login form is stale; reload the page and retry")
    try:
        token, session = sessions.start(hub, data.get("api_key", "").strip(), addr(request))
    except HubError as exc:
        return _login_form(request, exc.status, exc.message)
    response = RedirectResponse(_next(data.get("next")), status_code=303, headers=HEADERS)
    response.set_cookie(sessions.COOKIE, token, **_cookie_args(request))
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request, session: OperatorDep) -> Response:
    await form(request, session)
    sessions.end(request.app.state.hub, session)
    response = RedirectResponse(PREFIX + "/login", status_code=303, headers=HEADERS)
    response.delete_cookie(sessions.COOKIE, path=PREFIX)
    return response


@router.get("/language/{lang}")
async def choose_language(request: Request, lang: str) -> Response:
    response = RedirectResponse(
        _next(request.query_params.get("next")), status_code=303, headers=HEADERS
    )
    if lang in i18n.LANGUAGES:
        response.set_cookie("lgsp_lang", lang, max_age=365 * 86400, **_cookie_args(request))
    return response
