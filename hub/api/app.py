"""The FastAPI application: routers assembled, every error answered as
``{"code", "message", "details"}`` and never as a stack trace. An outage of the store or the
broker is 503 with ``Retry-After`` (the request changed nothing; try again), logged as one
rate-limited line (``hub.outage``); only a bug is a 500, logged with its traceback once."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import __version__, admin
from hub.api import docs, edge, tracing
from hub.api.routes import (
    audit,
    connector_checks,
    deadletters,
    directory,
    documents,
    health,
    messages,
    metrics,
    opdata,
    payments,
    qlvb_soap,
    registry,
    services,
)
from hub.context import Hub
from hub.errors import HubError, Unavailable
from hub.outage import as_unavailable, kind_of, outages

__all__ = ["LastResort", "create_app"]

log = logging.getLogger(__name__)


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(
        title="LGSP Hub",
        version=__version__,
        description="Provincial data-sharing integration bus",
        docs_url=None,
        redoc_url=None,
    )  # docs.install: served without a CDN
    app.state.hub = hub
    for module in (
        health,
        messages,
        services,
        payments,
        deadletters,
        registry,
        directory,
        documents,
        qlvb_soap,
        connector_checks,
        audit,
        opdata,
        metrics,
    ):
        app.include_router(module.router)
    docs.install(app)
    admin.install(app)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> Response:
        if request.url.path.startswith(admin.PREFIX):
            return admin.answer_error(request, exc)
        retry_after = getattr(exc, "retry_after_seconds", None)  # a partner's paused circuit
        return JSONResponse(
            jsonable_encoder(exc.as_dict()),
            status_code=exc.status,
            headers={"Retry-After": str(retry_after)} if retry_after else None,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse(
            {
                "code": codes.get(exc.status_code, f"http_{exc.status_code}"),
                "message": str(exc.detail),
                "details": {},
            },
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        return JSONResponse(
            {
                "code": "invalid_request",
                "message": "the request is not valid",
                "details": {"errors": errors},
            },
            status_code=422,
        )

    @app.exception_handler(Unavailable)
    async def unavailable(_: Request, exc: Unavailable) -> JSONResponse:
        return _unavailable(exc, exc)

    app.add_middleware(LastResort)
    app.add_middleware(tracing.TraceRequests)  # a request's log lines and answer carry its trace
    app.add_middleware(edge.RefuseControlCharacters)  # outermost: before anything reads

    return app


class LastResort:
    """Answers what no exception handler took: a driver error that means the store is down as
    503, anything else — a bug — as the structured 500 with one traceback in the log.

    Not an ``Exception`` handler: Starlette runs that in its outermost middleware, which
    re-raises after answering, so uvicorn logged each traceback a second time (through its
    own handler, unmasked) and a store outage cost two tracebacks per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # too late to answer: the server logs it and drops the connection
                raise
            outage = as_unavailable(exc)
            if outage is not None:
                response = _unavailable(outage, exc)
            else:
                log.exception("unhandled error on %s %s", scope["method"], scope["path"])
                response = JSONResponse(
                    {
                        "code": "internal_error",
                        "message": "internal error; see the hub's log",
                        "details": {},
                    },
                    status_code=500,
                )
            await response(scope, receive, send)


def _unavailable(answer: Unavailable, cause: BaseException) -> JSONResponse:
    """503 with ``Retry-After``; the outage is logged as one rate-limited line, no traceback:
    under load every request fails alike and a traceback each would flood the log."""
    outages.failed(kind_of(answer), "api", cause)
    return JSONResponse(
        jsonable_encoder(answer.as_dict()),
        status_code=answer.status,
        headers={"Retry-After": str(answer.retry_after_seconds)},
    )
