"""The guard as a dry run of the send, through the leads API against the simulator: an operator's own templates
(job title, fallback, Liquid, `custom_` tokens, unknown variables), the structured 409, the send preview, broken
templates, the storage rule under both of the simulator's rules, and campaigns edited after enrolment."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from leads_testkit import Harness, parse_time, writeback_completed

from contracts.topics import LEAD_SEND_AT_RISK, WRITEBACK_COMPLETED, WRITEBACK_REQUESTED, TopicSpec
from leads.handlers.check_campaign_templates import check_campaign_templates
from servicekit.testing import read_topic, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

OPERATOR_BODY = (
    "<p>{{random|Hi|Hello}} {{fallback|{{first_name}}|there}},</p>"
    "<p>{% if job_title != blank %}As {{job_title}} at {{company_name}}, you{% else %}You{% endif %} "
    "will want to see this: {{top_issue}} (grade {{custom_audit_grade}}).</p><p>{{email_body_1}}</p>"
    "<p>{{audit_url}}</p><p>{{sender_first_name}}</p>"
)


async def _ready_lead(harness: Harness, **overrides: Any) -> dict[str, Any]:
    lead = await harness.create_lead(**overrides)
    run_id = (await harness.client.post(f"/api/leads/{lead['id']}/audits")).json()["auditRunId"]
    at = parse_time((await harness.lead(lead["id"]))["audit"]["requestedAt"])
    await harness.publish(WRITEBACK_COMPLETED, writeback_completed(lead["id"], run_id, at, steps=1))

    async def generated() -> bool:
        return (await harness.lead(lead["id"]))["status"] == "email_generated"

    await wait_until(generated, what="email_generated")
    return await harness.lead(lead["id"])


def _campaign(harness: Harness, *steps: list[tuple[str, str]], name: str = "Operator campaign") -> str:
    return harness.sim.state.add_campaign(harness.sim.workspace_id, name, [list(step) for step in steps],
                                          status="ACTIVE")


def _enrolled(harness: Harness, campaign_id: str) -> dict[str, dict[str, Any]]:
    return {lead["email"]: lead for lead in harness.sim.state.leads.values() if lead["campaign_id"] == campaign_id}


async def _events(harness: Harness, spec: TopicSpec, lead_id: str, expected: int) -> list[dict[str, Any]]:
    async def arrived() -> bool:
        return len(await _read(harness, spec, lead_id)) >= expected

    await wait_until(arrived, what=f"{expected} {spec.event_type} for the lead", timeout_s=15)
    return await _read(harness, spec, lead_id)


async def _read(harness: Harness, spec: TopicSpec, lead_id: str) -> list[dict[str, Any]]:
    records = await read_topic(harness.bootstrap_servers, harness.topic(spec), expected=10_000, timeout_s=1)
    data = [json.loads(record.value)["data"] for record in records]
    return [d for d in data if d["lead_id"] == lead_id]


def _send_every_step(harness: Harness, steps: int) -> None:
    state = harness.sim.state
    state.judge_all_variants = True
    for _ in range(steps * 2 + 1):
        state.tick()


async def test_operator_templates_enrol_a_complete_lead_and_the_send_loop_renders_nothing_empty(
        harness: Harness) -> None:
    campaign = _campaign(harness, [("Quick question about {{company_name}}", OPERATOR_BODY),
                                   ("{{fallback|{{first_name}}|Hello}}, about your site", OPERATOR_BODY)],
                         [("", "<p>{{email_body_2}}</p><p>{{pipl_day_of_week}}</p>")])
    with_title = await _ready_lead(harness, contact={"firstName": "Ada", "email": "ada.t@acme.test",
                                                     "title": "Head of Marketing"})
    without_title = await _ready_lead(harness, contact={"email": "no.title@acme.test"})
    r = await harness.client.post("/api/plusvibe/leads/push",
                                  json={"campaignId": campaign, "leadIds": [with_title["id"], without_title["id"]]})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["enrolled"]) == sorted([with_title["id"], without_title["id"]])
    stored = _enrolled(harness, campaign)
    assert stored["ada.t@acme.test"]["custom_variables"]["job_title"] == "Head of Marketing"
    assert stored["ada.t@acme.test"]["custom_variables"]["custom_audit_grade"] == "C"
    assert stored["ada.t@acme.test"]["custom_variables"]["email_body_2"]  # generated for the 2-step campaign
    _send_every_step(harness, 2)
    sent = [m for m in harness.sim.state.sent if m["campaign_id"] == campaign]
    assert len(sent) == 4
    assert [m for m in harness.sim.state.empty_placeholders if m["campaign_id"] == campaign] == []


async def test_refusals_name_the_token_step_variation_and_part_and_enrol_nothing(harness: Harness) -> None:
    campaign = _campaign(harness, [("Hi {{first_name}}", "<p>{{email_body_1}}</p>"),
                                   ("Hi", "<p>As {{job_title}}</p>")],
                         [("", "<p>{{opening_line}}</p>")])
    no_name = await _ready_lead(harness, contact={"email": "noname@acme.test", "title": "CEO"})
    r = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [no_name["id"]]})
    assert r.status_code == 409, r.text
    (refused,) = r.json()["refused"]
    assert (refused["reason"], refused["remedy"]) == ("variables_empty", "edit_lead")
    assert (refused["token"], refused["step"], refused["variation"], refused["part"]) == (
        "{{first_name}}", 1, "A", "subject")
    problems = {(p["token"], p["step"], p["variation"], p["part"], p["reason"]) for p in refused["problems"]}
    assert problems == {("{{first_name}}", 1, "A", "subject", "variables_empty"),
                        ("{{opening_line}}", 2, "A", "body", "template_variable_unknown")}
    assert _enrolled(harness, campaign) == {}
    partial = await harness.client.post("/api/plusvibe/leads/push?partial=true",
                                        json={"campaignId": campaign, "leadIds": [no_name["id"]]})
    assert partial.status_code == 200 and partial.json()["enrolled"] == []
    assert partial.json()["refused"][0]["problems"]


async def test_send_preview_renders_every_step_and_variation_with_problems_marked(harness: Harness) -> None:
    campaign = _campaign(harness, [("For {{job_title}}", "<p>Hi {{fallback|{{first_name}}|there}}</p>"),
                                   ("Hello {{company_name}}", "<p>{{opening_line}}</p>")])
    lead = await _ready_lead(harness, contact={"firstName": "Ada", "email": "preview@acme.test"})
    r = await harness.client.get(f"/api/leads/{lead['id']}/plusvibe/preview", params={"campaignId": campaign})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ready"] is False and body["storageRule"] == "verbatim"
    (step,) = body["steps"]
    a, b = step["variations"]
    assert a["subject"]["text"] == "For " and 'data-token="{{job_title}}"' in a["subject"]["marked"]
    assert a["body"]["html"] == "<p>Hi Ada</p>" and "pv-problem" not in a["body"]["marked"]
    assert b["subject"]["text"] == "Hello Acme Bakery"
    assert 'data-token="{{opening_line}}"' in b["body"]["marked"]
    assert {p["token"] for p in body["problems"]} == {"{{job_title}}", "{{opening_line}}"}
    assert body["refusal"]["reason"] == "variables_empty"
    missing = await harness.client.get(f"/api/leads/{lead['id']}/plusvibe/preview", params={"campaignId": "nope"})
    assert missing.status_code == 404 and missing.json()["reason"] == "campaign_not_found"
    assert (await harness.client.get(f"/api/leads/{lead['id']}/plusvibe/preview")).status_code == 422


@pytest.mark.parametrize("template", ["<p>{{email_body_1</p>", "{% if job_title %}no end"])
async def test_a_malformed_template_is_a_409_naming_the_step_never_a_500(harness: Harness, template: str) -> None:
    campaign = _campaign(harness, [("ok", "<p>ok</p>")], [("", template)])
    lead = await _ready_lead(harness)
    for response in (
        await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead["id"]]}),
        await harness.client.get(f"/api/leads/{lead['id']}/plusvibe/preview", params={"campaignId": campaign}),
    ):
        assert response.status_code == 409, response.text
        assert response.json()["reason"] == "campaign_template_invalid"
        assert (response.json()["step"], response.json()["part"]) == (2, "body")
    assert _enrolled(harness, campaign) == {}


@pytest.mark.parametrize("sim_rule", ["verbatim", "prefixed"])
async def test_storage_rule_is_detected_from_a_lead_written_and_then_governs_plain_tokens(
        harness: Harness, sim_rule: str) -> None:
    harness.service.settings.plusvibe_custom_storage = "auto"
    harness.sim.state.custom_storage = sim_rule
    plain = _campaign(harness, [("Grade {{audit_grade}}", "<p>{{email_body_1}}</p>")], name="plain tokens")
    prefixed = _campaign(harness, [("Grade {{custom_audit_grade}}", "<p>{{custom_email_body_1}} {{first_name}}</p>")],
                         name="custom_ tokens")
    first, second = await _ready_lead(harness), await _ready_lead(harness)
    unknown = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": plain, "leadIds": [first["id"]]})
    assert unknown.status_code == 409
    assert unknown.json()["refused"][0]["reason"] == "custom_storage_unknown"
    # {{custom_K}} tokens render under either rule, so this push may go ahead; it teaches the rule.
    ok = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": prefixed, "leadIds": [first["id"]]})
    assert ok.status_code == 200, ok.text
    preview = await harness.client.get(f"/api/leads/{second['id']}/plusvibe/preview", params={"campaignId": plain})
    assert preview.json()["storageRule"] == sim_rule
    then = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": plain, "leadIds": [second["id"]]})
    if sim_rule == "verbatim":
        assert then.status_code == 200, then.text
    else:
        assert then.status_code == 409
        assert then.json()["refused"][0]["reason"] == "template_variable_unprefixed"
    _send_every_step(harness, 1)
    assert [m for m in harness.sim.state.empty_placeholders if m["campaign_id"] in (plain, prefixed)] == []


async def test_a_campaign_edited_after_enrolment_flags_the_lead_and_requests_a_writeback(harness: Harness) -> None:
    campaign = _campaign(harness, [("Hi {{first_name}}", "<p>{{email_body_1}}</p>")])
    lead = await _ready_lead(harness)
    r = await harness.client.post("/api/plusvibe/leads/push", json={"campaignId": campaign, "leadIds": [lead["id"]]})
    assert r.status_code == 200, r.text
    svc = harness.service

    async def check() -> Any:
        return await check_campaign_templates(svc.runtime.uow, svc.campaigns, configured_storage="verbatim",
                                              workspace_id=await svc.plusvibe_workspace_id())

    first = await check()
    assert first.flagged == []
    state = harness.sim.state
    with state.lock:  # the operator adds a step using a new body key and an unknown variable
        state.campaigns[campaign]["sequences"].append({"step": 2, "wait_time": 1, "variations": [
            {"variation": "A", "subject": "", "body": "<p>{{email_body_2}} {{opening_line}}</p>"}]})
    edited_at = time.monotonic()
    report = await check()
    detected_s = time.monotonic() - edited_at
    assert report.changed == [campaign]
    assert [str(i) for i in report.flagged] == [lead["id"]]
    assert [str(i) for i in report.refreshes] == [lead["id"]]
    risk = (await harness.lead(lead["id"]))["sendRisk"]
    assert risk["campaignId"] == campaign
    assert {p["token"] for p in risk["problems"]} == {"{{email_body_2}}", "{{opening_line}}"}
    at_risk = await _events(harness, LEAD_SEND_AT_RISK, lead["id"], 1)
    assert at_risk[0]["writeback_requested"] is True and at_risk[0]["resolved"] is False
    requested = await _events(harness, WRITEBACK_REQUESTED, lead["id"], 1)
    assert requested[0]["requested_by"] == "system:template-check"
    again = await check()
    assert again.flagged == [] and again.refreshes == []  # flagged once per edit, refresh asked once
    with state.lock:  # the operator removes the unknown variable again
        state.campaigns[campaign]["sequences"][1]["variations"][0]["body"] = "<p>See you</p>"
    cleared = await check()
    assert [str(i) for i in cleared.cleared] == [lead["id"]]
    assert (await harness.lead(lead["id"]))["sendRisk"] is None
    assert (await _events(harness, LEAD_SEND_AT_RISK, lead["id"], 2))[1]["resolved"] is True
    assert detected_s < 5


async def test_the_template_check_loop_detects_an_edit_within_its_interval(harness: Harness) -> None:
    campaign = _campaign(harness, [("Hi {{first_name}}", "<p>{{email_body_1}}</p>")])
    lead = await _ready_lead(harness)
    assert (await harness.client.post("/api/plusvibe/leads/push",
                                      json={"campaignId": campaign, "leadIds": [lead["id"]]})).status_code == 200
    svc = harness.service
    svc.settings.template_check_interval_s = 0.5
    stop = asyncio.Event()
    loop = svc.runtime.loops["template-check"].run
    task = asyncio.create_task(loop(stop))
    try:
        await asyncio.sleep(1.0)
        state = harness.sim.state
        with state.lock:
            state.campaigns[campaign]["sequences"][0]["variations"][0]["subject"] = "Hi {{nickname}}"
        edited = time.monotonic()

        async def flagged() -> bool:
            return (await harness.lead(lead["id"]))["sendRisk"] is not None

        await wait_until(flagged, what="send risk flagged", timeout_s=10)
        detection_s = time.monotonic() - edited
    finally:
        stop.set()
        await task
    print(f"\n[template-check] edit detected in {detection_s:.2f} s with a 0.5 s interval")
    assert detection_s < 3
