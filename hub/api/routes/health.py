"""Liveness and readiness probes for a load balancer or an orchestrator.

``/readyz`` is 200 when every check in ``CHECKS`` passes, else 503 naming each that did not.
``details`` carries what informs an operator without deciding readiness: the outages this
process has met lately (``hub.outage``: what, since when, how many failures, seen by whom) and
whatever else is listed in ``DETAILS`` — the place for other components' state (circuits, say):
add a name and a function of the hub that returns something JSON-serialisable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hub.api.deps import HubDep
from hub.context import Hub
from hub.errors import HubError
from hub.outage import outages

__all__ = ["CHECKS", "DETAILS", "router"]

router = APIRouter(tags=["health"])


def _store(hub: Hub) -> None:
    with hub.reader.connect() as conn:
        conn.execute(text("SELECT 1"))


def _broker(hub: Hub) -> None:
    hub.broker.ping()


# Each raises when its dependency cannot serve; any failure makes the process not ready.
CHECKS: tuple[tuple[str, Callable[[Hub], None]], ...] = (("store", _store), ("broker", _broker))
# Informational sections of ``details``; a failing one is reported there, readiness unchanged.
DETAILS: tuple[tuple[str, Callable[[Hub], Any]], ...] = (
    ("outages", lambda _hub: outages.current()),
    # A partner that fails does not make the hub unready: its circuit is shown, not judged.
    (
        "circuits",
        lambda hub: {
            name: circuit
            for name, circuit in hub.circuits.all().items()
            if circuit["state"] != "closed"
        },
    ),
)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(hub: HubDep) -> JSONResponse:
    """The store and the broker are reachable: 200, else 503 naming what is not."""
    checks = {name: _run(check, hub) for name, check in CHECKS}
    details: dict[str, Any] = {}
    for name, section in DETAILS:
        try:
            details[name] = section(hub)
        except Exception as exc:  # informational: never turns a ready hub into a 500
            details[name] = {"error": _why(exc)}
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        jsonable_encoder(
            {"status": "ready" if ready else "not_ready", "checks": checks, "details": details}
        ),
        status_code=200 if ready else 503,
    )


def _run(check: Callable[[Hub], None], hub: Hub) -> str:
    try:
        check(hub)
    except Exception as exc:  # any failure means not ready; what it was is in the answer
        return f"unreachable: {_why(exc)}"
    return "ok"


def _why(exc: Exception) -> str:
    return exc.message if isinstance(exc, HubError) else type(exc).__name__
