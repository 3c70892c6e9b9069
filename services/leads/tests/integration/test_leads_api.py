"""The leads HTTP API: CRUD, statuses, history, legacy normalisation, Start audit, and its error answers."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from leads_testkit import Harness
from sqlalchemy import text

from contracts.topics import AUDIT_REQUESTED
from servicekit.testing import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_every_route_but_health_needs_an_api_key(harness: Harness) -> None:
    bare = httpx.AsyncClient(transport=harness.client._transport, base_url="http://leads")
    async with bare:
        assert (await bare.get("/health/live")).status_code == 200
        r = await bare.get("/api/leads")
        assert r.status_code == 401
        assert r.json()["reason"] == "api_key_missing"
        r = await bare.get("/api/leads", headers={"X-API-Key": "wrong"})
        assert r.status_code == 401
        assert r.json()["reason"] == "api_key_invalid"


async def test_creates_reads_lists_and_filters_leads(harness: Harness) -> None:
    created = await harness.create_lead(companyName=None, domain="https://WWW.Shop.test/about?x=1")
    assert created["domain"] == "www.shop.test"
    assert created["title"] == "www.shop.test"
    assert created["status"] == "new"
    assert created["statusBadge"] == "New"
    for i in range(30):
        await harness.create_lead(companyName=f"Company {i:02d}", domain=f"c{i}.test")
    page1 = (await harness.client.get("/api/leads")).json()
    assert page1["total"] == 31
    assert len(page1["items"]) == 25
    assert page1["pageSize"] == 25
    page2 = (await harness.client.get("/api/leads", params={"page": 2})).json()
    assert len(page2["items"]) == 6
    found = (await harness.client.get("/api/leads", params={"q": "company 07"})).json()
    assert [i["companyName"] for i in found["items"]] == ["Company 07"]
    by_name = (await harness.client.get("/api/leads", params={"sort": "company_name", "order": "asc"})).json()
    names = [i["companyName"] for i in by_name["items"] if i["companyName"]]
    assert names == sorted(names)


async def test_bad_input_gets_a_4xx_with_a_reason_and_writes_nothing(harness: Harness) -> None:
    for body in ({"domain": "not a domain!"}, {"contact": {"email": "nope"}}, {"unexpected": 1},
                 {"domain": "user:pw@evil.test"}):
        r = await harness.client.post("/api/leads", json=body)
        assert r.status_code == 422, body
        assert r.json()["reason"] == "invalid_request"
    r = await harness.client.post("/api/leads", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert (await harness.client.get("/api/leads")).json()["total"] == 0
    r = await harness.client.get(f"/api/leads/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.json()["reason"] == "lead_not_found"
    assert (await harness.client.get("/api/leads/not-a-uuid")).status_code == 404
    lead = await harness.create_lead()
    r = await harness.client.patch(f"/api/leads/{lead['id']}", json={"status": "sent"})
    assert r.status_code == 422
    assert r.json()["reason"] == "status_not_selectable"
    r = await harness.client.patch(f"/api/leads/{lead['id']}", json={"status": "bogus"})
    assert r.json()["reason"] == "status_unknown"
    assert (await harness.lead(lead["id"]))["version"] == lead["version"]


async def test_operator_status_change_applies_and_is_recorded_in_history(harness: Harness) -> None:
    lead = await harness.create_lead()
    r = await harness.client.patch(f"/api/leads/{lead['id']}", json={"status": "converted", "notes": "won"})
    assert r.status_code == 200
    assert r.json()["status"] == "converted"
    assert r.json()["notes"] == "won"
    r = await harness.client.patch(f"/api/leads/{lead['id']}", json={"status": "new"})
    assert r.json()["status"] == "new"  # operator changes always apply, even backwards
    history = (await harness.client.get(f"/api/leads/{lead['id']}/history")).json()
    assert [(h["fromStatus"], h["toStatus"]) for h in history] == [(None, "new"), ("new", "converted"),
                                                                     ("converted", "new")]
    assert history[1]["actor"] == "operator:tester"


async def test_status_catalogue_serves_both_label_sets_and_hides_legacy_from_the_dropdown(harness: Harness) -> None:
    statuses = {s["value"]: s for s in (await harness.client.get("/api/lead-statuses")).json()}
    assert statuses["audit_complete"]["badgeLabel"] == "Audited"
    assert statuses["audit_complete"]["dropdownLabel"] == "audit complete"
    assert statuses["sent"]["badgeLabel"] == "Sent (legacy)"
    assert statuses["sent"]["selectable"] is False
    assert statuses["sent"]["dropdownLabel"] is None


async def test_legacy_sent_is_shown_as_legacy_and_normalised_to_email_sent(harness: Harness) -> None:
    lead = await harness.create_lead()
    async with harness.service.runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE leads SET status = 'sent' WHERE id = :id"), {"id": uuid.UUID(lead["id"])})
    shown = await harness.lead(lead["id"])
    assert shown["statusBadge"] == "Sent (legacy)"
    assert shown["statusDropdownLabel"] is None
    r = await harness.client.post(f"/api/leads/{lead['id']}/normalise-status")
    assert r.json()["status"] == "email_sent"
    history = (await harness.client.get(f"/api/leads/{lead['id']}/history")).json()
    assert history[-1]["fromStatus"] == "sent"
    assert history[-1]["toStatus"] == "email_sent"


async def test_start_audit_refuses_a_lead_without_a_usable_domain(harness: Harness) -> None:
    for domain in (None, "unknown"):
        lead = await harness.create_lead(domain=domain)
        r = await harness.client.post(f"/api/leads/{lead['id']}/audits")
        assert r.status_code == 422
        assert r.json()["reason"] == "domain_missing"
        assert (await harness.lead(lead["id"]))["status"] == "new"


async def test_start_audit_queues_the_lead_and_publishes_audit_requested(harness: Harness) -> None:
    lead = await harness.create_lead()
    r = await harness.client.post(f"/api/leads/{lead['id']}/audits")
    assert r.status_code == 202
    run_id = r.json()["auditRunId"]
    shown = await harness.lead(lead["id"])
    assert shown["status"] == "audit_queued"
    assert shown["statusBadge"] == "Audit Queued"
    assert shown["audit"]["auditRunId"] == run_id
    records = await read_topic(harness.bootstrap_servers, harness.topic(AUDIT_REQUESTED), expected=1000, timeout_s=5)
    mine = [json.loads(r.value) for r in records if json.loads(r.value)["lead_id"] == lead["id"]]
    assert len(mine) == 1
    assert mine[0]["data"]["audit_run_id"] == run_id
    assert mine[0]["data"]["domain"] == "acme-bakery.test"


async def test_metrics_expose_consumers_dlq_outbox_and_http_latency(harness: Harness) -> None:
    await harness.create_lead()
    r = await harness.client.get("/metrics")
    assert r.status_code == 200
    text = r.text
    assert "outbox_backlog" in text
    assert 'http_request_duration_seconds_count{method="POST",route="/api/leads",status="201"}' in text
    assert 'consumer_records_total{group="' in text  # the consumers registered by the bootstrap, by outcome
    assert "kafka_dlq_depth" in text
