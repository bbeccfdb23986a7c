"""Prometheus exposition at ``/metrics``: what ``hub.metrics`` keeps in memory, so a scrape
reads no store.

A Prometheus scraper usually carries no API key. By default the metrics still need the admin
key (``Authorization: Bearer …`` or ``X-API-Key``, which Prometheus sends from its
``authorization`` or ``http_headers`` settings): they name the partners and how they fare.
``LGSP_METRICS_PUBLIC=true`` serves them to anyone who reaches the port — for a hub whose port
only the internal network can reach.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from hub.api.deps import HubDep, get_admin, get_caller

__all__ = ["router"]

router = APIRouter()


async def scraper(request: Request, hub: HubDep) -> None:
    """Let the scrape through if the metrics are public, else only with an admin key (a
    refusal answered and recorded like any other)."""
    if hub.settings.metrics_public:
        return
    await get_admin(request, hub, await get_caller(request, hub))


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(scraper)])
async def metrics(hub: HubDep) -> Response:
    """In memory and quick: served on the event loop, no worker thread."""
    body, content_type = hub.metrics.render()
    return Response(body, media_type=content_type)
