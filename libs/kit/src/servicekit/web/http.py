"""The FastAPI application shell every service uses: lifespan (migrations; in-process consumers/relay when
asked), health routes, API-key scopes, and error bodies with a machine-readable `reason` — never a bare 500."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from servicekit.process.readiness import ReadinessCheck, close_checks, database_check, kafka_check
from servicekit.process.runtime import ServiceRuntime, kit_loops, settle_heap
from servicekit.process.tracing import TraceMiddleware, configure_tracing, spans_recorded
from servicekit.web.auth import load_api_keys
from servicekit.web.health import health_router
from servicekit.web.metrics import install_metrics
from servicekit.web.rate_limit import RATE_LIMITED_RESPONSES, RateLimitMiddleware

log = logging.getLogger(__name__)


class ApiError(HTTPException):
    """An error answer with a machine-readable reason: `{"reason": ..., "message": ..., **extra}`."""

    def __init__(self, status_code: int, reason: str, message: str, **extra: Any) -> None:
        super().__init__(status_code, detail={"reason": reason, "message": message, **extra})


FastEndpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class FastRoute:
    """A hot GET route answered by a plain `async (Request) -> Response` function ahead of FastAPI's routing,
    dependency resolution and response-model validation (measured on GET /api/leads/{id}: ~100 µs of CPU per
    request, more than its database read). `route` — the FastAPI route it shadows — stays the declaration: OpenAPI,
    path template (the metrics label) and path parameters come from it. The endpoint must answer exactly as
    that route would; an `HTTPException` it raises is rendered by `http_error_response`, like the app's
    handler does, and any other exception reaches the app's error handler as usual."""

    route: APIRoute
    endpoint: FastEndpoint


