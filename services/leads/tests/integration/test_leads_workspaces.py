"""Workspaces are first-class (docs/WORKSPACES.md): one leads service serving `default` and `acme`, a key for each,
on real PostgreSQL and Kafka with the PlusVibe simulator. Each workspace sees, changes and pushes only its own
leads; an id of the other workspace is answered exactly as an id that does not exist; events change only leads of
their own workspace and every event leads publishes names the workspace of its lead."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from leads_testkit import ACME, Harness, TwoWorkspaces, audit_completed, parse_time, writeback_completed
from sqlalchemy import text

from contracts.envelope import Envelope
from contracts.topics import AUDIT_COMPLETED, EMAIL_ACTIVITY_RECEIVED, LEAD_UPSERTED, WRITEBACK_COMPLETED
from contracts.unibox import EmailActivityReceived
from servicekit.messaging.events import new_envelope
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
DEFAULT = "default"
SHARED_EMAIL = "ada@shared-client.test"
ACME_PV_KEY = "pv-acme-workspace-key-5Hq8"  # the key acme connects (the simulator accepts it)

# How each documented route with a lead id in its path is called (a body or query it needs to reach its lookup).
ID_ROUTES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/api/leads/{lead_id}"): {},
    ("DELETE", "/api/leads/{lead_id}"): {},
    ("PATCH", "/api/leads/{lead_id}"): {"json": {"notes": "changed from the wrong workspace"}},
    ("GET", "/api/leads/{lead_id}/history"): {},
    ("GET", "/api/leads/{lead_id}/timeline"): {},
    ("POST", "/api/leads/{lead_id}/normalise-status"): {},
    ("POST", "/api/leads/{lead_id}/audits"): {},
    ("POST", "/api/leads/{lead_id}/emails"): {"json": {}},
    ("GET", "/api/leads/{lead_id}/emails"): {},
    ("POST", "/api/leads/{lead_id}/plusvibe/writeback"): {},
    ("POST", "/api/leads/{lead_id}/plusvibe/complete"): {},
    ("DELETE", "/api/leads/{lead_id}/plusvibe"): {},
    ("GET", "/api/leads/{lead_id}/plusvibe/preview"): {"params": {"campaignId": "any-campaign"}},
}
# Routes whose id is not a lead's: each has its own isolation test below.
OTHER_ID_ROUTES = {("POST", "/api/plusvibe/alerts/{alert_id}/dismiss"),
                   ("PUT", "/api/copy-settings/campaigns/{campaign_id}"),
                   # test_leads_csv_import.py::test_an_import_of_one_workspace_is_invisible_to_another
                   ("GET", "/api/leads/imports/{import_id}"), ("GET", "/api/leads/imports/{import_id}/errors.csv")}


@pytest.fixture
def two(two_workspaces: TwoWorkspaces) -> TwoWorkspaces:
    return two_workspaces


def _documented_id_routes(two: TwoWorkspaces) -> set[tuple[str, str]]:
    paths: dict[str, dict[str, Any]] = two.app.openapi()["paths"]
    return {(method.upper(), path) for path, ops in paths.items() if re.search(r"\{[^}]+\}", path) for method in ops}


async def _call(client: httpx.AsyncClient, route: tuple[str, str], lead_id: str) -> httpx.Response:
    method, path = route
    return await client.request(method, path.replace("{lead_id}", lead_id), **ID_ROUTES[route])


async def _shown(harness: Harness, lead_id: str) -> dict[str, Any]:
    lead = await harness.lead(lead_id)
    history = (await harness.client.get(f"/api/leads/{lead_id}/history")).json()
    emails = (await harness.client.get(f"/api/leads/{lead_id}/emails")).json()
    return {"lead": lead, "history": history, "emails": emails}


async def _listed(harness: Harness, **params: str) -> tuple[set[str], int]:
    r = await harness.client.get("/api/leads", params={"pageSize": "200", **params})
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}, r.json()["total"]


async def test_every_id_route_answers_another_workspaces_lead_exactly_as_a_missing_one(two: TwoWorkspaces) -> None:
    assert set(ID_ROUTES) | OTHER_ID_ROUTES == _documented_id_routes(two), \
        "a route with an id in its path has no isolation case here"
    ours = await two.default.create_lead(contact={"firstName": "Ada", "email": SHARED_EMAIL})
    theirs = await two.acme.create_lead(contact={"firstName": "Ada", "email": SHARED_EMAIL})  # the same address
    before = {DEFAULT: await _shown(two.default, ours["id"]), ACME: await _shown(two.acme, theirs["id"])}
    for route in sorted(ID_ROUTES):
        for caller, other_lead in ((two.acme, ours["id"]), (two.default, theirs["id"])):
            foreign = await _call(caller.client, route, other_lead)
            missing = await _call(caller.client, route, str(uuid.uuid4()))
            assert foreign.status_code == missing.status_code == 404, (route, foreign.text)
            assert foreign.json() == missing.json() == {"reason": "lead_not_found",
                                                        "message": "No lead with that id."}, route
    # A key asking for a workspace it does not reach is refused before any lookup, on the fast detail route too.
    r = await two.acme.client.get(f"/api/leads/{ours['id']}", headers={"X-Workspace": DEFAULT})
    assert (r.status_code, r.json()["reason"]) == (404, "workspace_not_found")
    # Nothing the other workspace tried changed either lead (no field, status, history row, email or version).
    assert await _shown(two.default, ours["id"]) == before[DEFAULT]
    assert await _shown(two.acme, theirs["id"]) == before[ACME]


async def test_lists_searches_and_counts_show_only_the_workspaces_own_leads(two: TwoWorkspaces) -> None:
    ours = [await two.default.create_lead(contact={"email": SHARED_EMAIL}) for _ in range(2)]
    theirs = [await two.acme.create_lead(contact={"email": SHARED_EMAIL}) for _ in range(3)]
    assert {lead["contact"]["email"] for lead in ours + theirs} == {SHARED_EMAIL}
    our_ids, their_ids = {lead["id"] for lead in ours}, {lead["id"] for lead in theirs}
    assert await _listed(two.default) == (our_ids, 2)
    assert await _listed(two.acme) == (their_ids, 3)
    assert await _listed(two.default, q="shared-client") == (our_ids, 2)
    assert await _listed(two.acme, q="shared-client", status="new") == (their_ids, 3)
    # Normalising "every" lead is every lead of the workspace; a push names only leads of its own workspace.
    assert (await two.acme.client.post("/api/leads/normalise-status")).json() == {"normalised": 0}
    foreign = await two.default.client.post("/api/plusvibe/leads/push", json={
        "campaignId": two.default.sim.campaigns["active"], "leadIds": [theirs[0]["id"]]})
    missing_id = str(uuid.uuid4())
    missing = await two.default.client.post("/api/plusvibe/leads/push", json={
        "campaignId": two.default.sim.campaigns["active"], "leadIds": [missing_id]})
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["reason"] == missing.json()["reason"] == "lead_not_found"
    assert foreign.json()["leadIds"] == [theirs[0]["id"]] and missing.json()["leadIds"] == [missing_id]


def _in(workspace: str | None, envelope: Envelope) -> Envelope:
    return envelope.model_copy(update={"workspace_id": workspace})


async def _handled(harness: Harness, event_id: uuid.UUID) -> bool:
    async with harness.service.runtime.engine.connect() as conn:
        found = await conn.execute(text("SELECT 1 FROM inbox WHERE event_id = :id"), {"id": event_id})
        return found.first() is not None


async def _audit_requested(harness: Harness) -> tuple[str, str, Any]:
    lead = await harness.create_lead()
    run_id = (await harness.client.post(f"/api/leads/{lead['id']}/audits")).json()["auditRunId"]
    return lead["id"], run_id, parse_time((await harness.lead(lead["id"]))["audit"]["requestedAt"])


async def _outbox_workspaces(harness: Harness) -> dict[str, set[str | None]]:
    """lead id → the workspaces named by the envelopes leads wrote about it."""
    async with harness.service.runtime.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT payload FROM outbox"))).scalars().all()
    named: dict[str, set[str | None]] = defaultdict(set)
    for payload in rows:
        envelope = json.loads(payload)
        if envelope.get("lead_id"):
            named[envelope["lead_id"]].add(envelope.get("workspace_id"))
    return named


def _replied(lead_id: str) -> Envelope:
    return new_envelope(EmailActivityReceived(
        lead_id=uuid.UUID(lead_id), activity="replied", webhook_event="ALL_EMAIL_REPLIES", email=SHARED_EMAIL,
        observed_at=datetime.now(UTC), raw_payload={"webhook_event": "ALL_EMAIL_REPLIES"}))


async def test_an_event_changes_only_a_lead_of_its_own_workspace(two: TwoWorkspaces) -> None:
    ours, our_run, our_at = await _audit_requested(two.default)
    theirs, their_run, their_at = await _audit_requested(two.acme)
    before = {ours: await two.default.lead(ours), theirs: await two.acme.lead(theirs)}
    # Events naming each lead from the other workspace (an envelope without a workspace is `default`'s).
    wrong = [_in(ACME, audit_completed(ours, our_run, our_at, grade="F")),
             audit_completed(theirs, their_run, their_at, grade="F"),
             _in(ACME, writeback_completed(ours, our_run, our_at)),
             _in(ACME, _replied(ours)),
             # acme's lead named with default's run: neither the lead nor default's run may change.
             _in(ACME, audit_completed(theirs, our_run, our_at, grade="F"))]
    await two.default.publish(AUDIT_COMPLETED, *wrong[:2])
    await two.default.publish(WRITEBACK_COMPLETED, wrong[2])
    await two.default.publish(EMAIL_ACTIVITY_RECEIVED, wrong[3])
    await two.default.publish(AUDIT_COMPLETED, wrong[4])
    for envelope in wrong:
        await wait_until(functools.partial(_handled, two.default, envelope.event_id),
                         what="the wrong-workspace event handled")
    assert await two.default.lead(ours) == before[ours]
    assert await two.acme.lead(theirs) == before[theirs]
    # The same events in the right workspace apply.
    await two.default.publish(AUDIT_COMPLETED, _in(DEFAULT, audit_completed(ours, our_run, our_at, grade="B")),
                              _in(ACME, audit_completed(theirs, their_run, their_at, grade="C")))

    async def audited() -> bool:
        return ((await two.default.lead(ours))["status"], (await two.acme.lead(theirs))["status"]) == (
            "audit_complete", "audit_complete")

    await wait_until(audited, what="both leads audited")
    assert (await two.default.lead(ours))["audit"]["grade"] == "B"
    assert (await two.acme.lead(theirs))["audit"]["grade"] == "C"
    # Every event leads wrote about a lead (LeadUpserted, LeadStatusChanged, AuditRequested) names its workspace,
    # and so do the records on the broker.
    named = await _outbox_workspaces(two.default)
    assert named[ours] == {DEFAULT} and named[theirs] == {ACME}
    records = await read_topic(two.default.bootstrap_servers, two.default.topic(LEAD_UPSERTED), expected=10_000,
                               timeout_s=3)
    upserted = [json.loads(r.value) for r in records]
    assert {e["workspace_id"] for e in upserted if e["lead_id"] == ours} == {DEFAULT}
    assert {e["workspace_id"] for e in upserted if e["lead_id"] == theirs} == {ACME}


async def _ready(harness: Harness, workspace: str) -> dict[str, Any]:
    lead_id, run_id, at = await _audit_requested(harness)
    await harness.publish(WRITEBACK_COMPLETED, _in(workspace, writeback_completed(lead_id, run_id, at)))

    async def generated() -> bool:
        return bool((await harness.lead(lead_id))["status"] == "email_generated")

    await wait_until(generated, what="email_generated")
    return await harness.lead(lead_id)


def _key_fingerprints(harness: Harness, since: int) -> set[str]:
    return {r.key for r in harness.sim.state.request_log()[since:] if r.path.endswith("/lead/add")}


async def test_each_workspace_pushes_through_its_own_connected_plusvibe(two: TwoWorkspaces) -> None:
    sim = two.default.sim
    second = sim.state.seed("second-client")
    sim.state.api_keys.add(ACME_PV_KEY)
    # acme is not connected: no environment key for it (only `default` falls back to PLUSVIBE_API_KEY).
    r = await two.acme.client.get("/api/plusvibe/campaigns")
    assert (r.status_code, r.json()["reason"]) == (503, "plusvibe_not_configured")
    assert (await two.acme.client.get("/api/integrations/plusvibe")).json()["source"] == "none"
    r = await two.acme.client.put("/api/integrations/plusvibe",
                                  json={"apiKey": ACME_PV_KEY, "workspaceId": second["workspace_id"]})
    assert r.status_code == 200, r.text
    assert (await two.default.client.get("/api/integrations/plusvibe")).json()["source"] == "environment"
    ours_listed = {c["id"] for c in (await two.default.client.get("/api/plusvibe/campaigns")).json()}
    theirs_listed = {c["id"] for c in (await two.acme.client.get("/api/plusvibe/campaigns")).json()}
    assert sim.campaigns["active"] in ours_listed and second["campaigns"]["active"] not in ours_listed
    assert theirs_listed == {second["campaigns"]["active"]}

    ours, theirs = await _ready(two.default, DEFAULT), await _ready(two.acme, ACME)
    mark = len(sim.state.request_log())
    r = await two.default.client.post("/api/plusvibe/leads/push",
                                      json={"campaignId": sim.campaigns["active"], "leadIds": [ours["id"]]})
    assert r.status_code == 200 and r.json()["enrolled"] == [ours["id"]], r.text
    default_keys = _key_fingerprints(two.default, mark)
    mark = len(sim.state.request_log())
    r = await two.acme.client.post("/api/plusvibe/leads/push",
                                   json={"campaignId": second["campaigns"]["active"], "leadIds": [theirs["id"]]})
    assert r.status_code == 200 and r.json()["enrolled"] == [theirs["id"]], r.text
    acme_keys = _key_fingerprints(two.acme, mark)
    assert len(default_keys) == len(acme_keys) == 1 and default_keys != acme_keys  # each push with its own key
    held = {lead["email"]: lead for lead in sim.state.leads.values()}
    assert (held[ours["contact"]["email"]]["workspace_id"], held[ours["contact"]["email"]]["campaign_id"]) == (
        sim.workspace_id, sim.campaigns["active"])
    assert (held[theirs["contact"]["email"]]["workspace_id"], held[theirs["contact"]["email"]]["campaign_id"]) == (
        second["workspace_id"], second["campaigns"]["active"])
    assert (await two.default.lead(ours["id"]))["campaignId"] == sim.campaigns["active"]
    assert (await two.acme.lead(theirs["id"]))["campaignId"] == second["campaigns"]["active"]
    # The template check runs for each connected workspace, over that workspace's campaigns.
    reports = await two.service.check_templates()
    assert set(reports) == {DEFAULT, ACME}
    assert reports[ACME].campaigns == 1 and reports[DEFAULT].campaigns == len(ours_listed)


async def test_another_workspaces_plusvibe_alert_is_neither_listed_nor_dismissable(two: TwoWorkspaces) -> None:
    alert = new_envelope(EmailActivityReceived(
        lead_id=None, activity="system_alert", webhook_event="SYSTEM_ALERT", alert="EMAIL_ACCOUNT_DISCONNECTED",
        observed_at=datetime.now(UTC), raw_payload={"webhook_event": "SYSTEM_ALERT"}), workspace_id=DEFAULT)

    async def kept() -> bool:
        return bool((await two.default.client.get("/api/plusvibe/alerts")).json())

    await two.default.publish(EMAIL_ACTIVITY_RECEIVED, alert)
    await wait_until(kept, what="the default workspace's alert")
    assert (await two.acme.client.get("/api/plusvibe/alerts")).json() == []
    foreign = await two.acme.client.post(f"/api/plusvibe/alerts/{alert.event_id}/dismiss")
    missing = await two.acme.client.post(f"/api/plusvibe/alerts/{uuid.uuid4()}/dismiss")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"reason": "alert_not_found", "message": "No alert with that id."}
    listed = (await two.default.client.get("/api/plusvibe/alerts")).json()
    assert [(a["id"], a["dismissedAt"]) for a in listed] == [(str(alert.event_id), None)]


async def test_each_workspace_keeps_its_own_copy_settings(two: TwoWorkspaces) -> None:
    campaign = two.default.sim.campaigns["active"]
    assert (await two.default.client.put(f"/api/copy-settings/campaigns/{campaign}", json={"tone": "direct"})).is_success
    assert (await two.default.client.put("/api/copy-settings/default", json={"tone": "friendly"})).is_success
    theirs = (await two.acme.client.get("/api/copy-settings")).json()
    assert (theirs["defaultTone"], theirs["campaigns"]) == ("consultative", [])  # the same campaign id, untouched
    assert (await two.acme.client.put(f"/api/copy-settings/campaigns/{campaign}", json={"steps": 2})).is_success
    ours = (await two.default.client.get("/api/copy-settings")).json()
    assert [(c["campaignId"], c["tone"], c["steps"]) for c in ours["campaigns"]] == [(campaign, "direct", None)]
