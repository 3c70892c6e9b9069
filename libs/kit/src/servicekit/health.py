"""`/health/live` (the process answers) and `/health/ready` (its database and broker answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ReadinessCheck = Callable[[], Awaitable[None]]


def database_check(engine: AsyncEngine) -> ReadinessCheck:
    async def check() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return check


def kafka_check(bootstrap_servers: str) -> ReadinessCheck:
    async def check() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=3000)
        await admin.start()
        try:
            await admin.list_topics()
        finally:
            await admin.close()

    return check


async def readiness(checks: Mapping[str, ReadinessCheck], *, timeout_s: float = 3.0) -> tuple[int, dict[str, Any]]:
    """(status code, body) of `/health/ready`: every check at once, each within `timeout_s`; 503 if any fails."""

    async def outcome(check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), timeout_s)
        except Exception as exc:  # readiness reports, it does not raise
            return f"error: {type(exc).__name__}"
        return "ok"

    names = list(checks)
    results = dict(zip(names, await asyncio.gather(*(outcome(checks[name]) for name in names)), strict=True))
    ok = all(result == "ok" for result in results.values())
    return (200 if ok else 503), {"status": "ok" if ok else "unavailable", "checks": results}


def health_router(checks: Mapping[str, ReadinessCheck], *, timeout_s: float = 3.0) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        status_code, body = await readiness(checks, timeout_s=timeout_s)
        return JSONResponse(body, status_code=status_code)

    return router
