"""The FastAPI application shell every service uses: lifespan (migrations; in-process consumers/relay when
asked), health routes, API-key scopes, and error bodies with a machine-readable `reason` — never a bare 500."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.health import database_check, health_router, kafka_check
from servicekit.metrics import install_metrics
from servicekit.runtime import ServiceRuntime, run_consumers_until_stopped, run_relay_until_stopped
from servicekit.tracing import TraceMiddleware, configure_tracing

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error answer with a machine-readable reason: `{"reason": ..., "message": ..., **extra}`."""

    def __init__(self, status_code: int, reason: str, message: str, **extra: Any) -> None:
        super().__init__(status_code, detail={"reason": reason, "message": message, **extra})


def create_service_app(
    runtime: ServiceRuntime[Any],
    *,
    title: str,
    routers: Sequence[APIRouter],
    embedded_workers: bool = False,
    check_broker: bool = True,
) -> FastAPI:
    """`embedded_workers` runs the consumers and the outbox relay inside the API process (tests, demos)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.migrate()
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        if embedded_workers:
            tasks.append(asyncio.create_task(run_relay_until_stopped(runtime, stop)))
            if runtime.consumers:
                tasks.append(asyncio.create_task(run_consumers_until_stopped(runtime, stop)))
        try:
            yield
        finally:
            stop.set()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await runtime.dispose()

    # FastAPI's native OpenTelemetry instrumentation switches itself on once a tracer provider exists (the
    # kit installs one): it would trace and meter every request a second time beside TraceMiddleware and
    # HttpLatencyMiddleware (see docs/PERFORMANCE.md, read API).
    app = FastAPI(title=title, lifespan=lifespan, telemetry={"tracing": False, "metrics": False, "logs": False})
    checks = {"database": database_check(runtime.engine)}
    if check_broker:
        checks["kafka"] = kafka_check(runtime.settings.kafka_bootstrap_servers)
    app.include_router(health_router(checks))
    for router in routers:
        app.include_router(router)
    install_error_handlers(app)
    # `/metrics` is an infrastructure route like health: scraped inside the cluster, never routed by the Ingress.
    install_metrics(app, runtime)
    configure_tracing(runtime.settings.service_name)
    app.add_middleware(TraceMiddleware)
    return app


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        raw: object = exc.detail
        detail = raw if isinstance(raw, dict) else {"reason": _reason_for(exc.status_code),
                                                                   "message": str(exc.detail)}
        return JSONResponse(detail, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        return JSONResponse(
            {"reason": "invalid_request", "message": f"{'.'.join(first['loc'])}: {first['msg']}", "errors": errors},
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        status = 503 if _is_unavailable(exc) else 500
        reason = "dependency_unavailable" if status == 503 else "internal_error"
        return JSONResponse({"reason": reason, "message": "The request could not be completed; nothing was changed."},
                            status_code=status)


def _is_unavailable(exc: Exception) -> bool:
    from servicekit.errors import is_transient

    return is_transient(exc)


def _reason_for(status_code: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            409: "conflict", 422: "invalid_request", 429: "rate_limited"}.get(status_code, "error")
