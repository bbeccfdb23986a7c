"""The FastAPI application: routers assembled, every error answered as
``{"code", "message", "details"}`` and never as a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub import __version__
from hub.api.routes import deadletters, health, messages, registry, services
from hub.context import Hub
from hub.errors import HubError

log = logging.getLogger(__name__)


def create_app(hub: Hub) -> FastAPI:
    app = FastAPI(title="LGSP Hub", version=__version__,
                  description="Provincial data-sharing integration bus")
    app.state.hub = hub
    for module in (health, messages, services, deadletters, registry):
        app.include_router(module.router)

    @app.exception_handler(HubError)
    async def hub_error(_: Request, exc: HubError) -> JSONResponse:
        return JSONResponse(jsonable_encoder(exc.as_dict()), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse({"code": codes.get(exc.status_code, f"http_{exc.status_code}"),
                             "message": str(exc.detail), "details": {}},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"path": "/" + "/".join(str(p) for p in e["loc"]), "message": e["msg"]}
                  for e in exc.errors()]
        return JSONResponse({"code": "invalid_request", "message": "the request is not valid",
                             "details": {"errors": errors}}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"code": "internal_error", "message": "internal error; see the hub's"
                             " log", "details": {}}, status_code=500)

    return app
