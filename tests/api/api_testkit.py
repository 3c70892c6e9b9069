"""Shared helpers of the cross-service API tests: API keys and scopes, app builders for the four services,
the route list derived from each app's OpenAPI, and readers that dump topics and database schemas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from plusvibe.settings import PlusVibeSettings
from servicekit.web.auth import hash_key

SERVICES: tuple[str, ...] = ("leads", "audits", "writeback", "unibox")
# Every scope each service checks; a key holding only the other services' scopes must get 403.
SCOPES: dict[str, tuple[str, ...]] = {
    "leads": ("leads:read", "leads:write", "integrations:write"),
    "audits": ("audits:read",),
    "writeback": ("writeback:read",),
    "unibox": ("unibox:read", "unibox:write"),
}
FULL_KEY = "api-suite-full-key"
WRONG_KEY = "api-suite-wrong-key"
WEBHOOK_SECRET = "api-suite-webhook-secret"
WEBHOOK_PATH = "/api/plusvibe/webhooks"
CANARY = "pv-canary-7c1e9a55"
# Routes that answer without an API key by design (the webhook has its own shared-secret test).
PUBLIC_PREFIXES: tuple[str, ...] = ("/health/", "/metrics")
# Routes hidden from the OpenAPI on purpose: the report page's 192-bit slug is the capability.
UNDOCUMENTED_PUBLIC: dict[str, frozenset[str]] = {"audits": frozenset({"/r/{slug}", "/metrics"})}
UNDOCUMENTED_DEFAULT = frozenset({"/metrics"})
# Routes about the caller's key rather than one workspace (servicekit.web.auth.require_key): they resolve no workspace,
# so the workspace matrix checks them apart (a key sees only the served workspaces it reaches).
KEY_ROUTES: dict[str, frozenset[tuple[str, str]]] = {"leads": frozenset({("GET", "/api/workspaces")})}
FASTAPI_DOC_ROUTES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def unconfigured_plusvibe() -> PlusVibeSettings:
    """No key, and a loopback port nothing listens on: a forgotten call can never leave the machine."""
    return PlusVibeSettings(base_url="http://127.0.0.1:9/api/v1", api_key="", workspace_id="")


def other_scope_key(service: str) -> str:
    return f"api-suite-only-others-{service}"


# A key with every scope, for another platform workspace only: every route must answer 404, as for an id that
# does not exist (no existence leak).
OTHER_WORKSPACE_KEY = "api-suite-other-workspace-key"
OTHER_WORKSPACE = "acme"


def api_keys_json() -> str:
    """A full key, a full key of another workspace, and per service a key holding every scope of the other services
    and none of its own."""
    keys: list[dict[str, Any]] = [{"name": "full", "sha256": hash_key(FULL_KEY), "scopes": ["*"]},
                                  {"name": "acme", "sha256": hash_key(OTHER_WORKSPACE_KEY), "scopes": ["*"],
                                   "workspaces": [OTHER_WORKSPACE]}]
    for service in SERVICES:
        others = sorted(s for name, scopes in SCOPES.items() if name != service for s in scopes)
        keys.append({"name": f"not-{service}", "sha256": hash_key(other_scope_key(service)), "scopes": others})
    return json.dumps(keys)


@dataclass(frozen=True)
class Infra:
    """Where a service under test keeps its state: a PostgreSQL schema and a topic prefix on the broker."""

    database_url: str
    schema: str
    kafka: str
    prefix: str


def _common(infra: Infra) -> dict[str, Any]:
    return {"database_url": infra.database_url, "db_schema": infra.schema, "kafka_bootstrap_servers": infra.kafka,
            "kafka_topic_prefix": infra.prefix, "api_keys_json": api_keys_json(), "log_json": False,
            "consumer_transient_budget_s": 5}


def build_app(service: str, infra: Infra, plusvibe: PlusVibeSettings | None, *, embedded_workers: bool = False,
              **extra: Any) -> FastAPI:
    """The service's real app (its own `create_app`/`bootstrap`), configured for this suite."""
    builders: dict[str, Callable[..., FastAPI]] = {
        "leads": _leads, "audits": _audits, "writeback": _writeback, "unibox": _unibox}
    return builders[service](infra, plusvibe, embedded_workers, extra)


def _leads(infra: Infra, pv: PlusVibeSettings | None, embedded: bool, extra: dict[str, Any]) -> FastAPI:
    from leads.bootstrap import bootstrap
    from leads.entrypoints.http import create_app
    from leads.settings import LeadsSettings

    # Explicit settings keep PLUSVIBE_* from the environment out: unconfigured means unconfigured.
    svc = bootstrap(LeadsSettings(**{**_common(infra), **extra}), plusvibe_settings=pv or unconfigured_plusvibe())
    return create_app(service=svc, embedded_workers=embedded)