class FastRouteMiddleware:
    """Pure ASGI: sends GET requests that fully match a `FastRoute` to its endpoint; everything else (other
    methods, other paths) goes to the app. Installed innermost, so tracing, latency metrics, the body limit
    and the server-error handler still wrap the fast endpoints."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[FastRoute]) -> None:
        self.app = app
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for fast in self.routes:
                match, child_scope = fast.route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)  # path_params, and `route` for HttpLatencyMiddleware's label
                    try:
                        response = await fast.endpoint(Request(scope, receive))
                    except StarletteHTTPException as exc:
                        response = http_error_response(exc)
                    except PoolTimeoutError:
                        response = pool_exhausted_response()
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_service_app(
    runtime: ServiceRuntime[Any],
    *,
    title: str,
    routers: Sequence[APIRouter],
    embedded_workers: bool = False,
    check_broker: bool = True,
    fast_routes: Sequence[FastRoute] = (),
) -> FastAPI:
    """`embedded_workers` runs the consumers, the service's own loops and the outbox relay inside the API process
    (tests, demos).
    `fast_routes` see `FastRoute`. `check_broker` reports the broker on /health/ready (never gating it)."""
    # Readiness gates on the database only: every write lands in the outbox in the same transaction, so the
    # API keeps accepting writes while the broker is away and the relay publishes them once it is back.
    # Taking every API out of its Service for a broker outage would turn that outage into a full one. The
    # broker's state is still reported ("degraded", and the readiness_check_up{check="kafka"} gauge).
    checks: dict[str, ReadinessCheck] = {"database": database_check(runtime.engine)}
    if check_broker:
        checks["kafka"] = kafka_check(runtime.settings.kafka_bootstrap_servers, runtime.settings.kafka_security)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.migrate()
        # An API process is as long-lived as a worker: full collections must not walk the ~150k objects of
        # the loaded framework while requests wait (a 0.2 s pause each on this machine) — see settle_heap.
        settle_heap(runtime.settings.gc_young_threshold)
        stop = asyncio.Event()
        # Embedded, the API runs what the consumers and relay processes run, the service's own loops included.
        loops = kit_loops(runtime, consumers=True, relay=True) if embedded_workers else {}
        if not runtime.consumers:
            loops.pop("consumers", None)
        tasks = [asyncio.create_task(loop(stop)) for loop in loops.values()]
        try:
            yield
        finally:
            stop.set()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            await close_checks(checks.values())
            await runtime.dispose()

    configure_tracing(runtime.settings.service_name)
    # FastAPI's native OpenTelemetry instrumentation switches itself on once a tracer provider exists (the
    # kit installs one). When spans are exported it makes the server spans (TraceMiddleware is then left out);
    # otherwise it would trace every request for nothing beside TraceMiddleware's cheap context-only hop. Its
    # metrics stay off: HttpLatencyMiddleware measures requests (see docs/PERFORMANCE.md, read API).
    exported = spans_recorded()
    app = FastAPI(title=title, lifespan=lifespan,
                  telemetry={"tracing": exported, "metrics": False, "logs": False, "operation_spans": False})
    app.include_router(health_router(checks, informational={"kafka"}))
    for router in routers:
        app.include_router(router, responses=RATE_LIMITED_RESPONSES)
    install_error_handlers(app)
    if fast_routes:  # innermost: added before the latency and trace middlewares, which wrap it
        app.add_middleware(FastRouteMiddleware, routes=fast_routes)
    # Outside the fast routes (so they are limited too), inside latency metrics and tracing (so a 429 is
    # measured and traced like any other answer).
    settings = runtime.settings
    app.add_middleware(RateLimitMiddleware, rate_per_s=settings.rate_limit_per_s, burst=settings.rate_limit_burst,
                       service=settings.service_name,
                       known_key_hashes=[k.sha256 for k in load_api_keys(settings.api_keys_json)])
    # `/metrics` is an infrastructure route like health: scraped inside the cluster, never routed by the Ingress.
    install_metrics(app, runtime)
    if not exported:
        app.add_middleware(TraceMiddleware)
    return app


def http_error_response(exc: StarletteHTTPException) -> JSONResponse:
    """The error body of an HTTPException: an ApiError's detail as is, else a `reason` from its status."""
    raw: object = exc.detail
    detail = raw if isinstance(raw, dict) else {"reason": _reason_for(exc.status_code), "message": str(exc.detail)}
    return JSONResponse(detail, status_code=exc.status_code, headers=getattr(exc, "headers", None))


POOL_RETRY_AFTER_S = 1


def pool_exhausted_response() -> JSONResponse:
    """Every database connection stayed busy for the pool timeout (`ServiceSettings.db_pool_timeout_s`):
    the service is overloaded, not broken — a 503 the client may retry shortly, instead of a request that
    hangs for 30 s and then fails with a 500."""
    return JSONResponse({"reason": "database_busy",
                         "message": "All database connections are busy; retry shortly. Nothing was changed."},
                        status_code=503, headers={"Retry-After": str(POOL_RETRY_AFTER_S)})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_error_response(exc)

    @app.exception_handler(PoolTimeoutError)
    async def pool_exhausted(_request: Request, _exc: PoolTimeoutError) -> JSONResponse:
        log.warning("database pool exhausted; answered 503")  # no traceback: an overload, not a bug
        return pool_exhausted_response()

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
        if isinstance(exc, PoolTimeoutError):  # raised outside the routes (a fast route, a middleware)
            return pool_exhausted_response()
        log.exception("unhandled error")
        status = 503 if _is_unavailable(exc) else 500
        reason = "dependency_unavailable" if status == 503 else "internal_error"
        return JSONResponse({"reason": reason, "message": "The request could not be completed; nothing was changed."},
                            status_code=status)


def _is_unavailable(exc: Exception) -> bool:
    from servicekit.process.errors import is_transient

    return is_transient(exc)


def _reason_for(status_code: int) -> str:
    return {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
            409: "conflict", 422: "invalid_request", 429: "rate_limited"}.get(status_code, "error")
