"""Synchronous services: the caller waits for the partner's answer (bounded by a timeout)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from hub.api.deps import BodyDep, CallerDep, HubDep
from hub.api.routes.messages import submission_from
from hub.lookup import call

router = APIRouter(prefix="/v1/services", tags=["services"])


@router.post("/{service}/call", summary="Call a synchronous service and get its answer")
def call_service(service: str, request: Request, hub: HubDep, caller: CallerDep, body: BodyDep,
                 recipient: Annotated[list[str], Query()] = []) -> Response:  # noqa: B006
    answer = call(hub, caller, submission_from(request, body, service, recipient))
    return Response(answer.body, media_type=answer.content_type,
                    headers={"X-LGSP-Message-Id": answer.message_id,
                             "X-LGSP-Remote-Status": answer.remote_status or ""})
