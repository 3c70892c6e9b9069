"""Inbound rate limit: a token bucket per principal (known API key, else client IP), 429 + Retry-After with the
kit's error body, never on probes or scrapes, off at 0, bounded memory, no raw key kept."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from servicekit.process.metrics import HTTP_RATE_LIMITED
from servicekit.web.http import install_error_handlers
from servicekit.web.rate_limit import RATE_LIMITED_RESPONSES, RateLimitMiddleware, retry_after_s

KEY_A = "rate-test-key-a"
KEY_B = "rate-test-key-b"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app(clock: FakeClock, *, rate: float = 10.0, burst: int = 5, known: list[str] | None = None,
         max_principals: int = 10_000) -> tuple[FastAPI, RateLimitMiddleware]:
    router = APIRouter()

    @router.get("/api/things")
    async def things() -> dict[str, str]:
        return {"ok": "yes"}

    for path in ("/health/live", "/health/ready", "/metrics"):
        router.add_api_route(path, things, methods=["GET"])
    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(RateLimitMiddleware, rate_per_s=rate, burst=burst, service="kit-test", clock=clock,
                       known_key_hashes=known, max_principals=max_principals)
    # Starlette builds the stack on the first request; build it now to reach the limiter's state.
    app.middleware_stack = app.build_middleware_stack()
    node: Any = app.middleware_stack
    while not isinstance(node, RateLimitMiddleware):
        node = node.app  # every middleware keeps the next one as `app`
    return app, node


def _client(app: FastAPI, ip: str = "10.0.0.1") -> httpx.AsyncClient:
    # ASGITransport never opens a socket: `client` only fills the ASGI scope.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 4321)), base_url="http://kit")


async def _statuses(client: httpx.AsyncClient, n: int, path: str = "/api/things", key: str | None = KEY_A
                    ) -> list[int]:
    headers = {"X-API-Key": key} if key else {}
    return [(await client.get(path, headers=headers)).status_code for _ in range(n)]


async def test_burst_passes_then_429_with_retry_after_and_kit_error_body() -> None:
    clock = FakeClock()
    app, _ = _app(clock, rate=10.0, burst=5)
    before = HTTP_RATE_LIMITED.labels(service="kit-test")._value.get()
    async with _client(app) as client:
        assert await _statuses(client, 5) == [200] * 5
        refused = await client.get("/api/things", headers={"X-API-Key": KEY_A})
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    body = refused.json()
    assert body["reason"] == "rate_limited" and isinstance(body["message"], str) and body["message"]
    assert HTTP_RATE_LIMITED.labels(service="kit-test")._value.get() == before + 1


async def test_one_more_request_passes_after_one_token_interval() -> None:
    clock = FakeClock()
    app, _ = _app(clock, rate=10.0, burst=5)
    async with _client(app) as client:
        assert await _statuses(client, 6) == [200] * 5 + [429]
        clock.now += 0.1
        assert await _statuses(client, 2) == [200, 429]


async def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one() -> None:
    clock = FakeClock()
    app, _ = _app(clock, rate=0.4, burst=1)  # one token per 2.5 s
    async with _client(app) as client:
        assert await _statuses(client, 1) == [200]
        refused = await client.get("/api/things", headers={"X-API-Key": KEY_A})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
    assert [retry_after_s(w) for w in (0.0001, 1.0, 1.2, 2.5)] == [1, 1, 2, 3]


async def test_two_keys_have_separate_buckets() -> None:
    clock = FakeClock()
    app, _ = _app(clock, burst=3)
    async with _client(app) as client:
        assert await _statuses(client, 4, key=KEY_A) == [200, 200, 200, 429]
        assert await _statuses(client, 4, key=KEY_B) == [200, 200, 200, 429]


async def test_requests_without_a_key_are_limited_by_client_ip() -> None:
    clock = FakeClock()
    app, limiter = _app(clock, burst=2)
    async with _client(app, "10.0.0.1") as first, _client(app, "10.0.0.2") as second:
        assert await _statuses(first, 3, key=None) == [200, 200, 429]
        assert await _statuses(second, 3, key=None) == [200, 200, 429]
    assert set(limiter.buckets) == {"ip:10.0.0.1", "ip:10.0.0.2"}


async def test_unknown_keys_count_against_the_client_ip_not_a_fresh_bucket() -> None:
    clock = FakeClock()
    app, _ = _app(clock, burst=2, known=[hashlib.sha256(KEY_A.encode()).hexdigest()])
    async with _client(app) as client:
        made_up = [(await client.get("/api/things", headers={"X-API-Key": f"made-up-{i}"})).status_code
                   for i in range(3)]
        assert made_up == [200, 200, 429]
        assert await _statuses(client, 1, key=KEY_A) == [200]


async def test_health_and_metrics_are_never_limited() -> None:
    clock = FakeClock()
    app, limiter = _app(clock, burst=1)
    async with _client(app) as client:
        assert await _statuses(client, 2) == [200, 429]
        for path in ("/health/live", "/health/ready", "/metrics"):
            assert await _statuses(client, 20, path=path) == [200] * 20
            assert await _statuses(client, 20, path=path, key=None) == [200] * 20
    assert len(limiter.buckets) == 1


async def test_rate_zero_switches_limiting_off() -> None:
    clock = FakeClock()
    app, limiter = _app(clock, rate=0.0, burst=1)
    async with _client(app) as client:
        assert await _statuses(client, 50) == [200] * 50
    assert not limiter.buckets


async def test_buckets_hold_key_hashes_never_the_raw_key() -> None:
    clock = FakeClock()
    app, limiter = _app(clock)
    async with _client(app) as client:
        await _statuses(client, 1, key=KEY_A)
        await client.get("/api/things", headers={"Authorization": f"Bearer {KEY_B}"})
    assert set(limiter.buckets) == {f"key:{hashlib.sha256(k.encode()).hexdigest()}" for k in (KEY_A, KEY_B)}
    assert not any(KEY_A in p or KEY_B in p for p in limiter.buckets)


async def test_memory_stays_bounded_and_refilled_buckets_are_dropped() -> None:
    clock = FakeClock()
    app, limiter = _app(clock, rate=10.0, burst=5, max_principals=3)
    async with _client(app) as client:
        for i in range(10):
            await client.get("/api/things", headers={"X-API-Key": f"k{i}"})
            assert len(limiter.buckets) <= 3
        clock.now += 60  # every bucket has refilled: new arrivals sweep the idle ones away
        await client.get("/api/things", headers={"X-API-Key": "late-1"})
        await client.get("/api/things", headers={"X-API-Key": "late-2"})
    assert set(limiter.buckets) == {f"key:{hashlib.sha256(k.encode()).hexdigest()}" for k in ("late-1", "late-2")}


def test_limited_routes_document_429_with_retry_after_but_probes_do_not() -> None:
    router, probes = APIRouter(), APIRouter()

    @router.get("/api/things")
    async def things() -> dict[str, str]:
        return {"ok": "yes"}

    probes.add_api_route("/health/live", things, methods=["GET"])
    app = FastAPI()
    app.include_router(probes)
    app.include_router(router, responses=RATE_LIMITED_RESPONSES)
    paths = app.openapi()["paths"]
    limited = paths["/api/things"]["get"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    schema = app.openapi()["components"]["schemas"]["RateLimitedError"]
    assert limited["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RateLimitedError"}
    assert schema["required"] == ["reason", "message"]
    assert "429" not in paths["/health/live"]["get"]["responses"]
