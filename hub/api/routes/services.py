"""Synchronous services: the caller waits for the partner's answer (bounded by a timeout)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from hub.api.deps import CallerDep, HubDep, PayloadDep
from hub.api.models import KEY_SCHEMES, PAYLOAD_BODY, errors
from hub.api.routes.messages import submission_from
from hub.calls import call

__all__ = ["router"]

router = APIRouter(prefix="/v1/services", tags=["services"], dependencies=KEY_SCHEMES)

ANSWER = {
    "description": "The partner's answer as it sent it; `X-LGSP-Message-Id` names the "
    "message that traces the call",
    "content": {
        "application/json": {"schema": {}},
        "application/xml": {"schema": {"type": "string"}},
    },
    "headers": {
        "X-LGSP-Message-Id": {"schema": {"type": "string"}},
        "X-LGSP-Remote-Status": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/{service}/call",
    summary="Call a synchronous service and get its answer",
    response_class=Response,
    openapi_extra=PAYLOAD_BODY,
    responses={
        200: ANSWER,
        **errors(
            400,
            401,
            403,
            413,
            415,
            502,
            504,
            notes={
                404: "`not_found`: no such service",
                409: "`conflict`: the call would go to more than one recipient",
                422: "`invalid_request`, `schema_violation` (`details.errors[*].path` names "
                "the field), `no_route` or `local_failure` (the hub could not prepare "
                "the request for the partner)",
                503: "`store_unavailable` or `broker_unavailable`, or `upstream_failed` "
                "while calls to a failing partner are paused; try again after "
                "`Retry-After` seconds",
            },
        ),
    },
)
def call_service(
    service: str,
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    body: PayloadDep,
    recipient: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies it
) -> Response:
    answer = call(hub, caller, submission_from(request, body, service, recipient))
    return Response(
        answer.body,
        media_type=answer.content_type,
        headers={
            "X-LGSP-Message-Id": answer.message_id,
            "X-LGSP-Remote-Status": answer.remote_status or "",
        },
    )
