"""The help page, end to end, through the single entry point with every service as its own process:
create → push refused → Start audit → audit → writeback → email_generated with variables → push accepted →
the send loop sends with zero empty placeholders → EMAIL_SENT, reply and label webhooks move the lead and fill
the enrichment → Unibox thread, reply, mark read → Mark completed → Remove. Plus the edge cases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from e2e_testkit import E2E

from contracts.profile import PROFILE_KEYS, body_keys
from contracts.topics import LEAD_STATUS_CHANGED, LEAD_UPSERTED
from servicekit.testing import read_topic

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]


async def until(predicate: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def lead(e2e: E2E, lead_id: str) -> dict[str, Any]:
    r = await e2e.api.get(f"/api/leads/{lead_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def status_becomes(e2e: E2E, lead_id: str, status: str, timeout_s: float = 60.0) -> dict[str, Any]:
    async def check() -> bool:
        return (await lead(e2e, lead_id))["status"] == status

    await until(check, f"status {status}", timeout_s)
    return await lead(e2e, lead_id)


async def campaign_id(e2e: E2E) -> str:
    campaigns = (await e2e.api.get("/api/plusvibe/campaigns")).json()
    return str(next(c["id"] for c in campaigns if c["status"] == "ACTIVE"))


async def create(e2e: E2E, domain: str | None, email: str | None, company: str = "Northwind Bakery") -> dict[str, Any]:
    r = await e2e.api.post("/api/leads", json={"companyName": company, "domain": domain,
                                               "contact": {"firstName": "Nora", "email": email}})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def pushed(e2e: E2E, campaign: str, domain: str, email: str, company: str) -> str:
    """A new lead, audited through the real services to email_generated, then pushed to `campaign`: its id."""
    lead_id = str((await create(e2e, domain, email, company=company))["id"])
    await e2e.api.post(f"/api/leads/{lead_id}/audits")
    await status_becomes(e2e, lead_id, "email_generated", timeout_s=90)
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead_id]})
    assert r.status_code == 200, r.text
    return lead_id


async def test_the_seed_flow_end_to_end(e2e: E2E) -> None:
    campaign = await campaign_id(e2e)
    created = await create(e2e, "northwind-bakery.test", "nora@northwind-bakery.test")
    lead_id = created["id"]

    # Push before the audit: refused, nothing enrolled.
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead_id]})
    assert r.status_code == 409
    assert r.json()["refused"][0]["reason"] == "not_audited"

    # Start audit → the audit of the demo website completes → writeback → email_generated with the variables.
    r = await e2e.api.post(f"/api/leads/{lead_id}/audits")
    assert r.status_code == 202
    run_id = r.json()["auditRunId"]
    shown = await status_becomes(e2e, lead_id, "email_generated", timeout_s=90)
    assert shown["audit"]["auditRunId"] == run_id
    assert shown["audit"]["grade"] in {"A", "B"}
    variables = shown["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
    assert set(PROFILE_KEYS) <= set(variables)
    assert set(body_keys(1)) <= set(variables)
    assert all(str(v).strip() for v in variables.values())
    audit = (await e2e.api.get(f"/api/audits/{run_id}")).json()
    assert audit["status"] == "completed"
    report = await e2e.api.get(variables["audit_url"].replace(e2e.config.gateway_url, ""))
    assert report.status_code == 200
    assert "Northwind" in report.text or "northwind" in report.text

    # Push accepted: every custom variable goes with the enrolment.
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead_id]})
    assert r.status_code == 200, r.text
    assert r.json()["enrolled"] == [lead_id]

    # The send loop sends step 1 with zero empty placeholders; EMAIL_SENT moves the lead.
    sent = (await e2e.sim.post("/_sim/tick", json={"count": 1})).json()["sent"]
    assert len(sent) == 1
    assert (await e2e.sim.get("/_sim/empty-placeholders")).json() == []
    await e2e.sim.post("/_sim/webhooks/flush")
    await status_becomes(e2e, lead_id, "email_sent")

    # A reply and a label change arrive as webhooks: replied, with the enrichment filled.
    await e2e.sim.post("/_sim/inject/reply", json={"email": "nora@northwind-bakery.test",
                                                   "text": "Sounds interesting - can we talk Tuesday?",
                                                   "html": "<p>Sounds interesting - <b>can we talk Tuesday?</b></p>"})
    await e2e.sim.post("/_sim/inject/label", json={"email": "nora@northwind-bakery.test", "label": "INTERESTED"})
    await e2e.sim.post("/_sim/webhooks/flush")
    await status_becomes(e2e, lead_id, "replied")

    async def enriched() -> bool:
        pv = (await lead(e2e, lead_id))["plusvibeLeadData"] or {}
        return pv.get("label") == "INTERESTED" and bool(pv.get("rawWebhookPayload"))

    await until(enriched, "enrichment")
    pv = (await lead(e2e, lead_id))["plusvibeLeadData"]
    assert pv["lastEmailSubject"]

    # Unibox: the thread is there; a reply goes out once; mark read works.
    threads = (await e2e.api.get("/api/unibox/threads", params={"email": "nora@northwind-bakery.test",
                                                                "refresh": "true"})).json()
    assert threads, "the contact's thread should be listed"
    thread = threads[0]
    directions = {m["direction"] for m in thread["messages"]}
    assert directions >= {"in", "out"}
    r = await e2e.api.post("/api/unibox/replies", json={
        "replyToId": thread["replyToId"], "from": thread["mailbox"], "to": "nora@northwind-bakery.test",
        "subject": "Re: " + thread["subject"], "bodyHtml": "<p>Tuesday works.</p><script>alert(1)</script>",
        "idempotencyKey": "e2e-reply-1"})
    assert r.status_code in (200, 201), r.text
    replies = (await e2e.sim.get("/_sim/requests", params={"path": "/api/v1/unibox/emails/reply"})).json()
    assert len(replies["requests"]) == 1
    r = await e2e.api.post(f"/api/unibox/threads/{thread['threadId']}/read", json=thread["markReadBody"])
    assert r.status_code == 200, r.text

    # Mark completed (status replied) and Remove (campaign-scoped).
    r = await e2e.api.post(f"/api/leads/{lead_id}/plusvibe/complete")
    assert r.status_code == 200, r.text
    r = await e2e.api.delete(f"/api/leads/{lead_id}/plusvibe")
    assert r.status_code == 200, r.text
    assert (await lead(e2e, lead_id))["campaignId"] is None


async def test_a_lead_without_a_domain_cannot_be_audited(e2e: E2E) -> None:
    for domain in (None, "unknown"):
        created = await create(e2e, domain, "x@orchard.test", company="Orchard")
        r = await e2e.api.post(f"/api/leads/{created['id']}/audits")
        assert r.status_code == 422
        assert r.json()["reason"] == "domain_missing"


async def test_a_bounced_lead_is_refused_and_manual_writeback_resends_the_same_payload(e2e: E2E) -> None:
    campaign = await campaign_id(e2e)
    created = await create(e2e, "bluebird-dental.test", "bea@bluebird-dental.test", company="Bluebird Dental")
    lead_id = created["id"]
    await e2e.api.post(f"/api/leads/{lead_id}/audits")
    shown = await status_becomes(e2e, lead_id, "email_generated", timeout_s=90)
    stored = shown["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead_id]})
    assert r.status_code == 200, r.text

    # Manual writeback: the same payload as the automatic one, now delivered to the linked campaign.
    before = len((await e2e.sim.get("/_sim/requests", params={"path": "/api/v1/lead/data/update"})).json()["requests"])
    r = await e2e.api.post(f"/api/leads/{lead_id}/plusvibe/writeback")
    assert r.status_code == 202, r.text

    async def delivered() -> bool:
        wb = ((await lead(e2e, lead_id))["plusvibeLeadData"] or {}).get("lastOutboundWriteback") or {}
        return bool(wb.get("delivered"))

    await until(delivered, "manual writeback delivered")
    after = (await e2e.sim.get("/_sim/requests", params={"path": "/api/v1/lead/data/update"})).json()["requests"]
    assert len(after) == before + 1
    again = (await lead(e2e, lead_id))["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
    # The same payload the automatic writeback builds for this audit: unchanged values for every key it had,
    # now with the body keys of each step of the linked 3-step campaign.
    assert {k: again[k] for k in stored} == stored
    assert set(again) == set(stored) | set(body_keys(3))

    # A bounce moves the lead to bounced; a push is then refused with `bounced`.
    await e2e.sim.post("/_sim/inject/bounce", json={"email": "bea@bluebird-dental.test", "is_camp_paused": False})
    await e2e.sim.post("/_sim/webhooks/flush")
    await status_becomes(e2e, lead_id, "bounced")
    await e2e.api.delete(f"/api/leads/{lead_id}/plusvibe")
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead_id]})
    assert r.status_code == 409
    assert r.json()["refused"][0]["reason"] == "bounced"
    assert r.json()["refused"][0]["remedy"] == "re_audit_or_remove"


async def test_an_independent_subscriber_receives_the_lead_events(e2e: E2E) -> None:
    created = await create(e2e, "cedar-law.test", "carl@cedar-law.test", company="Cedar Law")
    await e2e.api.patch(f"/api/leads/{created['id']}", json={"status": "retargeted"})
    prefix = e2e.config.topic_prefix
    bootstrap = e2e.config.kafka_bootstrap

    async def seen() -> bool:
        upserts = await read_topic(bootstrap, f"{prefix}{LEAD_UPSERTED.name}", expected=100_000, timeout_s=2)
        changes = await read_topic(bootstrap, f"{prefix}{LEAD_STATUS_CHANGED.name}", expected=100_000, timeout_s=2)
        mine = [json.loads(r.value) for r in upserts if r.key == created["id"].encode()]
        moved = [json.loads(r.value) for r in changes if r.key == created["id"].encode()]
        return len(mine) >= 2 and any(m["data"]["to_status"] == "retargeted" for m in moved)

    await until(seen, "LeadUpserted and LeadStatusChanged for the lead")


OPERATOR_STEPS = [
    {"variations": [
        {"subject": "{{random|Quick question|A thought}} for {{company_name}}",
         "body": "<p>{{random|Hi|Hello}} {{fallback|{{first_name}}|there}},</p>"
                 "<p>{% if job_title != blank %}As {{job_title}}, you{% else %}You{% endif %} may like this: "
                 "{{top_issue}} (grade {{custom_audit_grade}}).</p><p>{{email_body_1}}</p><p>{{audit_url}}</p>"
                 "<p>{{sender_first_name}}, {{pipl_day_of_week}}</p>"},
        {"subject": "{{company_name}}: {{custom_top_issue}}",
         "body": "<p>{% unless first_name == blank %}Dear {{first_name}}{% endunless %}</p><p>{{email_body_1}}</p>"},
    ]},
    {"variations": [{"subject": "", "body": "<p>{{email_body_2}}</p><p>{{email_cta_2}}</p>"}]},
    {"variations": [{"subject": "", "body": "<p>{{email_body_3}}</p><p>{{sender_name}}</p>"}]},
]


async def test_operator_templates_through_every_service_enrol_only_complete_leads_and_send_nothing_empty(
        e2e: E2E) -> None:
    """Campaigns an operator writes (Liquid, fallback, spintax, custom_ tokens, job title, 3 steps, 2 variations,
    a token nobody fills), pushed through the real services; the simulator judges every variation it could send."""
    operator = (await e2e.sim.post("/_sim/campaigns", json={"name": "E2E operator", "sequences": OPERATOR_STEPS}))
    assert operator.status_code == 200, operator.text
    operator_id = operator.json()["id"]
    unknown = await e2e.sim.post("/_sim/campaigns", json={"name": "E2E unknown token", "sequences": [
        {"variations": [{"subject": "Hi {{first_name}}", "body": "<p>{{opening_line}}</p><p>{{email_body_1}}</p>"}]}]})
    unknown_id = unknown.json()["id"]
    await e2e.sim.post("/_sim/config", json={"judge_all_variants": True})
    complete = await create(e2e, "acme-plumbing.test", "arjun.e2e@acme-plumbing.test", company="Acme Plumbing")
    await e2e.api.patch(f"/api/leads/{complete['id']}", json={"contact": {"title": "Director"}})
    no_title = await create(e2e, "bluebird-dental.test", "bea.e2e@bluebird-dental.test", company="Bluebird Dental")
    r = await e2e.api.post("/api/leads", json={"companyName": "Cedar Law", "domain": "cedar-law.test",
                                               "contact": {"email": "nameless.e2e@cedar-law.test"}})
    nameless = r.json()
    ids = [complete["id"], no_title["id"], nameless["id"]]
    for lead_id in ids:
        assert (await e2e.api.post(f"/api/leads/{lead_id}/audits")).status_code == 202
    for lead_id in ids:
        await status_becomes(e2e, lead_id, "email_generated", timeout_s=90)

    preview = (await e2e.api.get(f"/api/leads/{complete['id']}/plusvibe/preview",
                                 params={"campaignId": operator_id})).json()
    assert preview["ready"] is True, preview["refusal"]
    assert len(preview["steps"]) == 3
    assert "Director" in preview["steps"][0]["variations"][0]["body"]["html"]

    # The operator campaign renders for all three: fallback, Liquid branch and spintax need no missing value.
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": operator_id, "leadIds": ids})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["enrolled"]) == sorted(ids)
    # The campaign with {{first_name}} outside a fallback and a token nobody fills: refused, nothing enrolled.
    r = await e2e.api.post("/api/plusvibe/leads/push", json={"campaignId": unknown_id, "leadIds": ids})
    assert r.status_code == 409
    refused = {item["leadId"]: item for item in r.json()["refused"]}
    assert set(refused) == set(ids)
    assert refused[nameless["id"]]["reason"] == "variables_empty"
    assert refused[complete["id"]]["reason"] == "template_variable_unknown"
    assert refused[complete["id"]]["token"] == "{{opening_line}}"

    sent = (await e2e.sim.post("/_sim/tick", json={"count": 8})).json()["sent"]
    mine = [m for m in sent if m["campaign_id"] == operator_id]
    assert len(mine) == 9  # 3 leads × 3 steps
    assert not any("{{" in m["subject"] + m["body"] or "{%" in m["body"] for m in mine)
    first_steps = {m["email"]: m for m in mine if m["step"] == 1}
    assert "Acme Plumbing" in first_steps["arjun.e2e@acme-plumbing.test"]["subject"]
    empty = [m for m in (await e2e.sim.get("/_sim/empty-placeholders")).json()
             if m["campaign_id"] in (operator_id, unknown_id)]
    assert empty == []
    await e2e.sim.post("/_sim/config", json={"judge_all_variants": False})
