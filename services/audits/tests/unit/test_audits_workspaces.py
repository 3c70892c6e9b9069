"""Audit runs belong to the platform workspace of their AuditRequested (docs/WORKSPACES.md), on SQLite with the
HTTP API in-process and no broker (events are read from the outbox):

- the run's events (AuditStarted, AuditCompleted, AuditFailed) carry that workspace; a request published before
  workspaces (no workspace in its envelope) belongs to `default`;
- with two workspaces served, every documented route with a path parameter answers another workspace's id exactly
  as an unknown id (same status, same body), whether the key reaches only the other workspace or both (the request
  names its workspace in X-Workspace); the route list is the OpenAPI's, so a new route without a case here fails;
- the report page stays public: its unguessable slug opens it without a key, whatever the workspace."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest
from sites import Deploy, Deployment, FakeResolver
from sqlalchemy import select

from audits.bootstrap import AuditsService, bootstrap
from audits.engine import Ports
from audits.entrypoints.http import create_app
from audits.handlers import on_audit_requested
from audits.settings import AuditsSettings
from contracts.envelope import Envelope
from contracts.leads import AuditRequested
from servicekit.messaging.events import Decoded, new_envelope
from servicekit.process.tables import outbox
from servicekit.testing import Database
from servicekit.web.auth import hash_key

DEFAULT_KEY, ACME_KEY, BOTH_KEY = "ws-default-key", "ws-acme-key", "ws-both-key"
KEYS = [{"name": "default-only", "sha256": hash_key(DEFAULT_KEY), "scopes": ["audits:read"],
         "workspaces": ["default"]},
        {"name": "acme-only", "sha256": hash_key(ACME_KEY), "scopes": ["audits:read"], "workspaces": ["acme"]},
        {"name": "agency", "sha256": hash_key(BOTH_KEY), "scopes": ["audits:read"]}]
# Every documented route with a path parameter: how to name a run in it.
PARAMETERISED: dict[str, Callable[[uuid.UUID], str]] = {
    "/api/audits/{audit_id}": lambda run_id: f"/api/audits/{run_id}",
}
# Every documented list (a GET under /api without a path parameter) would need its own isolation case here.
LISTS: frozenset[str] = frozenset()


@pytest.fixture
async def svc(sqlite_database: Database, deploy: Deploy, resolver: FakeResolver) -> AsyncIterator[AuditsService]:
    site: Deployment = await deploy()
    service = bootstrap(AuditsSettings(
        database_url=sqlite_database.url, workspaces="default,acme", api_keys_json=json.dumps(KEYS),
        allowlist=f"good.test@127.0.0.1:{site.https_port},good.test@127.0.0.1:{site.http_port}",
        site_ports={"good.test": Ports(https=site.https_port, http=site.http_port)}, ca_file=site.ca_file,
        request_timeout_s=3.0, total_budget_s=8.0, resolver="static",
        kafka_bootstrap_servers="127.0.0.1:1",  # never contacted: no consumer or relay runs here
    ), resolver=resolver)
    await service.runtime.migrate()
    yield service
    await service.runtime.dispose()


@pytest.fixture
async def client(svc: AuditsService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(service=svc)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audits") as c:
        yield c


async def request_audit(svc: AuditsService, workspace: str | None, domain: str = "good.test") -> uuid.UUID:
    """What the AuditRequested consumer does with one record (`workspace` None: a record from before workspaces)."""
    data = AuditRequested(lead_id=uuid.uuid4(), audit_run_id=uuid.uuid4(), domain=domain,
                          requested_at=datetime.now(UTC), requested_by="operator:tester")
    async with svc.runtime.uow() as uow:
        await on_audit_requested.handle(Decoded(envelope=new_envelope(data, workspace_id=workspace), event=data), uow)
        await uow.commit()
    return data.audit_run_id


async def run_all(svc: AuditsService) -> None:
    while await svc.worker.poll_once():
        await svc.worker.drain()


async def published(svc: AuditsService) -> list[Envelope]:
    async with svc.runtime.uow() as uow:
        rows = (await uow.session.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars().all()
    return [Envelope.model_validate_json(bytes(r)) for r in rows]


async def test_a_runs_events_carry_the_workspace_of_its_request(svc: AuditsService) -> None:
    acme, legacy = await request_audit(svc, "acme"), await request_audit(svc, None)
    failing = await request_audit(svc, "acme", domain="no-such-shop.test")
    await run_all(svc)

    seen = {(e.event_type, uuid.UUID(e.data["audit_run_id"])): e.workspace_id for e in await published(svc)}
    assert seen == {
        ("AuditStarted", acme): "acme", ("AuditCompleted", acme): "acme",
        ("AuditStarted", legacy): "default", ("AuditCompleted", legacy): "default",
        ("AuditStarted", failing): "acme", ("AuditFailed", failing): "acme",
    }


async def test_another_workspaces_run_answers_as_an_unknown_run_on_every_route(
    svc: AuditsService, client: httpx.AsyncClient
) -> None:
    documented = {path for path in create_app(service=svc).openapi()["paths"] if path.startswith("/api/")}
    assert set(PARAMETERISED) == {p for p in documented if "{" in p}
    assert {p for p in documented if "{" not in p} == LISTS
    runs = {"default": await request_audit(svc, "default"), "acme": await request_audit(svc, "acme")}
    own_key = {"default": DEFAULT_KEY, "acme": ACME_KEY}

    async def get(path: str, workspace: str, key: str) -> httpx.Response:
        return await client.get(path, headers={"X-API-Key": key, "X-Workspace": workspace})

    checked = 0
    for route, path_of in PARAMETERISED.items():
        for mine, theirs in (("default", "acme"), ("acme", "default")):
            for key in (own_key[mine], BOTH_KEY):
                own = await get(path_of(runs[mine]), mine, key)
                assert own.status_code == 200, (route, mine, own.text)
                unknown = await get(path_of(uuid.uuid4()), mine, key)
                other = await get(path_of(runs[theirs]), mine, key)
                assert unknown.status_code == 404, (route, unknown.text)
                assert (other.status_code, other.json()) == (unknown.status_code, unknown.json()), (route, mine)
                checked += 1
    assert checked == 4 * len(PARAMETERISED)


async def test_the_report_page_opens_by_its_slug_without_a_key_in_any_workspace(
    svc: AuditsService, client: httpx.AsyncClient
) -> None:
    run_id = await request_audit(svc, "acme")
    await run_all(svc)
    async with svc.runtime.uow() as uow:
        row = await uow.runs.get(run_id)
        assert row is not None and row.status == "completed" and row.workspace_id == "acme"
        slug = row.report_slug
    page = await client.get(f"/r/{slug}")
    assert page.status_code == 200 and "good.test" in page.text
