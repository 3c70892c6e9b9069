"""Leads belong to the platform workspace of their events (docs/WORKSPACES.md), on SQLite with fake PlusVibe ports
(one per workspace) or the real per-workspace ports over an unreachable PlusVibe, and the HTTP API in-process:

- each lead's writeback goes through its own workspace's port, and its WritebackCompleted/WritebackFailed carry
  that workspace; the projection rows and attempts keep it; events from before workspaces belong to `default`;
- an event naming a lead under another workspace than the lead's is ignored (logged), in a later batch or the same;
- a PlusVibeIntegrationChanged invalidates only that workspace's connection, and a workspace other than `default`
  never falls back to the environment's key;
- with two workspaces served, every documented route with a path parameter answers another workspace's lead exactly
  as an unknown lead (same status, same body); the route list is the OpenAPI's, so a new route without a case here
  fails."""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from writeback_testkit import (
    FakePlusVibe,
    audit_completed,
    decoded,
    integration_changed,
    lead_pushed,
    lead_upserted,
)

from contracts.envelope import Envelope, EventData
from plusvibe.credentials import KeyRing, new_kek
from plusvibe.errors import PermanentError
from plusvibe.port import PlusVibePort
from plusvibe.settings import PlusVibeSettings
from servicekit.messaging.events import Decoded
from servicekit.process.tables import outbox
from servicekit.testing import Database
from servicekit.web.auth import hash_key
from writeback.adapters.orm import lead_projection, writeback_attempts
from writeback.bootstrap import WritebackService, bootstrap
from writeback.entrypoints.http import create_app
from writeback.handlers import (
    on_audit_completed,
    on_lead_pushed,
    on_lead_upserted,
    on_plusvibe_integration_changed,
)

HANDLERS: dict[str, Any] = {"LeadUpserted": on_lead_upserted.handle, "LeadPushed": on_lead_pushed.handle,
                            "AuditCompleted": on_audit_completed.handle}
CAMPAIGN = "camp-3-steps"
DEFAULT_KEY, ACME_KEY, BOTH_KEY = "wb-default-key", "wb-acme-key", "wb-both-key"
KEYS = [{"name": "default-only", "sha256": hash_key(DEFAULT_KEY), "scopes": ["writeback:read"],
         "workspaces": ["default"]},
        {"name": "acme-only", "sha256": hash_key(ACME_KEY), "scopes": ["writeback:read"], "workspaces": ["acme"]},
        {"name": "agency", "sha256": hash_key(BOTH_KEY), "scopes": ["writeback:read"]}]
# Every documented route with a path parameter: how to name a lead in it.
PARAMETERISED: dict[str, Callable[[uuid.UUID], str]] = {
    "/api/writeback/leads/{lead_id}": lambda lead_id: f"/api/writeback/leads/{lead_id}",
}
# Every documented list (a GET under /api without a path parameter) would need its own isolation case here.
LISTS: frozenset[str] = frozenset()
UNREACHABLE = "http://127.0.0.1:9/api/v1"  # nothing listens: no call can leave the machine


@pytest.fixture
def fakes() -> dict[str, FakePlusVibe]:
    return {"default": FakePlusVibe({CAMPAIGN: 3}), "acme": FakePlusVibe({CAMPAIGN: 2})}


@pytest.fixture
async def service(sqlite_database: Database, fakes: dict[str, FakePlusVibe]) -> AsyncIterator[WritebackService]:
    ports: Callable[[str], PlusVibePort] = fakes.__getitem__
    svc = bootstrap(plusvibe_ports=ports, database_url=sqlite_database.url, workspaces="default,acme",
                    api_keys_json=json.dumps(KEYS), delivery_retry_budget_s=5.0, delivery_backoff_base_s=0.01,
                    delivery_backoff_cap_s=0.02)
    await svc.runtime.migrate()
    yield svc
    await svc.runtime.dispose()


async def apply(service: WritebackService, *events: Decoded) -> None:
    """One consumer batch in one transaction: each run of events of one type through its batch handler."""
    async with service.runtime.uow() as uow:
        for _, run in itertools.groupby(events, key=lambda item: item.envelope.event_type):
            batch = list(run)
            await HANDLERS[batch[0].envelope.event_type](batch, uow)
        await uow.commit()


def in_ws(workspace: str | None, *events: EventData) -> list[Decoded]:
    return [decoded(e, workspace_id=workspace) for e in events]


async def published(service: WritebackService) -> list[Envelope]:
    async with service.runtime.engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    return [Envelope.model_validate_json(bytes(r.payload)) for r in rows]


