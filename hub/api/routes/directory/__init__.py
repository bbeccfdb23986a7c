"""The agency directory (``hub.directory``): search, one agency with everything around it, its
history, the tree of an era, resolving a code as documents carry it — for any authenticated
caller (``reads``); importing a list, merging, closing, reopening and aliases — for admins,
audited with ``reason`` (``changes``); which agencies a system speaks for, the registry's
(``grants``: ``/v1/systems/{code}/agencies``).
"""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.routes.directory import changes, grants, reads

__all__ = ["router"]

router = APIRouter()
for _module in (reads, changes, grants):
    router.include_router(_module.router)
