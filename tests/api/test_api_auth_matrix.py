"""Every route of every service's OpenAPI (health, metrics and the webhook aside) × {no key, wrong key, a key
with only other services' scopes, a key of another workspace, a full key asking for another workspace} →
401/401/403/404/404 with a machine-readable reason (404, not 403: a workspace that is not the caller's is
answered as if it did not exist). The route list comes from
`app.openapi()`, so a new route is covered the day it is added; a served route missing from the OpenAPI fails."""

from __future__ import annotations

import httpx
import pytest
from api_testkit import (
    FULL_KEY,
    KEY_ROUTES,
    OTHER_WORKSPACE,
    OTHER_WORKSPACE_KEY,
    SERVICES,
    UNDOCUMENTED_DEFAULT,
    UNDOCUMENTED_PUBLIC,
    WRONG_KEY,
    Infra,
    Route,
    build_app,
    guarded_routes,
    other_scope_key,
    undocumented_paths,
)
from fastapi import FastAPI

# Lower bounds of the guarded route counts: a derivation that silently finds nothing must fail.
AT_LEAST = {"leads": 15, "audits": 1, "writeback": 1, "unibox": 4}


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    # Never started: a refusal must come from the key check, before any database or broker is touched.
    stub = Infra("sqlite+aiosqlite:///:memory:", "main", "127.0.0.1:9", "unused.")
    return {service: build_app(service, stub, None) for service in SERVICES}


async def _answers(app: FastAPI, headers: dict[str, str],
                   skip: frozenset[tuple[str, str]] = frozenset()) -> list[tuple[Route, int, object]]:
    out = []
    # The transport re-raises app errors: a route that skipped the key check and crashed fails loudly here.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        answers = [(route, await client.request(route.method, route.url(), headers=headers,
                                                json={} if route.has_body else None))
                   for route in guarded_routes(app) if (route.method, route.path) not in skip]
    for route, response in answers:
        try:
            body = response.json()
        except ValueError:
            body = None
        reason = body.get("reason") if isinstance(body, dict) else None
        out.append((route, response.status_code, reason))
    return out


def _wrong(answers: list[tuple[Route, int, object]], status: int, reasons: set[str]) -> list[str]:
    return [f"{r.method} {r.path} -> {code} {reason}" for r, code, reason in answers
            if code != status or reason not in reasons]


@pytest.mark.parametrize("service", SERVICES)
def test_api_guarded_routes_are_derived_from_the_openapi_and_none_is_hidden(service: str,
                                                                           apps: dict[str, FastAPI]) -> None:
    assert len(guarded_routes(apps[service])) >= AT_LEAST[service]
    assert undocumented_paths(apps[service]) <= UNDOCUMENTED_PUBLIC.get(service, UNDOCUMENTED_DEFAULT)


@pytest.mark.parametrize("service", SERVICES)
async def test_api_every_route_refuses_a_request_without_a_key(service: str, apps: dict[str, FastAPI]) -> None:
    answers = await _answers(apps[service], {})
    assert _wrong(answers, 401, {"api_key_missing"}) == []


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("header", ["x-api-key", "authorization"])
async def test_api_every_route_refuses_a_wrong_key(service: str, header: str, apps: dict[str, FastAPI]) -> None:
    value = WRONG_KEY if header == "x-api-key" else f"Bearer {WRONG_KEY}"
    answers = await _answers(apps[service], {header: value})
    assert _wrong(answers, 401, {"api_key_invalid"}) == []


@pytest.mark.parametrize("service", SERVICES)
async def test_api_every_route_forbids_a_key_scoped_to_other_services(service: str, apps: dict[str, FastAPI]) -> None:
    answers = await _answers(apps[service], {"x-api-key": other_scope_key(service)})
    assert _wrong(answers, 403, {"scope_missing"}) == []


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("headers", [
    {"x-api-key": OTHER_WORKSPACE_KEY},  # its own workspace, which this deployment does not serve
    {"x-api-key": OTHER_WORKSPACE_KEY, "x-workspace": "default"},  # a workspace that is not the key's
    {"x-api-key": FULL_KEY, "x-workspace": OTHER_WORKSPACE},  # a workspace this deployment does not serve
    {"x-api-key": FULL_KEY, "x-workspace": ""},
], ids=["other-workspace-key", "other-workspace-key-asking-default", "full-key-unknown-workspace", "empty-header"])
async def test_api_every_route_answers_404_for_a_workspace_that_is_not_the_callers(
        service: str, headers: dict[str, str], apps: dict[str, FastAPI]) -> None:
    answers = await _answers(apps[service], headers, skip=KEY_ROUTES.get(service, frozenset()))
    assert _wrong(answers, 404, {"workspace_not_found"}) == []


async def test_api_the_workspaces_route_shows_a_key_only_served_workspaces_it_reaches(
        apps: dict[str, FastAPI]) -> None:
    """The one route about a key: the other workspace's key reaches only `acme`, which this deployment does not
    serve, so it sees no workspace at all (and the workspace it asks for in a header changes nothing)."""
    assert KEY_ROUTES["leads"] <= {(r.method, r.path) for r in guarded_routes(apps["leads"])}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps["leads"]), base_url="http://svc") as client:
        for headers in ({"x-api-key": OTHER_WORKSPACE_KEY},
                        {"x-api-key": OTHER_WORKSPACE_KEY, "x-workspace": "default"}):
            r = await client.get("/api/workspaces", headers=headers)
            assert (r.status_code, r.json()) == (200, [])
