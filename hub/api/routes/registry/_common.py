"""What the registry's route modules share: their router, the errors a registration can
answer with, listing, and the lifecycle routes every kind of entry has — show, update,
disable, enable, delete — made once here from the kind's path and models."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from hub import registry
from hub.api.deps import AdminDep, HubDep
from hub.api.models import KEY_SCHEMES, errors, json_body, request_body
from hub.context import Hub
from hub.model import Caller

__all__ = ["REGISTER_ERRORS", "ReasonQuery", "lifecycle_routes", "listed", "registry_router"]

REGISTER_ERRORS = errors(
    401,
    403,
    413,
    503,
    notes={
        409: "`conflict`: already registered (`details.key` names it)",
        422: "`invalid_request` (a field of the body), `schema_violation` (a code, a mode, a "
        "condition …) or `unknown_reference` (names something not registered); "
        "`details.errors[*].path` names the field",
    },
)

ReasonQuery = Annotated[
    str | None, Query(max_length=500, description="Why (kept in the audit log with who)")
]


DISABLING = (
    "A disabled agency's systems and a deactivated system are refused at the door; a "
    "disabled service or access rule refuses submissions; a disabled route takes no new "
    "messages and what it queued waits; a disabled connector's queue waits (nothing queued "
    "is lost) and synchronous calls to it get 503 `upstream_paused`."
)


def registry_router() -> APIRouter:
    return APIRouter(prefix="/v1", tags=["registry"], dependencies=KEY_SCHEMES)


def listed(hub: Hub, kind: str) -> list[dict[str, Any]]:
    with hub.reader.connect() as conn:
        return registry.list_all(conn, kind)


def _endpoint(
    keys: tuple[str, ...], act: Callable[..., Any], body: type[BaseModel] | None = None
) -> Callable[..., Any]:
    """A route function taking the path parameters ``keys`` (joined with ``/`` into the
    entry's key), ``reason``, the hub and the admin (and ``body``), for FastAPI to read."""
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter(k, kw, annotation=Annotated[str, Path()]) for k in keys]
    params += [
        inspect.Parameter("hub", kw, annotation=HubDep),
        inspect.Parameter("admin", kw, annotation=AdminDep),
        inspect.Parameter("reason", kw, annotation=ReasonQuery, default=None),
    ]
    if body is not None:
        params.append(inspect.Parameter("body", kw, annotation=json_body(body)))

    def endpoint(**given: Any) -> Any:
        key = "/".join(given[k] for k in keys)
        extra = {"body": given["body"]} if body is not None else {}
        return act(given["hub"], given["admin"], key, given["reason"], **extra)

    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return endpoint


def lifecycle_routes(
    router: APIRouter,
    kind: str,
    path: str,
    model: type[BaseModel],
    patch: type[BaseModel] | None = None,
    shown: Callable[[Hub, dict[str, Any]], dict[str, Any]] = lambda _hub, row: row,
) -> None:
    """``GET``, ``PATCH`` (when there is a ``patch`` model), ``POST …/disable``,
    ``POST …/enable`` and ``DELETE`` on ``path`` (e.g. ``/agencies/{code}``), for registry
    ``kind``. ``shown`` completes a row for ``model`` (a connector's circuit)."""
    keys = tuple(part[1:-1] for part in path.split("/") if part.startswith("{"))
    label = registry.KINDS[kind].label
    missing = {
        404: f"`not_found`: no such {label}",
        422: "`invalid_request`: a parameter (`reason` over 500 characters)",
    }

    def show(hub: Hub, admin: Caller, key: str, reason: str | None) -> dict[str, Any]:
        with hub.reader.connect() as conn:
            return shown(hub, registry.get(conn, kind, key))

    router.add_api_route(
        path,
        _endpoint(keys, show),
        methods=["GET"],
        response_model=model,
        responses=errors(401, 403, 503, notes=missing),
        summary=f"Show one {label}",
    )
    if patch is not None:

        def change(
            hub: Hub, admin: Caller, key: str, reason: str | None, body: BaseModel
        ) -> dict[str, Any]:
            changes = body.model_dump(exclude_unset=True)
            registry.update_entry(hub, admin.system, kind, key, changes, reason=reason)
            return show(hub, admin, key, reason)

        router.add_api_route(
            path,
            _endpoint(keys, change, patch),
            methods=["PATCH"],
            response_model=model,
            responses=errors(
                401,
                403,
                413,
                503,
                notes={
                    **missing,
                    409: "`conflict`: would leave no admin able to act",
                    422: REGISTER_ERRORS[422]["description"],
                },
            ),
            openapi_extra=request_body(patch),
            summary=f"Change some fields of a {label} (those absent stay as they are)",
        )
    for enabled, verb in ((False, "disable"), (True, "enable")):

        def switch(
            hub: Hub, admin: Caller, key: str, reason: str | None, enabled: bool = enabled
        ) -> dict[str, Any]:
            registry.set_enabled(hub, admin.system, kind, key, enabled, reason=reason)
            return show(hub, admin, key, reason)

        router.add_api_route(
            f"{path}/{verb}",
            _endpoint(keys, switch),
            methods=["POST"],
            response_model=model,
            responses=errors(
                401, 403, 503, notes={**missing, 409: "`conflict`: the only admin able to act"}
            ),
            summary=f"{verb.capitalize()} a {label}",
            description=f"Audited with `reason`. {DISABLING}" if not enabled else None,
        )

    def remove(hub: Hub, admin: Caller, key: str, reason: str | None) -> Response:
        registry.delete_entry(hub, admin.system, kind, key, reason=reason)
        return Response(status_code=204)

    router.add_api_route(
        path,
        _endpoint(keys, remove),
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=errors(
            401,
            403,
            503,
            notes={
                **missing,
                409: "`conflict`: still referenced; `details.references` names by what",
            },
        ),
        summary=f"Delete a {label} nothing refers to any more",
    )
