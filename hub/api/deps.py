"""Request dependencies: the hub, the authenticated caller, the admin role, a size-capped body.
Every refusal here is recorded as a denial before the 401/403 goes out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hub.context import Hub
from hub.errors import Forbidden, PayloadTooLarge, Unauthenticated
from hub.pipeline import Caller, deny
from hub.security import key_matches, split_key


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


def _presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def get_caller(request: Request, hub: HubDep) -> Caller:
    key = _presented_key(request)
    addr = request.client.host if request.client else None
    action = f"{request.method} {request.url.path}"
    if not key:
        deny(hub, None, None, action, "no API key", addr)
        raise Unauthenticated("an API key is required (Authorization: Bearer … or X-API-Key)")
    prefix = split_key(key)
    row = hub.registry.system_by_key_prefix(prefix) if prefix else None
    if row is None or not row["active"] or not key_matches(key, row["key_hash"]):
        deny(hub, None, None, action, "unknown or revoked API key", addr)
        raise Unauthenticated("the API key is not valid")
    return Caller(system=row["code"], agency=row["agency_code"], role=row["role"])


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_admin(request: Request, hub: HubDep, caller: CallerDep) -> Caller:
    if not caller.is_admin:
        deny(hub, caller, None, f"{request.method} {request.url.path}", "admin role required",
             request.client.host if request.client else None)
        raise Forbidden("this action needs the admin role")
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit (declared or not)."""
    limit = request.app.state.hub.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


BodyDep = Annotated[bytes, Depends(read_body)]
