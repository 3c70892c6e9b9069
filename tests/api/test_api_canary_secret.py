"""A canary PlusVibe API key, configured for leads, writeback and unibox and accepted by the simulator, never
appears in logs (DEBUG), HTTP responses, events on the service topics, DLQ records or any table of the
service's schema — through successful calls and through PlusVibe refusing the key (401) and failing (500)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from api_testkit import (
    CANARY,
    FULL_KEY,
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    Infra,
    build_app,
    dump_schema,
    dump_topic,
    prefixed_topics,
    record_count,
    started,
)
from pydantic import SecretStr

from contracts.audits import AuditCompleted
from contracts.common import AuditProfile, CategoryScores, Contact, LeadSnapshot
from contracts.envelope import EventData
from contracts.leads import LeadPushed, LeadUpserted
from contracts.status import LeadStatus
from contracts.topics import (
    ALL_TOPICS,
    AUDIT_COMPLETED,
    LEAD_UPSERTED,
    PLUSVIBE_INTEGRATION_CHANGED,
    TOPIC_BY_EVENT_TYPE,
    WRITEBACK_COMPLETED,
    WRITEBACK_FAILED,
)
from outreach_ops.topic_admin import ensure_topics
from plusvibe.credentials import new_kek
from plusvibe.simulator.faults import FaultRule
from plusvibe.simulator.state import SimulatorState
from plusvibe.testing import Sim, fresh_sim, running_simulator
from servicekit.messaging.events import new_envelope
from servicekit.testing import Database, publish_envelopes, publish_raw, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
# The key, and a distinctive part of it (a mask that keeps a prefix or suffix would still give that away).
NEEDLES = (CANARY, CANARY.removeprefix("pv-canary-"))
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def canary_sim_server() -> Iterator[tuple[str, SimulatorState]]:
    with running_simulator(SimulatorState(api_key=CANARY), seed=None) as running:
        yield running


@pytest.fixture
def canary_sim(canary_sim_server: tuple[str, SimulatorState]) -> Sim:
    return fresh_sim(canary_sim_server)


@pytest.fixture
async def canary_infra(pg_database: Database, kafka_bootstrap: str, topic_prefix: str) -> Infra:
    await ensure_topics(kafka_bootstrap, ALL_TOPICS, prefix=topic_prefix)
    return Infra(pg_database.url, pg_database.schema, kafka_bootstrap, topic_prefix)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


class Seen:
    """Everything the service showed the outside, to be searched for the canary."""

    def __init__(self) -> None:
        self.responses: list[str] = []

    def add(self, response: httpx.Response) -> httpx.Response:
        self.responses.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        return response


def fault(sim: Sim, status: int) -> None:
    sim.state.faults.add(FaultRule(status=status, times=None))


async def assert_canary_nowhere(infra: Infra, seen: Seen, logs: pytest.LogCaptureFixture,
                                extra_needles: tuple[str, ...] = ()) -> None:
    """Searches responses, log records (message, arguments, extras, tracebacks), every record of every topic
    under the test's prefix (DLQs included) and every row of every table of the schema."""
    places: dict[str, str] = {f"response {i}": text for i, text in enumerate(seen.responses)}
    for i, record in enumerate(logs.records):
        places[f"log {i} {record.name}"] = f"{record.getMessage()} {record.__dict__!r} {record.exc_text or ''}"
    places["log text"] = logs.text
    for topic in await prefixed_topics(infra.kafka, infra.prefix):
        for i, text in enumerate(await dump_topic(infra.kafka, topic)):
            places[f"topic {topic} #{i}"] = text
    for table, rows in (await dump_schema(infra.database_url, infra.schema)).items():
        for i, row in enumerate(rows):
            places[f"table {table} row {i}"] = row
    needles = (*NEEDLES, *extra_needles)
    leaks = sorted(where for where, text in places.items() if any(n in text for n in needles))
    assert leaks == []
    # The search had something to search: logs, rows and events exist, and the canary really was the key.
    assert logs.records and any(k.startswith("table ") for k in places) and any(k.startswith("topic ") for k in places)


def sim_accepted_the_canary(sim: Sim) -> bool:
    return any(r.status == 200 for r in sim.state.request_log())


