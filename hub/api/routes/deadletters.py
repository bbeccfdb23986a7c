"""Dead letters for admins: list, replay, discard with a reason (all audited)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from hub import deadletters
from hub.api.deps import AdminDep, HubDep

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)


class OptionalReason(BaseModel):
    reason: str | None = Field(None, max_length=1000)


@router.get("")
def list_dead_letters(hub: HubDep, admin: AdminDep, connector: str | None = None,
                      cursor: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    with hub.reader.connect() as conn:
        rows = deadletters.list_dead(conn, limit + 1, cursor, connector)
    items = rows[:limit]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}


@router.post("/{delivery_id}/replay")
def replay(delivery_id: str, hub: HubDep, admin: AdminDep,
           body: OptionalReason | None = None) -> dict[str, str]:
    deadletters.replay(hub, delivery_id, admin.system, body.reason if body else None)
    return {"id": delivery_id, "status": "queued"}


@router.post("/{delivery_id}/discard")
def discard(delivery_id: str, body: Reason, hub: HubDep, admin: AdminDep) -> dict[str, str]:
    deadletters.discard(hub, delivery_id, admin.system, body.reason)
    return {"id": delivery_id, "status": "discarded"}
