"""Push to PlusVibe against the simulator: the readiness guard (409 with every refused lead), enrolment with
every merge variable in the same call, idempotency, paused campaigns, partial pushes, complete and remove."""

from __future__ import annotations

import json
from typing import Any

import pytest
from leads_testkit import Harness, audit_completed, parse_time, writeback_completed

from contracts.topics import AUDIT_COMPLETED, LEAD_PUSHED, WRITEBACK_COMPLETED, WRITEBACK_REQUESTED
from plusvibe.simulator.faults import FaultRule
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _ready_lead(harness: Harness, steps: int = 3) -> dict[str, Any]:
    lead = await harness.create_lead()
    run_id = (await harness.client.post(f"/api/leads/{lead['id']}/audits")).json()["auditRunId"]
    at = parse_time((await harness.lead(lead["id"]))["audit"]["requestedAt"])
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead["id"], run_id, at, steps=steps))

    async def generated() -> bool:
        return (await harness.lead(lead["id"]))["status"] == "email_generated"

    await wait_until(generated, what="email_generated")
    return await harness.lead(lead["id"])


def _sim_leads(harness: Harness, campaign_id: str) -> list[dict[str, Any]]:
    state = harness.sim.state
    return [lead for lead in state.leads.values() if lead.get("campaign_id") == campaign_id]