async def workspaces_of(service: WritebackService) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, set[str]]]:
    """The workspace of each projection row, and the workspaces of each lead's attempts."""
    async with service.runtime.engine.connect() as conn:
        leads = dict((await conn.execute(select(lead_projection.c.lead_id, lead_projection.c.workspace))).all())
        attempts: dict[uuid.UUID, set[str]] = {}
        for lead_id, ws in (await conn.execute(select(writeback_attempts.c.lead_id, writeback_attempts.c.workspace))):
            attempts.setdefault(lead_id, set()).add(ws)
    return leads, attempts


async def test_each_leads_writeback_goes_through_its_workspaces_port_and_its_events_carry_the_workspace(
    service: WritebackService, fakes: dict[str, FakePlusVibe]
) -> None:
    legacy, acme, acme_unlinked = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(service, *in_ws(None, lead_upserted(legacy, email="old@default.test")),
                *in_ws("acme", lead_upserted(acme, email="jo@acme.test"), lead_upserted(acme_unlinked)))
    await apply(service, *in_ws(None, lead_pushed(legacy, CAMPAIGN, "old@default.test")),
                *in_ws("acme", lead_pushed(acme, CAMPAIGN, "jo@acme.test")))
    await apply(service, *in_ws(None, audit_completed(legacy)),
                *in_ws("acme", audit_completed(acme), audit_completed(acme_unlinked)))
    await service.delivery.drain()

    # The same campaign id in two workspaces is two campaigns: 3 steps in default's PlusVibe, 2 in acme's.
    assert [(email, campaign) for email, _, campaign in fakes["default"].updates] == [("old@default.test", CAMPAIGN)]
    assert [(email, campaign) for email, _, campaign in fakes["acme"].updates] == [("jo@acme.test", CAMPAIGN)]
    events = {(e.event_type, uuid.UUID(e.data["lead_id"])): (e.workspace_id, e.data["delivered"], e.data["steps"])
              for e in await published(service)}
    assert events == {("WritebackCompleted", legacy): ("default", True, 3),
                      ("WritebackCompleted", acme): ("acme", True, 2),
                      ("WritebackCompleted", acme_unlinked): ("acme", False, 1)}
    leads, attempts = await workspaces_of(service)
    assert leads == {legacy: "default", acme: "acme", acme_unlinked: "acme"}
    assert attempts == {legacy: {"default"}, acme: {"acme"}, acme_unlinked: {"acme"}}


async def test_a_failed_writeback_is_announced_in_the_leads_workspace(
    service: WritebackService, fakes: dict[str, FakePlusVibe]
) -> None:
    lead = uuid.uuid4()
    fakes["acme"].fail_with = [PermanentError("campaign archived", status_code=400)]
    await apply(service, *in_ws("acme", lead_upserted(lead), lead_pushed(lead, CAMPAIGN, "jo@acme.test")))
    await apply(service, *in_ws("acme", audit_completed(lead)))
    await service.delivery.drain()
    [failed] = await published(service)
    assert (failed.event_type, failed.workspace_id) == ("WritebackFailed", "acme")
    assert fakes["default"].updates == [] and fakes["default"].step_lookups == 0


async def test_an_event_naming_a_lead_under_another_workspace_is_ignored_and_logged(
    service: WritebackService, fakes: dict[str, FakePlusVibe], caplog: pytest.LogCaptureFixture
) -> None:
    lead, fresh = uuid.uuid4(), uuid.uuid4()
    await apply(service, *in_ws("acme", lead_upserted(lead, company="Acme"), lead_pushed(lead, CAMPAIGN, "jo@a.test")))
    with caplog.at_level(logging.WARNING, logger="writeback.adapters.lead_batch"):
        # A later batch: a newer snapshot, a push and an audit of the lead, all named under default.
        await apply(service, *in_ws("default", lead_upserted(lead, version=2, company="Hijacked")))
        await apply(service, *in_ws("default", lead_pushed(lead, "other-campaign", "x@default.test")))
        await apply(service, *in_ws("default", audit_completed(lead)))
        # One batch: the first event makes the row (in acme), the next names it under default.
        await apply(service, *in_ws("acme", lead_upserted(fresh)), *in_ws("default", lead_upserted(fresh, version=2,
                                                                                                    company="Other")))
    await service.delivery.drain()

    async with service.runtime.uow() as uow:
        row = await uow.repo.projection(lead, "acme")
        other = await uow.repo.projection(fresh, "acme")
        assert await uow.repo.projection(lead, "default") is None
    assert row is not None and other is not None
    assert (row["snapshot_version"], row["company_name"], row["campaign_id"], row["link_email"], row["audit_run_id"]) \
        == (1, "Acme", CAMPAIGN, "jo@a.test", None)
    assert (other["snapshot_version"], other["company_name"]) == (1, "Acme")
    assert await published(service) == [] and fakes["default"].updates == fakes["acme"].updates == []
    ignored = [r for r in caplog.records if r.getMessage() == "event for a lead of another workspace ignored"]
    assert [(r.fields["event_type"], r.fields["lead_workspace"], r.fields["event_workspace"])  # type: ignore[attr-defined]
            for r in ignored] == [("LeadUpserted", "acme", "default"), ("LeadPushed", "acme", "default"),
                                  ("AuditCompleted", "acme", "default"), ("LeadUpserted", "acme", "default")]