def _audits(infra: Infra, pv: PlusVibeSettings | None, embedded: bool, extra: dict[str, Any]) -> FastAPI:
    from audits.entrypoints.http import create_app
    from audits.settings import AuditsSettings

    # A static resolver that knows no host: nothing this suite does can reach beyond loopback.
    return create_app(AuditsSettings(**{**_common(infra), "resolver": "static", **extra}), embedded_workers=embedded)


def _writeback(infra: Infra, pv: PlusVibeSettings | None, embedded: bool, extra: dict[str, Any]) -> FastAPI:
    from writeback.entrypoints.http import create_app
    from writeback.settings import WritebackSettings

    return create_app(WritebackSettings(**{**_common(infra), **extra}), embedded_workers=embedded,
                      plusvibe_settings=pv or unconfigured_plusvibe())


def _unibox(infra: Infra, pv: PlusVibeSettings | None, embedded: bool, extra: dict[str, Any]) -> FastAPI:
    from unibox.entrypoints.http import create_app
    from unibox.settings import UniboxSettings

    settings = UniboxSettings(**{**_common(infra), "webhook_secret": WEBHOOK_SECRET, **extra})
    return create_app(settings, embedded_workers=embedded,
                      plusvibe_settings=pv or unconfigured_plusvibe())


def openapi_of(service: str) -> dict[str, Any]:
    """The service's OpenAPI document, from an app that is built but never started (no I/O at all)."""
    stub = Infra("sqlite+aiosqlite:///:memory:", "main", "127.0.0.1:9", "unused.")
    return build_app(service, stub, None).openapi()


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    has_body: bool

    def url(self) -> str:
        """The path with every parameter filled by a random UUID (nothing exists under it)."""
        out = self.path
        while "{" in out:
            start, end = out.index("{"), out.index("}")
            out = out[:start] + str(uuid.uuid4()) + out[end + 1:]
        return out


def documented_routes(app: FastAPI) -> list[Route]:
    """Every operation of the app's OpenAPI document."""
    routes = []
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                routes.append(Route(method.upper(), path, "requestBody" in op))
    return routes


def guarded_routes(app: FastAPI) -> list[Route]:
    """The documented routes that must demand an API key (all but health, metrics and the webhook)."""
    return [r for r in documented_routes(app)
            if not r.path.startswith((*PUBLIC_PREFIXES, WEBHOOK_PATH))]


def undocumented_paths(app: FastAPI) -> set[str]:
    """Paths the app serves that its OpenAPI leaves out (FastAPI's own doc routes aside)."""
    documented = set(app.openapi()["paths"])
    return served_paths(app.routes) - documented - FASTAPI_DOC_ROUTES


def served_paths(routes: Any, prefix: str = "") -> set[str]:
    """Every path of a route tree, including routers that FastAPI keeps as included-router nodes."""
    out: set[str] = set()
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            out.add(prefix + path)
            continue
        inner = getattr(route, "original_router", None)
        context = getattr(route, "include_context", None)
        if inner is not None:
            out |= served_paths(inner.routes, prefix + str(getattr(context, "prefix", "") or ""))
    return out


async def dump_schema(database_url: str, schema: str) -> dict[str, list[str]]:
    """`SELECT *` of every table of the schema, each row stringified."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            names = (await conn.execute(text(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_type = 'BASE TABLE'"
            ), {"s": schema})).scalars().all()
            dump: dict[str, list[str]] = {}
            for name in names:
                rows = (await conn.execute(text(f'SELECT * FROM "{schema}"."{name}"'))).all()
                dump[str(name)] = [repr(tuple(row)) for row in rows]
            return dump
    finally:
        await engine.dispose()


async def prefixed_topics(bootstrap: str, prefix: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await asyncio.wait_for(admin.list_topics(), 10) if t.startswith(prefix))
    finally:
        await admin.close()


async def record_count(bootstrap: str, topic: str) -> int:
    """How many records the topic holds now (sum of end offsets; topics here are never truncated)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from servicekit.testing import topic_partitions

    partitions = await topic_partitions(bootstrap, topic)
    if not partitions:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(int(v) for v in ends.values())
    finally:
        await consumer.stop()


async def dump_topic(bootstrap: str, topic: str) -> list[str]:
    """Every record of the topic (key, value and headers) as text."""
    from servicekit.testing import read_topic

    count = await record_count(bootstrap, topic)
    if count == 0:
        return []
    records = await read_topic(bootstrap, topic, expected=count, timeout_s=15)
    assert len(records) == count, f"{topic}: read {len(records)} of {count} records"
    return [repr((r.key, r.value, r.headers)) for r in records]


@contextlib.asynccontextmanager
async def started(app: FastAPI, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan entered (migrations; workers when built with them) and a client for it."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc", headers=headers or {}
    ) as client:
        yield client