async def test_push_is_refused_with_every_reason_and_enrols_nothing(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    fresh = await harness.create_lead()
    queued = await harness.create_lead()
    await harness.client.post(f"/api/leads/{queued['id']}/audits")
    no_email = await harness.create_lead(contact={"firstName": "Bo"})
    ready = await _ready_lead(harness)
    bounced = await harness.create_lead()
    await harness.client.patch(f"/api/leads/{bounced['id']}", json={"status": "bounced"})
    r = await harness.client.post("/api/plusvibe/leads/push", json={
        "campaignId": campaign, "leadIds": [fresh["id"], queued["id"], no_email["id"], ready["id"], bounced["id"]]})
    assert r.status_code == 409
    body = r.json()
    assert body["reason"] == "leads_not_ready"
    refused = {item["leadId"]: item for item in body["refused"]}
    assert refused[fresh["id"]]["reason"] == "not_audited"
    assert refused[fresh["id"]]["remedy"] == "start_audit"
    assert refused[queued["id"]]["reason"] == "not_audited"
    assert refused[queued["id"]]["status"] == "audit_queued"
    assert refused[no_email["id"]]["reason"] == "not_audited"
    assert refused[bounced["id"]]["reason"] == "bounced"
    assert refused[bounced["id"]]["remedy"] == "re_audit_or_remove"
    assert ready["id"] not in refused
    assert all(item["message"] for item in body["refused"])
    assert _sim_leads(harness, campaign) == []
    assert (await harness.lead(ready["id"]))["campaignId"] is None


async def test_audit_complete_without_writeback_is_refused_for_re_audit(harness: Harness) -> None:
    lead = await harness.create_lead()
    await harness.client.patch(f"/api/leads/{lead['id']}", json={"status": "audit_complete"})
    r = await harness.client.post("/api/plusvibe/leads/push",
                                  json={"campaignId": harness.sim.campaigns["active"], "leadIds": [lead["id"]]})
    assert r.status_code == 409
    assert r.json()["refused"][0]["reason"] == "writeback_missing"
    assert r.json()["refused"][0]["remedy"] == "re_audit"


async def test_ready_leads_are_enrolled_with_every_variable_in_the_same_call_and_only_once(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    leads = [await _ready_lead(harness) for _ in range(3)]
    ids = [lead["id"] for lead in leads]
    r = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": ids})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["enrolled"]) == sorted(ids)
    enrol_calls = harness.sim.state.request_log("/api/v1/lead/add")
    assert len(enrol_calls) == 1  # one batch
    sim_leads = {lead["email"]: lead for lead in _sim_leads(harness, campaign)}
    for lead in leads:
        stored = lead["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
        custom = sim_leads[lead["contact"]["email"]]["custom_variables"]
        assert {k: custom.get(k) for k in stored} == stored  # every merge variable arrived with the enrolment
        assert (await harness.lead(lead["id"]))["campaignId"] == campaign
    # Pushing the same leads again enrols nobody twice.
    again = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": ids})
    assert again.status_code == 200
    assert again.json()["enrolled"] == []
    assert sorted(again.json()["alreadyEnrolled"]) == sorted(ids)
    assert len(harness.sim.state.request_log("/api/v1/lead/add")) == 1
    assert len(_sim_leads(harness, campaign)) == 3
    pushed = await read_topic(harness.bootstrap_servers, harness.topic(LEAD_PUSHED), expected=10_000, timeout_s=3)
    mine = [json.loads(p.value)["data"] for p in pushed if json.loads(p.value)["data"]["lead_id"] in ids]
    assert sorted(m["lead_id"] for m in mine) == sorted(ids)


async def test_the_simulator_send_loop_renders_no_empty_placeholder_after_a_push(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    lead = await _ready_lead(harness, steps=3)
    r = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead["id"]]})
    assert r.status_code == 200
    sent = []
    for _ in range(3):
        sent += harness.sim.state.tick()
    assert len(sent) == 3  # all three steps went out...
    assert harness.sim.state.empty_placeholders == []  # ...and none with an empty placeholder


async def test_a_paused_campaign_and_an_unknown_campaign_are_refused(harness: Harness) -> None:
    lead = await _ready_lead(harness)
    r = await harness.client.post("/api/plusvibe/leads/push",
                                  json={"campaignId": harness.sim.campaigns["paused"], "leadIds": [lead["id"]]})
    assert r.status_code == 409
    assert r.json()["reason"] == "campaign_paused"
    r = await harness.client.post("/api/plusvibe/leads/push",
                                  json={"campaignId": "000000000000000000000000", "leadIds": [lead["id"]]})
    assert r.status_code == 404
    assert r.json()["reason"] == "campaign_not_found"


async def test_only_campaigns_that_can_take_leads_are_offered_and_the_others_are_refused_with_a_reason(
        harness: Harness) -> None:
    state = harness.sim.state
    archived = state.create_campaign({"name": "Old archive", "status": "ARCHIVED", "sequences": []})
    draft = state.create_campaign({"name": "Not launched", "status": "INACTIVE", "sequences": []})
    follow_up = state.create_campaign({"name": "Follow-up", "campaign_type": "subseq", "sequences": [],
                                       "parent_camp_id": harness.sim.campaigns["active"]})
    listed = {c["id"]: c for c in (await harness.client.get("/api/plusvibe/campaigns")).json()}
    expected = {harness.sim.campaigns["active"]: None, draft: None, harness.sim.campaigns["paused"]: "campaign_paused",
                harness.sim.campaigns["completed"]: "campaign_completed", archived: "campaign_archived",
                follow_up: "campaign_subsequence"}
    assert {cid: listed[cid]["reason"] for cid in expected} == expected
    assert all(listed[cid]["canTakeLeads"] == (reason is None) for cid, reason in expected.items())
    assert all(listed[cid]["message"] for cid, reason in expected.items() if reason)
    lead = await _ready_lead(harness)
    for cid, reason in expected.items():
        if reason is None:
            continue
        r = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": cid, "leadIds": [lead["id"]]})
        assert (r.status_code, r.json()["reason"]) == (409, reason), r.text
        assert r.json()["message"] == listed[cid]["message"]
    assert state.request_log("/api/v1/lead/add") == []  # nothing was sent to PlusVibe for a refused campaign
    assert (await harness.lead(lead["id"]))["campaignId"] is None


async def test_partial_push_enrols_the_ready_leads_and_reports_the_rest(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    ready = await _ready_lead(harness)
    fresh = await harness.create_lead()
    r = await harness.client.post("/api/plusvibe/leads/push?partial=true",
                                  json={"campaignId": campaign, "leadIds": [ready["id"], fresh["id"]]})
    assert r.status_code == 200
    assert r.json()["enrolled"] == [ready["id"]]
    assert [x["leadId"] for x in r.json()["refused"]] == [fresh["id"]]


async def test_writeback_complete_and_remove_need_their_preconditions(harness: Harness) -> None:
    campaign = harness.sim.campaigns["active"]
    lead = await _ready_lead(harness)
    r = await harness.client.post(f"/api/leads/{lead['id']}/plusvibe/writeback")
    assert r.status_code == 409
    assert r.json()["reason"] == "campaign_link_missing"
    r = await harness.client.delete(f"/api/leads/{lead['id']}/plusvibe")
    assert r.status_code == 409
    await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead["id"]]})
    r = await harness.client.post(f"/api/leads/{lead['id']}/plusvibe/writeback")
    assert r.status_code == 409  # linked, but its audit has not completed yet
    assert r.json()["reason"] == "audit_not_completed"
    run_id, at = lead["audit"]["auditRunId"], parse_time(lead["audit"]["requestedAt"])
    await harness.publish(AUDIT_COMPLETED, audit_completed(lead["id"], run_id, at))

    async def audited() -> bool:
        return (await harness.lead(lead["id"]))["audit"]["status"] == "completed"

    await wait_until(audited, what="audit completed")
    r = await harness.client.post(f"/api/leads/{lead['id']}/plusvibe/writeback")
    assert r.status_code == 202
    request_id = r.json()["requestId"]
    records = await read_topic(harness.bootstrap_servers, harness.topic(WRITEBACK_REQUESTED), expected=10_000,
                               timeout_s=3)
    assert request_id in [json.loads(x.value)["data"]["request_id"] for x in records]
    r = await harness.client.post(f"/api/leads/{lead['id']}/plusvibe/complete")
    assert r.status_code == 409
    assert r.json()["reason"] == "status_not_completable"
    await harness.client.patch(f"/api/leads/{lead['id']}", json={"status": "replied"})
    r = await harness.client.post(f"/api/leads/{lead['id']}/plusvibe/complete")
    assert r.status_code == 200
    assert len(harness.sim.state.request_log("/api/v1/lead/update/status")) == 1
    r = await harness.client.delete(f"/api/leads/{lead['id']}/plusvibe")
    assert r.status_code == 200
    assert (await harness.lead(lead["id"]))["campaignId"] is None
    assert _sim_leads(harness, campaign) == []


