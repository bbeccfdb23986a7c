"""Liveness and readiness probes for a load balancer or an orchestrator."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from hub.api.deps import HubDep
from hub.errors import BrokerError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(hub: HubDep) -> JSONResponse:
    """The store and the broker are reachable: 200, else 503 naming what is not."""
    checks: dict[str, str] = {}
    try:
        with hub.reader.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["store"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["store"] = f"unreachable: {type(exc).__name__}"
    try:
        hub.broker.ping()
        checks["broker"] = "ok"
    except BrokerError as exc:
        checks["broker"] = f"unreachable: {exc.message}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503)