async def dlq_gets(infra: Infra, spec_name: str) -> None:
    """A poison record on a topic the service consumes, which its consumer must move to the DLQ."""
    await publish_raw(infra.kafka, f"{infra.prefix}{spec_name}", [(b"poison", b"{not an event", [])])


async def wait_dlq(infra: Infra, spec_dlq: str) -> None:
    async def arrived() -> bool:
        return await record_count(infra.kafka, f"{infra.prefix}{spec_dlq}") >= 1

    await wait_until(arrived, timeout_s=30, interval_s=0.2, what=f"a record on {spec_dlq}")


async def test_api_leads_never_reveals_the_canary_plusvibe_key(
    canary_infra: Infra, canary_sim: Sim, debug_logs: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    app = build_app("leads", canary_infra, canary_sim.settings(), embedded_workers=True)
    async with started(app, {"x-api-key": FULL_KEY}) as http:
        created = seen.add(await http.post("/api/leads", json={
            "companyName": "Canary Bakery", "domain": "canary-bakery.test",
            "contact": {"firstName": "Ada", "email": "ada@canary-bakery.test"}}))
        assert created.status_code == 201, created.text
        lead_id = created.json()["id"]
        ok = seen.add(await http.get("/api/plusvibe/integration"))
        assert ok.json()["keyValid"] is True, ok.text
        assert sim_accepted_the_canary(canary_sim)
        not_ready = seen.add(await http.post("/api/plusvibe/leads/push",
                                             json={"campaignId": canary_sim.campaigns["active"], "leadIds": [lead_id]}))
        assert not_ready.status_code == 409
        seen.add(await http.delete(f"/api/leads/{lead_id}/plusvibe"))

        fault(canary_sim, 401)
        refused = seen.add(await http.get("/api/plusvibe/integration"))
        assert refused.json()["keyValid"] is False
        listing = seen.add(await http.get("/api/plusvibe/campaigns"))
        assert listing.status_code == 502 and listing.json()["reason"] == "plusvibe_auth_failed"
        canary_sim.state.faults.clear()

        fault(canary_sim, 500)
        broken = seen.add(await http.get("/api/plusvibe/campaigns"))
        assert broken.status_code == 503 and broken.json()["reason"] == "plusvibe_unavailable"
        seen.add(await http.get("/api/plusvibe/integration"))
        canary_sim.state.faults.clear()

        await dlq_gets(canary_infra, AUDIT_COMPLETED.name)
        await wait_dlq(canary_infra, AUDIT_COMPLETED.dlq)
    await assert_canary_nowhere(canary_infra, seen, debug_logs)


@pytest.mark.parametrize("platform_workspace", ["default", "acme"])
async def test_api_leads_never_reveals_a_canary_key_connected_under_integrations(
    canary_infra: Infra, canary_sim: Sim, debug_logs: pytest.LogCaptureFixture, platform_workspace: str
) -> None:
    """The key typed into Integrations: listed, connected, used, tested (accepted and refused), disconnected — then
    searched for everywhere, the sealed integration event on its topic included. So is the webhook secret the connect
    generated and registered in PlusVibe (read back from the simulator's hook). In `default` and in a second platform
    workspace of the deployment (its own credential path: no environment key behind it)."""
    seen = Seen()
    pv = canary_sim.settings(api_key=SecretStr(""), workspace_id="", kek=SecretStr(new_kek()))
    app = build_app("leads", canary_infra, pv, embedded_workers=True, webhook_base_url="http://127.0.0.1:9",
                    workspaces="default,acme")
    workspace = canary_sim.workspace_id
    async with started(app, {"x-api-key": FULL_KEY, "x-workspace": platform_workspace}) as http:
        listed = seen.add(await http.post("/api/integrations/plusvibe/workspaces", json={"apiKey": CANARY}))
        assert workspace in {w["id"] for w in listed.json()}, listed.text
        connected = seen.add(await http.put("/api/integrations/plusvibe",
                                            json={"apiKey": CANARY, "workspaceId": workspace}))
        assert connected.status_code == 200 and connected.json()["keyMasked"] == "…" + CANARY[-4:], connected.text
        assert connected.json()["webhookStatus"] == "registered", connected.text
        assert connected.json()["webhookUrl"].endswith(f"/api/plusvibe/webhooks/{platform_workspace}")
        (hook,) = canary_sim.state.hooks.values()
        webhook_secret = str(hook["secret"])
        assert len(webhook_secret) >= 32
        assert seen.add(await http.get("/api/plusvibe/campaigns")).status_code == 200
        assert sim_accepted_the_canary(canary_sim)
        seen.add(await http.get("/api/integrations/plusvibe"))
        fault(canary_sim, 401)
        refused = seen.add(await http.post("/api/integrations/plusvibe/test"))
        assert refused.json()["lastError"] == "key rejected", refused.text
        canary_sim.state.faults.clear()
        wrong = seen.add(await http.put("/api/integrations/plusvibe",
                                        json={"apiKey": CANARY + "-revoked", "workspaceId": workspace}))
        assert wrong.status_code == 400 and wrong.json()["reason"] == "plusvibe_key_rejected"
        topic = f"{canary_infra.prefix}{PLUSVIBE_INTEGRATION_CHANGED.name}"

        async def announced() -> bool:
            return await record_count(canary_infra.kafka, topic) >= 1

        await wait_until(announced, timeout_s=30, interval_s=0.2, what="the sealed integration event on its topic")
        gone = seen.add(await http.delete("/api/integrations/plusvibe"))
        assert gone.status_code == 200 and not canary_sim.state.hooks, gone.text

        async def both_announced() -> bool:
            return await record_count(canary_infra.kafka, topic) >= 2

        await wait_until(both_announced, timeout_s=30, interval_s=0.2, what="the disconnect on its topic")
    await assert_canary_nowhere(canary_infra, seen, debug_logs, extra_needles=(webhook_secret,))


def _upserted(lead_id: uuid.UUID, email: str) -> LeadUpserted:
    snapshot = LeadSnapshot(lead_id=lead_id, version=1, company_name="Canary", domain="canary.test",
                            contact=Contact(first_name="Jo", email=email), status=LeadStatus.NEW,
                            campaign_id=None, created_at=T0, updated_at=T0)
    return LeadUpserted(lead_id=lead_id, lead=snapshot)


def _audit_completed(lead_id: uuid.UUID) -> AuditCompleted:
    profile = {"audit_grade": "C", "audit_score": "72", "audit_url": "https://reports.test/r/abc",
               "audit_date": "2026-11-01", "top_issue": "No https", "second_issue": "Slow pages", "issues_found": "7",
               "seo_score": "70", "performance_score": "60", "security_score": "50", "accessibility_score": "80",
               "mobile_ready": "yes", "load_time_s": "2.3", "https_status": "no_redirect", "ssl_days_left": "40",
               "meta_description_status": "missing", "h1_status": "ok", "email_auth_status": "partial"}
    return AuditCompleted(
        lead_id=lead_id, audit_run_id=uuid.uuid4(), domain="canary.test", requested_at=T0,
        completed_at=T0 + timedelta(seconds=5), grade="C", score=72,
        category_scores=CategoryScores(seo=70, performance=60, security=50, mobile=100, accessibility=80),
        top_issue="No https", second_issue="Slow pages", summary="Mixed.", report_url=profile["audit_url"],
        profile=AuditProfile(**profile))


async def _publish(infra: Infra, *events: EventData) -> None:
    for data in events:
        env = new_envelope(data)
        await publish_envelopes(infra.kafka, f"{infra.prefix}{TOPIC_BY_EVENT_TYPE[env.event_type].name}", [env])


async def test_api_writeback_never_reveals_the_canary_plusvibe_key(
    canary_infra: Infra, canary_sim: Sim, debug_logs: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    campaign = canary_sim.campaigns["active"]
    leads = {name: (uuid.uuid4(), f"{name}@canary.test") for name in ("delivered", "refused", "broken")}
    canary_sim.state.api_lead_add({"workspace_id": canary_sim.workspace_id, "campaign_id": campaign,
                                   "leads": [{"email": email} for _, email in leads.values()]})
    app = build_app("writeback", canary_infra, canary_sim.settings(), embedded_workers=True,
                    delivery_retry_budget_s=1.0, delivery_backoff_base_s=0.1, delivery_backoff_cap_s=0.2)
    async with started(app, {"x-api-key": FULL_KEY}) as http:
        for lead_id, email in leads.values():
            await _publish(canary_infra, _upserted(lead_id, email), LeadPushed(
                lead_id=lead_id, campaign_id=campaign, email=email, variables={}, pushed_at=T0 + timedelta(minutes=1)))

        async def linked() -> bool:
            answers = [await http.get(f"/api/writeback/leads/{lead_id}") for lead_id, _ in leads.values()]
            return all(a.status_code == 200 and a.json()["campaignId"] == campaign for a in answers)

        await wait_until(linked, timeout_s=30, interval_s=0.2, what="the three leads linked to the campaign")
        for outcomes, (name, status) in enumerate((("delivered", None), ("refused", 401), ("broken", 500)), start=1):
            canary_sim.state.faults.clear()
            if status is not None:
                fault(canary_sim, status)
            await _publish(canary_infra, _audit_completed(leads[name][0]))

            async def settled(expected: int = outcomes) -> bool:
                done = [await record_count(canary_infra.kafka, f"{canary_infra.prefix}{t.name}")
                        for t in (WRITEBACK_COMPLETED, WRITEBACK_FAILED)]
                return sum(done) >= expected

            await wait_until(settled, timeout_s=30, interval_s=0.2, what=f"the {name} writeback's outcome")
        canary_sim.state.faults.clear()
        answers = {name: seen.add(await http.get(f"/api/writeback/leads/{lead_id}")).json()
                   for name, (lead_id, _) in leads.items()}
        assert answers["delivered"]["delivered"] is True
        assert answers["refused"]["lastAttempt"]["status"] == "failed" and answers["refused"]["error"]
        assert answers["broken"]["lastAttempt"]["status"] == "failed" and answers["broken"]["error"]
        assert sim_accepted_the_canary(canary_sim)
        await dlq_gets(canary_infra, LEAD_UPSERTED.name)
        await wait_dlq(canary_infra, LEAD_UPSERTED.dlq)
    await assert_canary_nowhere(canary_infra, seen, debug_logs)


async def test_api_unibox_never_reveals_the_canary_plusvibe_key(
    canary_infra: Infra, canary_sim: Sim, debug_logs: pytest.LogCaptureFixture
) -> None:
    seen = Seen()
    app = build_app("unibox", canary_infra, canary_sim.settings(), embedded_workers=True)
    reply: dict[str, Any] = {"replyToId": "unknown-message", "from": "alex@sender-one.test", "to": "jo@canary.test",
                             "subject": "Re: your site", "bodyHtml": "<p>Hi</p>"}
    async with started(app, {"x-api-key": FULL_KEY}) as http:
        mailboxes = seen.add(await http.get("/api/unibox/mailboxes"))
        assert mailboxes.status_code == 200 and mailboxes.json()
        seen.add(await http.get("/api/unibox/threads", params={"email": "jo@canary.test", "refresh": "true"}))
        seen.add(await http.post("/api/unibox/replies", json=reply, headers={"Idempotency-Key": "k-ok"}))
        hook = seen.add(await http.post(WEBHOOK_PATH, headers={"x-plusvibe-secret": WEBHOOK_SECRET}, json={
            "webhook_event": "EMAIL_SENT", "email": "jo@canary.test", "campaign_id": "c1", "event_id": "e1"}))
        assert hook.status_code == 200, hook.text
        assert sim_accepted_the_canary(canary_sim)

        for status, code in ((401, 502), (500, 503)):
            fault(canary_sim, status)
            failed = seen.add(await http.get("/api/unibox/mailboxes"))
            assert failed.status_code == code, failed.text
            seen.add(await http.get("/api/unibox/threads", params={"email": "bo@canary.test", "refresh": "true"}))
            seen.add(await http.post("/api/unibox/replies", json=reply, headers={"Idempotency-Key": f"k-{status}"}))
            seen.add(await http.post("/api/unibox/threads/t1/read", json={"email": "jo@canary.test"}))
            canary_sim.state.faults.clear()
            await asyncio.sleep(0)
        await dlq_gets(canary_infra, LEAD_UPSERTED.name)
        await wait_dlq(canary_infra, LEAD_UPSERTED.dlq)
    await assert_canary_nowhere(canary_infra, seen, debug_logs)