async def test_campaigns_and_integration_status_never_reveal_the_key(harness: Harness) -> None:
    campaigns = (await harness.client.get("/api/plusvibe/campaigns")).json()
    assert {c["status"] for c in campaigns} >= {"ACTIVE", "PAUSED"}
    main = next(c for c in campaigns if c["id"] == harness.sim.campaigns["active"])
    assert main["steps"] == 3
    r = await harness.client.get("/api/plusvibe/integration")
    assert r.json()["configured"] is True
    assert r.json()["keyValid"] is True
    assert r.json()["workspaceName"] == "Demo agency"
    assert harness.sim.state.api_key not in r.text


async def test_an_enrolment_applied_then_cut_off_is_retried_safely_and_recorded_once(harness: Harness) -> None:
    """PlusVibe applies `/lead/add` and the connection drops before the answer (an ambiguous call): the push
    calls again — PlusVibe never adds an address twice to one campaign — and the enrolment is recorded once."""
    campaign = harness.sim.campaigns["active"]
    lead = await _ready_lead(harness)
    harness.sim.state.faults.add(FaultRule(path="/api/v1/lead/add", method="POST", drop="after", times=1))
    r = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["enrolled"] == [lead["id"]]
    calls = harness.sim.state.request_log("/api/v1/lead/add")
    assert len(calls) == 2  # the cut-off call and its retry
    enrolled = [m for m in _sim_leads(harness, campaign) if m["email"] == lead["contact"]["email"]]
    assert len(enrolled) == 1  # one membership, not two
    stored = lead["plusvibeLeadData"]["lastOutboundWriteback"]["variables"]
    assert {k: enrolled[0]["custom_variables"].get(k) for k in stored} == stored
    again = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign,
                                                                        "leadIds": [lead["id"]]})
    assert again.json()["alreadyEnrolled"] == [lead["id"]]
    assert len(harness.sim.state.request_log("/api/v1/lead/add")) == 2  # the ledger: no third call
    pushed = await read_topic(harness.bootstrap_servers, harness.topic(LEAD_PUSHED), expected=10_000, timeout_s=3)
    assert [json.loads(p.value)["data"]["lead_id"] for p in pushed].count(lead["id"]) == 1


async def test_an_operators_custom_fields_fill_their_templates_and_an_empty_or_missing_one_is_refused(
        harness: Harness) -> None:
    state = harness.sim.state
    campaign = state.create_campaign({"name": "Custom fields", "status": "ACTIVE", "sequences": [{"variations": [{
        "subject": "{{email_subject_1}}",
        "body": "<p>{{email_body_1}}</p><p>For {{industry}} shops in {{custom_region}}.</p><p>{{email_cta_1}}</p>"}]}]})
    filled, empty, missing = [await _ready_lead(harness, steps=1) for _ in range(3)]
    for lead, fields in ((filled, {"industry": "bakery", "region": "the North"}),
                         (empty, {"industry": "  ", "region": "the North"}), (missing, {"region": "the North"})):
        r = await harness.client.patch(f"/api/leads/{lead['id']}", json={"customFields": fields})
        assert r.status_code == 200, r.text
    assert (await harness.lead(filled["id"]))["customFields"] == {"industry": "bakery", "region": "the North"}
    r = await harness.client.post("/api/plusvibe/leads/push", params={"partial": "true"}, json={
        "campaignId": campaign, "leadIds": [filled["id"], empty["id"], missing["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["enrolled"] == [filled["id"]]
    refused = {item["leadId"]: item for item in r.json()["refused"]}
    assert set(refused) == {empty["id"], missing["id"]}
    assert all("industry" in " ".join(item["keys"]) + item["message"] for item in refused.values())
    sent = state.tick()
    assert [m["email"] for m in sent] == [filled["contact"]["email"]]
    assert state.empty_placeholders == []  # the simulator rendered every placeholder with a value
    assert "For bakery shops in the North." in sent[0]["body"]


@pytest.mark.parametrize("fields", [{"Industry": "x"}, {"audit_grade": "A"}, {"email_body_2": "x"},
                                    {"custom_region": "x"}, {"first_name": "x"}, {"industry": 3},
                                    {"industry": "x" * 1001}, {f"f{i}": "x" for i in range(31)}])
async def test_custom_fields_the_platform_fills_or_cannot_store_are_refused_and_nothing_changes(
        harness: Harness, fields: dict[str, Any]) -> None:
    lead = await harness.create_lead(customFields={"industry": "bakery"})
    r = await harness.client.patch(f"/api/leads/{lead['id']}", json={"customFields": fields})
    assert r.status_code == 422, r.text
    assert r.json()["reason"] == "invalid_request" and "customFields" in r.json()["message"]
    assert (await harness.lead(lead["id"]))["customFields"] == {"industry": "bakery"}
    created = await harness.client.post("/api/leads", json={"companyName": "X", "customFields": fields})
    assert created.status_code == 422