async def test_an_integration_change_invalidates_only_its_workspace_and_no_other_workspace_uses_the_env_key(
    sqlite_database: Database
) -> None:
    kek = new_kek()
    ring = KeyRing([kek])
    pv = PlusVibeSettings(base_url=UNREACHABLE, api_key="env-key", workspace_id="env-ws", kek=kek)
    # A day's TTL: a stored change becomes visible at once only through the invalidation of its workspace.
    svc = bootstrap(plusvibe_settings=pv, database_url=sqlite_database.url, integration_ttl_s=86_400)
    await svc.runtime.migrate()
    ports = svc.workspace_ports
    assert ports is not None

    async def resolved(workspace: str) -> tuple[str, str] | None:
        assert ports is not None
        creds = await ports.connection(workspace).credentials()
        return (creds.api_key.get_secret_value(), creds.workspace_id) if creds is not None else None

    async def change(*events: Any) -> list[str]:
        invalidated: list[str] = []

        def changed(workspace: str) -> None:
            invalidated.append(workspace)
            assert ports is not None
            ports.invalidate(workspace)

        for event in events:
            async with svc.runtime.uow() as uow:
                await on_plusvibe_integration_changed.handle(decoded(event), uow, changed=changed)
                await uow.commit()
        return invalidated

    try:
        assert await resolved("default") == ("env-key", "env-ws")
        assert await resolved("acme") is None  # nothing connected for acme: never the environment's key
        assert await change(integration_changed(1, keyring=ring, api_key="acme-1", plusvibe_workspace_id="pv-acme",
                                                workspace="acme")) == ["acme"]
        assert await resolved("acme") == ("acme-1", "pv-acme")
        assert await resolved("default") == ("env-key", "env-ws")
        assert await change(integration_changed(1, keyring=ring, api_key="default-1", plusvibe_workspace_id="pv-d"),
                            integration_changed(2, keyring=ring, api_key="acme-2", plusvibe_workspace_id="pv-acme2",
                                                workspace="acme")) == ["default", "acme"]
        assert (await resolved("default"), await resolved("acme")) == (("default-1", "pv-d"), ("acme-2", "pv-acme2"))
        assert await change(integration_changed(3, workspace="acme")) == ["acme"]  # acme disconnects
        assert (await resolved("default"), await resolved("acme")) == (("default-1", "pv-d"), None)
    finally:
        await svc.runtime.dispose()


async def test_another_workspaces_lead_answers_as_an_unknown_lead_on_every_route(service: WritebackService) -> None:
    app = create_app(service=service)
    documented = {path for path in app.openapi()["paths"] if path.startswith("/api/")}
    assert set(PARAMETERISED) == {p for p in documented if "{" in p}
    assert {p for p in documented if "{" not in p} == LISTS
    leads = {"default": uuid.uuid4(), "acme": uuid.uuid4()}
    for workspace, lead in leads.items():
        await apply(service, *in_ws(workspace, lead_upserted(lead)))
        await apply(service, *in_ws(workspace, audit_completed(lead)))  # unlinked: an attempt, announced at once
    own_key = {"default": DEFAULT_KEY, "acme": ACME_KEY}

    checked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://writeback") as client:
        async def get(path: str, workspace: str, key: str) -> httpx.Response:
            return await client.get(path, headers={"X-API-Key": key, "X-Workspace": workspace})

        for route, path_of in PARAMETERISED.items():
            for mine, theirs in (("default", "acme"), ("acme", "default")):
                for key in (own_key[mine], BOTH_KEY):
                    own = await get(path_of(leads[mine]), mine, key)
                    assert own.status_code == 200 and own.json()["lastAttempt"] is not None, (route, mine, own.text)
                    unknown = await get(path_of(uuid.uuid4()), mine, key)
                    other = await get(path_of(leads[theirs]), mine, key)
                    assert unknown.status_code == 404, (route, unknown.text)
                    assert (other.status_code, other.json()) == (unknown.status_code, unknown.json()), (route, mine)
                    checked += 1
    assert checked == 4 * len(PARAMETERISED)
