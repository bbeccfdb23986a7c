"""What every console page shares: the templates, the logged-in admin as a dependency, the
CSRF check of a posted form, the language, and the answer headers that keep a page out of
caches and frames. Pages are rendered on the server and work without script; the console's
one small script (``static/console.js``) only refreshes the overview and shows the progress
of a replay of many dead letters. Nothing is loaded from outside the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.admin import i18n, sessions
from hub.context import Hub
from hub.errors import HubError, MalformedInput, PayloadTooLarge, Unauthenticated

__all__ = [
    "PREFIX",
    "LoginRequired",
    "OperatorDep",
    "answer_error",
    "form",
    "language",
    "page",
    "render",
]

PREFIX = "/admin"
HERE = Path(__file__).resolve().parent
MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 300
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["local"] = i18n.local_time
templates.filters["duration"] = i18n.duration
templates.filters["cell"] = i18n.cell


class LoginRequired(Exception):
    """No live session: a page sends the browser to the login form, an action is refused."""

    def __init__(self, request: Request) -> None:
        super().__init__("log in to the console first")
        self.request = request


def language(request: Request) -> str:
    chosen = request.cookies.get("lgsp_lang")
    hub: Hub = request.app.state.hub
    return chosen if chosen in i18n.LANGUAGES else hub.settings.console_language


def addr(request: Request) -> str | None:
    return request.client.host if request.client else None


async def operator(request: Request) -> sessions.Session:
    hub: Hub = request.app.state.hub
    token = request.cookies.get(sessions.COOKIE)
    try:
        session = sessions.current(hub, token)
    except Unauthenticated:
        if request.method != "GET":
            reason = "console: no session" if not token else "console: session ended"
            hub.denials.add(
                None, None, f"{request.method} {request.url.path}", reason, addr(request)
            )
        raise LoginRequired(request) from None
    request.state.session = session
    return session


OperatorDep = Annotated[sessions.Session, Depends(operator)]


async def form(request: Request, session: sessions.Session | None = None) -> FormData:
    """The posted form (at most 64 KiB of fields, no files), its CSRF token checked when
    there is a session."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
        raise PayloadTooLarge(
            f"a console form declares its length and is at most {MAX_FORM_BYTES} bytes"
        )
    try:
        data = await request.form(max_files=0, max_fields=MAX_FIELDS)
    except StarletteHTTPException as exc:  # a file, too many fields, a broken body
        raise MalformedInput(f"the form is not valid: {exc.detail}") from None
    if any(not isinstance(v, str) for v in data.values()):
        raise MalformedInput("the form is not valid: a console form carries no files")
    if session is not None:
        presented = request.headers.get("x-csrf-token") or str(data.get("csrf") or "")
        action = f"{request.method} {request.url.path}"
        sessions.check_csrf(request.app.state.hub, session, presented, action, addr(request))
    return data


def page(template: str, lang: str, **context: Any) -> str:
    """A page's HTML in ``lang``."""
    return templates.get_template(template).render(
        t=lambda key: i18n.translate(key, lang), lang=lang, prefix=PREFIX, **context
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    html = page(
        template,
        language(request),
        session=getattr(request.state, "session", None),
        request=request,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


def wants_html(request: Request) -> bool:
    return request.url.path.startswith(PREFIX) and "text/html" in request.headers.get("accept", "")


def answer_error(request: Request, exc: HubError) -> Response:
    """A refusal on a console page, as a page for a browser and as JSON for the script."""
    if not wants_html(request):
        body = jsonable_encoder(exc.as_dict())
        return JSONResponse(body, status_code=exc.status, headers=HEADERS)
    return render(request, "error.html", status_code=exc.status, error=exc)


def answer_login_required(exc: LoginRequired) -> Response:
    request = exc.request
    if request.method == "GET":
        target = f"{PREFIX}/login?next={quote(request.url.path, safe='/')}"
        return RedirectResponse(target, status_code=303, headers=HEADERS)
    return answer_error(request, Unauthenticated("log in to the console first"))
