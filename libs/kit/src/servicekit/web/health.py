"""`/health/live` (the process answers) and `/health/ready` (what it needs to serve answers) of a service API;
the checks and their verdict are `servicekit.process.readiness`."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from servicekit.process.readiness import ReadinessCheck, readiness


def health_router(checks: Mapping[str, ReadinessCheck], *, timeout_s: float = 3.0,
                  informational: Collection[str] = ()) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        status_code, body = await readiness(checks, timeout_s=timeout_s, informational=informational)
        return JSONResponse(body, status_code=status_code)

    return router
