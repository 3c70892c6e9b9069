"""Inputs PostgreSQL or the JSON decoder cannot take, sent to every guarded route of every service (started, on
a real PostgreSQL schema, with a key that may do everything): NUL in any path, query or body value, bodies
nested past the decoder's limit, NaN/Infinity. Each gets a 4xx with a machine-readable reason, never a 5xx,
and no table gains a row. Schemathesis finds such inputs only by luck; here every route gets each one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api_testkit import FULL_KEY, SERVICES, Infra, Route, build_app, dump_schema, guarded_routes, started
from fastapi import FastAPI

from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, fresh_sim, running_simulator
from servicekit.testing import Database

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NUL = "a\x00b"


@pytest.fixture(scope="module")
def hostile_sim_server() -> Any:
    with running_simulator(SimulatorState(api_key="api-suite-hostile-key"), seed=None) as running:
        yield running


def _body_with(schema: dict[str, Any], doc: dict[str, Any], value: Any) -> dict[str, Any]:
    """A body whose every top-level property (and every property of object-typed ones) is `value`."""
    ref = schema.get("$ref") or next((s.get("$ref") for s in schema.get("anyOf", []) if "$ref" in s), None)
    if ref is None:
        return {"x": value}
    target = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    out: dict[str, Any] = {}
    for name, prop in target.get("properties", {}).items():
        nested = prop.get("$ref") or next((s.get("$ref") for s in prop.get("anyOf", []) if "$ref" in s), None)
        out[name] = _body_with({"$ref": nested}, doc, value) if nested else value
    return out or {"x": value}


def _requests(app: FastAPI, route: Route) -> list[tuple[str, str, dict[str, Any]]]:
    """(what, url, httpx kwargs) of the hostile requests for one route."""
    doc = app.openapi()
    op = doc["paths"][route.path][route.method.lower()]
    url = route.url()
    out: list[tuple[str, str, dict[str, Any]]] = []
    if "{" in route.path:
        nul_path = route.path
        while "{" in nul_path:
            start, end = nul_path.index("{"), nul_path.index("}")
            nul_path = nul_path[:start] + "a%00b" + nul_path[end + 1:]
        out.append(("nul-in-path", nul_path, {}))
    for param in op.get("parameters", []):
        if param["in"] == "query":
            out.append((f"nul-in-query-{param['name']}", url, {"params": {param["name"]: NUL}}))
    content = op.get("requestBody", {}).get("content", {})
    if route.has_body and "text/csv" in content:  # a file upload: hostile files, not hostile JSON
        out.append(("nul-in-file", url, {"content": b"email\r\na\x00b@x.test\r\n"}))
        out.append(("not-utf8-file", url, {"content": b"email\r\n\xff\xfe\xfa@x.test\r\n"}))
        out.append(("spreadsheet-file", url, {"content": b"PK\x03\x04" + bytes(range(256))}))
        out.append(("empty-file", url, {"content": b""}))
    elif route.has_body:
        body_schema = content["application/json"]["schema"]
        out.append(("nul-in-body", url, {"json": _body_with(body_schema, doc, NUL)}))
        out.append(("nul-in-body-list", url, {"json": _body_with(body_schema, doc, [NUL])}))
        out.append(("too-deep", url, {"content": '{"a":' * 5000 + "1" + "}" * 5000}))
        out.append(("nan", url, {"content": json.dumps(_body_with(body_schema, doc, float("nan")))}))
        out.append(("not-json", url, {"content": "{not json"}))
    return out


@pytest.fixture
async def hostile_client(request: pytest.FixtureRequest, pg_database: Database, kafka_bootstrap: str,
                         topic_prefix: str, hostile_sim_server: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    sim: Sim = fresh_sim(hostile_sim_server)
    infra = Infra(pg_database.url, pg_database.schema, kafka_bootstrap, topic_prefix)
    app = build_app(request.param, infra, sim.settings())
    async with started(app, {"x-api-key": FULL_KEY, "content-type": "application/json"}) as http:
        yield app, http


@pytest.mark.parametrize("hostile_client", SERVICES, indirect=True)
async def test_api_hostile_values_get_a_4xx_with_a_reason_and_store_nothing(
    hostile_client: tuple[FastAPI, httpx.AsyncClient], pg_database: Database
) -> None:
    app, http = hostile_client
    before = await dump_schema(pg_database.url, pg_database.schema)
    sent, wrong = 0, []
    for route in guarded_routes(app):
        for what, url, kwargs in _requests(app, route):
            sent += 1
            try:
                answer = await http.request(route.method, url, **kwargs)
            except Exception as exc:  # the ASGI transport re-raises what the app did not handle
                wrong.append(f"{route.method} {route.path} {what}: raised {type(exc).__name__}: {exc}"[:300])
                continue
            reason = answer.json().get("reason") if answer.headers.get("content-type") == "application/json" else None
            if not 400 <= answer.status_code < 500 or not isinstance(reason, str):
                wrong.append(f"{route.method} {route.path} {what}: {answer.status_code} {answer.text[:200]}")
    assert sent >= len(guarded_routes(app))
    assert wrong == []
    after = await dump_schema(pg_database.url, pg_database.schema)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
