"""Request dependencies: the hub, the authenticated caller, the admin role, and the body as a
payload handle. Authentication is the first dependency of every protected route, so a caller
without a valid key is refused (and the refusal recorded) before the body is read. The
dependencies are coroutines: a sync one would cost every request a hop to a worker thread."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import Depends, Request

from hub import access
from hub.context import Hub
from hub.errors import PayloadTooLarge
from hub.model import Caller
from hub.payload import Payload

__all__ = [
    "AdminDep",
    "CallerDep",
    "DocumentDep",
    "HubDep",
    "PayloadDep",
    "get_admin",
    "get_caller",
]

SPOOL_CHUNK = 1024 * 1024  # a spooled body is written in pieces of about this size


async def get_hub(request: Request) -> Hub:
    return request.app.state.hub


HubDep = Annotated[Hub, Depends(get_hub)]


def _action(request: Request) -> str:
    return f"{request.method} {request.url.path}"


def _addr(request: Request) -> str | None:
    return request.client.host if request.client else None


async def get_caller(request: Request, hub: HubDep) -> Caller:
    """On the event loop when the key's system is in the registry cache (a refusal is only
    buffered), so the common request pays no hop to a worker thread; a cache miss reads the
    store on a worker thread, so a slow store never stalls the loop."""
    key = access.presented_key(request.headers)
    args = (hub.registry, hub.denials, key, _action(request), _addr(request))
    if access.needs_store(hub.registry, key):
        return await anyio.to_thread.run_sync(access.authenticate, *args)
    return access.authenticate(*args)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_admin(request: Request, hub: HubDep, caller: CallerDep) -> Caller:
    access.require_admin(hub.denials, caller, _action(request), _addr(request))
    return caller


AdminDep = Annotated[Caller, Depends(get_admin)]


async def receive_payload(request: Request, hub: HubDep) -> Payload:
    """The request body as a payload: in memory up to the blob threshold, beyond it spooled to
    the blob store as it arrives, hashed once, never whole in memory. Refused with 413 as soon
    as it passes the limit (declared or not); a refused or broken body leaves no blob behind."""
    return await _receive(request, hub, hub.settings.max_body_bytes)


async def receive_document(request: Request, hub: HubDep) -> Payload:
    """``receive_payload`` for an edXML document, whose attachments may be far larger than
    other payloads (``LGSP_EDOC_MAX_BODY_BYTES``)."""
    return await _receive(request, hub, hub.settings.edoc_max_body_bytes)


async def _receive(request: Request, hub: Hub, limit: int) -> Payload:
    threshold = hub.settings.blob_threshold_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
    content_type = request.headers.get("content-type", "application/octet-stream")
    chunks: list[bytes] = []
    size = buffered = 0
    writer = None
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds {limit} bytes", limit=limit)
            chunks.append(chunk)
            buffered += len(chunk)
            if writer is None and size > threshold:
                writer = hub.blobs.writer()
            if writer is not None and buffered >= SPOOL_CHUNK:
                await anyio.to_thread.run_sync(writer.write, b"".join(chunks))
                chunks, buffered = [], 0
        if writer is None:
            return Payload.of(b"".join(chunks), content_type)
        if chunks:
            await anyio.to_thread.run_sync(writer.write, b"".join(chunks))
        ref, size, sha256 = await anyio.to_thread.run_sync(writer.commit)
        return hub.blobs.payload(ref, size, sha256, content_type)
    finally:
        if writer is not None and writer.result is None:
            writer.abort()


PayloadDep = Annotated[Payload, Depends(receive_payload)]
DocumentDep = Annotated[Payload, Depends(receive_document)]
