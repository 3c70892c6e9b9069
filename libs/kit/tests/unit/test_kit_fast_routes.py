"""FastRoute: a hot GET route answered ahead of FastAPI's routing, with the same answers and the same
surroundings (error bodies, latency label) as the FastAPI route it shadows."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.responses import Response

from servicekit.process.metrics import HTTP_LATENCY, REGISTRY
from servicekit.process.tracing import TraceMiddleware, configure_tracing, current_trace_id
from servicekit.web.http import ApiError, FastRoute, FastRouteMiddleware, install_error_handlers
from servicekit.web.metrics import HttpLatencyMiddleware


def _app(calls: list[str], *, fast: bool = True) -> FastAPI:
    router = APIRouter()

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str) -> Response:
        calls.append(f"fastapi:{thing_id}")
        return _answer(thing_id)

    @router.post("/things/{thing_id}")
    async def poke(thing_id: str) -> dict[str, str]:
        calls.append(f"post:{thing_id}")
        return {"poked": thing_id}

    @router.get("/busy")
    async def busy() -> dict[str, str]:
        raise PoolTimeoutError("QueuePool limit of size 1 overflow 0 reached")

    def _answer(thing_id: str) -> Response:
        if thing_id == "missing":
            raise ApiError(404, "thing_not_found", "No thing with that id.", thing=thing_id)
        if thing_id == "busy":
            raise PoolTimeoutError("QueuePool limit of size 1 overflow 0 reached")
        return JSONResponse({"id": thing_id})

    async def fast_thing(request: Request) -> Response:
        calls.append(f"fast:{request.path_params['thing_id']}")
        return _answer(request.path_params["thing_id"])

    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == "/things/{thing_id}"
                 and "GET" in (r.methods or ()))
    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    if fast:
        app.add_middleware(FastRouteMiddleware, routes=[FastRoute(route, fast_thing)])
    app.add_middleware(HttpLatencyMiddleware)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://kit")


def _observations(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value("http_request_duration_seconds_count",
                                      {"method": "GET", "route": route, "status": status})
    return value or 0.0


async def test_fast_route_answers_matching_gets_and_keeps_the_route_template_as_latency_label() -> None:
    assert HTTP_LATENCY is not None
    calls: list[str] = []
    before = _observations("/things/{thing_id}", "200")
    async with _client(_app(calls)) as client:
        r = await client.get("/things/abc")
    assert r.status_code == 200 and r.json() == {"id": "abc"}
    assert calls == ["fast:abc"]  # FastAPI's endpoint never ran
    assert _observations("/things/{thing_id}", "200") == before + 1


async def test_other_methods_and_paths_go_through_fastapi() -> None:
    calls: list[str] = []
    async with _client(_app(calls)) as client:
        posted = await client.post("/things/abc")
        unknown = await client.get("/things/abc/extra")
    assert posted.json() == {"poked": "abc"} and calls == ["post:abc"]
    assert unknown.status_code == 404 and unknown.json()["reason"] == "not_found"


async def test_fast_route_refusal_has_the_same_body_as_the_fastapi_route() -> None:
    calls: list[str] = []
    async with _client(_app(calls)) as client:
        fast = await client.get("/things/missing")
    async with _client(_app(calls, fast=False)) as client:
        slow = await client.get("/things/missing")
    assert calls == ["fast:missing", "fastapi:missing"]
    assert fast.status_code == slow.status_code == 404
    assert fast.json() == slow.json() == {"reason": "thing_not_found", "message": "No thing with that id.",
                                          "thing": "missing"}


async def test_pool_exhaustion_is_a_503_with_retry_after_on_fast_and_fastapi_routes() -> None:
    async with _client(_app([])) as client:
        fast = await client.get("/things/busy")
        routed = await client.get("/busy")
    for r in (fast, routed):
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert r.json()["reason"] == "database_busy"


async def test_fast_route_runs_inside_the_trace_of_the_request() -> None:
    configure_tracing("kit-test")
    router = APIRouter()

    @router.get("/trace/{n}")
    async def declared(n: str) -> dict[str, str]:
        raise AssertionError("served by the fast route")

    async def fast(_request: Request) -> Response:
        return JSONResponse({"trace": current_trace_id()})

    app = FastAPI()
    app.include_router(router)
    route = next(r for r in router.routes if isinstance(r, APIRoute))
    app.add_middleware(FastRouteMiddleware, routes=[FastRoute(route, fast)])
    app.add_middleware(TraceMiddleware)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with _client(app) as client:
        continued = await client.get("/trace/1", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        started = await client.get("/trace/2")
    assert continued.json() == {"trace": trace_id}
    assert started.json()["trace"] not in (None, trace_id)
