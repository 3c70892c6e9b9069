"""What the simulator stores for a lead (storage rules, documented fields), the rendering context, judge
mode, operator template editing and the demo's operator campaign (docs/TEMPLATES.md §1, §2)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plusvibe.simulator import SimulatorState
from plusvibe.simulator.__main__ import build_parser
from plusvibe.simulator.lead_fields import rendering_context
from plusvibe.testing import Sim


@pytest.fixture
async def api(sim: Sim) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=sim.base_url, headers={"x-api-key": sim.state.api_key}, trust_env=False
    ) as http:
        yield http


async def _add(api: httpx.AsyncClient, sim: Sim, campaign: str, *leads: dict[str, Any]) -> None:
    r = await api.post(
        "/lead/add", json={"workspace_id": sim.workspace_id, "campaign_id": campaign, "leads": list(leads)}
    )
    assert r.status_code == 200 and r.json()["leads_uploaded"] == len(leads), r.text


async def _lead_data(api: httpx.AsyncClient, sim: Sim, email: str) -> dict[str, Any]:
    r = await api.get("/lead/get", params={"workspace_id": sim.workspace_id, "email": email})
    assert r.status_code == 200
    return dict(r.json()[0]["lead_data"])


async def test_lead_add_stores_only_the_documented_fields(api: httpx.AsyncClient, sim: Sim) -> None:
    await _add(
        api,
        sim,
        sim.campaigns["active"],
        {
            "email": "doc@example.test",
            "first_name": "Ana",
            "city": "Lyon",
            "job_title": "CTO",
            "department": "IT",
            "industry": "Bakery",
            "state": "RA",
            "custom_variables": {"role": "CTO"},
        },
    )
    data = await _lead_data(api, sim, "doc@example.test")
    assert data["first_name"] == "Ana" and data["city"] == "Lyon" and data["role"] == "CTO"
    assert not {"job_title", "department", "industry", "state"} & set(data)


async def test_verbatim_rule_stores_keys_as_sent(api: httpx.AsyncClient, sim: Sim) -> None:
    await _add(api, sim, sim.campaigns["active"], {"email": "v@example.test", "custom_variables": {"audit_grade": "B"}})
    r = await api.post(
        "/lead/data/update",
        json={"workspace_id": sim.workspace_id, "email": "v@example.test", "variables": {"top_issue": "slow"}},
    )
    assert r.status_code == 200
    data = await _lead_data(api, sim, "v@example.test")
    assert data["audit_grade"] == "B" and data["top_issue"] == "slow" and "custom_audit_grade" not in data


async def test_prefixed_rule_always_adds_custom_and_lead_get_shows_the_stored_keys(
    api: httpx.AsyncClient, sim: Sim, control: httpx.AsyncClient
) -> None:
    config = await control.post("/config", json={"custom_storage": "prefixed"})
    assert config.json() == {"custom_storage": "prefixed", "judge_all_variants": False}
    await _add(
        api,
        sim,
        sim.campaigns["active"],
        {"email": "p@example.test", "first_name": "Ana", "custom_variables": {"audit_grade": "B", "custom_x": "1"}},
    )
    r = await api.post(
        "/lead/data/update",
        json={
            "workspace_id": sim.workspace_id,
            "email": "p@example.test",
            "variables": {"top_issue": "slow", "job_title": "CTO", "last_name": "Ruiz", "label": "INTERESTED"},
        },
    )
    assert r.status_code == 200
    data = await _lead_data(api, sim, "p@example.test")
    assert data["custom_audit_grade"] == "B" and data["custom_custom_x"] == "1"
    assert data["custom_top_issue"] == "slow" and data["custom_job_title"] == "CTO"
    assert data["first_name"] == "Ana" and data["last_name"] == "Ruiz" and data["label"] == "INTERESTED"
    assert not {"audit_grade", "custom_x", "top_issue", "job_title", "custom_last_name"} & set(data)


def _state_with(campaign: list[list[tuple[str, str]]], **settings: Any) -> tuple[SimulatorState, str, str]:
    state = SimulatorState(**settings)
    wid = state.add_workspace("w")
    state.add_mailbox(wid, "alex@sender.test", "Alex", "Moreau")
    return state, wid, state.add_campaign(wid, "c", campaign)


def _enrol(state: SimulatorState, wid: str, cid: str, *leads: dict[str, Any]) -> None:
    state.api_lead_add({"workspace_id": wid, "campaign_id": cid, "leads": list(leads)})


def test_prefixed_rule_renders_custom_tokens_and_leaves_bare_tokens_empty() -> None:
    state, wid, cid = _state_with([[("{{custom_grade}}", "{{grade}}|{{custom_grade}}")]], custom_storage="prefixed")
    _enrol(state, wid, cid, {"email": "a@example.test", "custom_variables": {"grade": "B"}})
    (sent,) = state.tick()
    assert sent["subject"] == "B" and sent["body"] == "|B"
    assert sent["problems"] == [{"step": 1, "variation": "A", "part": "body", "key": "grade"}]


def test_context_order_is_email_standard_custom_then_sender_fields() -> None:
    lead = {
        "email": "a@example.test",
        "first_name": "Ana",
        "city": "Lyon",
        "custom_variables": {"first_name": "Annie", "sender_first_name": "Mallory", "email": "x@example.test"},
    }
    mailbox = {"email": "alex@sender.test", "payload": {"name": {"first_name": "Alex", "last_name": "Moreau"}}}
    context = rendering_context(lead, mailbox)
    assert context["first_name"] == "Annie" and context["city"] == "Lyon" and context["email"] == "x@example.test"
    assert context["sender_first_name"] == "Alex" and context["sender_name"] == "Alex Moreau"
    assert context["sender_email"] == "alex@sender.test" and context["sender_signature"] == "Alex"
    mailbox["payload"]["signature"] = "Alex, Acme Web"  # type: ignore[index]
    assert rendering_context(lead, mailbox)["sender_signature"] == "Alex, Acme Web"
    only_last = {"email": "s@sender.test", "payload": {"name": {"first_name": "", "last_name": "Keller"}}}
    assert rendering_context(lead, only_last)["sender_name"] == "Keller"


def test_the_send_uses_the_mailbox_signature_and_liquid_sees_the_same_context() -> None:
    state = SimulatorState()
    wid = state.add_workspace("w")
    state.add_mailbox(wid, "alex@sender.test", "Alex", "Moreau", signature="Alex | Acme")
    body = "{% if sender_name == 'Alex Moreau' and role != blank %}{{role}}{% endif %} {{sender_signature}}"
    cid = state.add_campaign(wid, "c", [[("s", body)]])
    _enrol(state, wid, cid, {"email": "a@example.test", "custom_variables": {"role": "CTO"}})
    assert state.tick()[0]["body"] == "CTO Alex | Acme"


TWO_VARIATIONS = [[("{{a}}", "A body"), ("{{b}}", "B body")]]


def _send_all(judge: bool, template: list[list[tuple[str, str]]], leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    state, wid, cid = _state_with(template, judge_all_variants=judge)
    _enrol(state, wid, cid, *leads)
    return state.tick()


def test_judge_mode_finds_an_empty_in_a_variation_that_was_not_sent() -> None:
    leads = [{"email": f"l{i}@example.test", "custom_variables": {"a": "x"}} for i in range(12)]
    normal = {m["email"]: m for m in _send_all(False, TWO_VARIATIONS, leads)}
    judged = {m["email"]: m for m in _send_all(True, TWO_VARIATIONS, leads)}
    sent_a = [e for e, m in normal.items() if m["variation"] == "A"]
    assert sent_a and len(sent_a) < len(leads)  # both variations are picked by some lead
    for email in sent_a:
        assert normal[email]["problems"] == [] and normal[email]["empty_keys"] == []
        assert judged[email]["empty_keys"] == [] and judged[email]["subject"] == normal[email]["subject"]
        assert judged[email]["problems"] == [{"step": 1, "variation": "B", "part": "subject", "key": "b"}]


def test_judge_mode_finds_an_empty_in_a_random_option_that_was_not_picked() -> None:
    template = [[("Hello", "<p>{{random|Hi {{first_name}}|Hello}} there</p>")]]
    leads = [{"email": f"r{i}@example.test"} for i in range(12)]
    normal = {m["email"]: m for m in _send_all(False, template, leads)}
    judged = {m["email"]: m for m in _send_all(True, template, leads)}
    lucky = [e for e, m in normal.items() if m["body"] == "<p>Hello there</p>"]
    assert lucky and all(normal[e]["problems"] == [] for e in lucky)
    for email, message in judged.items():
        assert message["body"] == normal[email]["body"]
        assert message["problems"] == [{"step": 1, "variation": "A", "part": "body", "key": "first_name"}]


def test_empty_follow_up_subject_is_no_placeholder_and_records_carry_todays_keys() -> None:
    state, wid, cid = _state_with([[("S {{x}}", "b1")], [("", "b2 {{y}}")]], judge_all_variants=True)
    _enrol(state, wid, cid, {"email": "f@example.test", "custom_variables": {"x": "1"}})
    assert state.tick()[0]["problems"] == []
    (second,) = state.tick()
    assert second["subject"] == "Re: S 1"
    assert second["problems"] == [{"step": 2, "variation": "A", "part": "body", "key": "y"}]
    (record,) = state.empty_placeholders
    assert set(record) == {
        "tick", "email_id", "campaign_id", "email", "step", "variation", "subject", "body", "empty_keys",
        "sent_at", "problems",
    }  # fmt: skip
    assert record["empty_keys"] == ["y"] and record["step"] == 2


def test_a_malformed_template_is_sent_and_recorded_as_malformed() -> None:
    state, wid, cid = _state_with([[("Hi {{first_name", "{% if x %}")]])
    _enrol(state, wid, cid, {"email": "m@example.test", "first_name": "Ana"})
    (sent,) = state.tick()
    assert sent["empty_keys"] == ["<malformed>", "<malformed>"]
    assert [p["part"] for p in sent["problems"]] == ["subject", "body"]


async def test_patch_replaces_sequences_by_read_modify_write(api: httpx.AsyncClient, sim: Sim) -> None:
    cid = sim.campaigns["paused"]
    params = {"workspace_id": sim.workspace_id, "campaign_id": cid}
    before = (await api.get("/campaign/list-all", params=params)).json()[0]
    sequences = before["sequences"]
    sequences[0]["variations"].append({"subject": "Hey {{first_name}}", "body": "<p>{{email_body_1}}</p>"})
    sequences.append({"variations": [{"subject": "", "body": "<p>follow-up</p>"}]})
    r = await api.patch(
        "/campaign/update/campaign",
        json={**params, "sequences": sequences, "camp_name": "Edited", "status": "ACTIVE"},
    )
    assert r.status_code == 200 and r.json() == {"status": "success"}
    after = (await api.get("/campaign/list-all", params=params)).json()[0]
    assert after["camp_name"] == "Edited" and after["status"] == "ACTIVE"
    assert after["modified_at"] >= before["modified_at"]
    assert after["sequences"] == [
        {
            "step": 1,
            "wait_time": 0,
            "variations": [
                {"variation": "A", "subject": "Quick question, {{first_name}}", "body": "<p>{{email_body}}</p>"},
                {"variation": "B", "subject": "Hey {{first_name}}", "body": "<p>{{email_body_1}}</p>"},
            ],
        },
        {"step": 2, "wait_time": 1, "variations": [{"variation": "A", "subject": "", "body": "<p>follow-up</p>"}]},
    ]
    await _add(api, sim, cid, {"email": "e@example.test", "first_name": "Eva", "custom_variables": {}})
    assert sim.state.tick()[0]["subject"] in ("Quick question, Eva", "Hey Eva")


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"sequences": {"step": 1}}, 400, "sequences must be an array"),
        ({"sequences": [{"variations": []}]}, 400, "sequences[0].variations"),
        ({"sequences": [{"variations": [{"subject": 3, "body": ""}]}]}, 400, "sequences[0].variations[0].subject"),
        ({"sequences": [{"wait_time": -1, "variations": [{"body": "x"}]}]}, 400, "wait_time"),
        ({"camp_name": ""}, 400, "camp_name"),
        ({"status": "RUNNING"}, 400, "status"),
        ({"campaign_id": "f" * 24}, 404, "campaign not found"),
        ({"campaign_id": None}, 400, "campaign_id is required"),
    ],
)
async def test_patch_refuses_bad_input_and_changes_nothing(
    api: httpx.AsyncClient, sim: Sim, change: dict[str, Any], status: int, message: str
) -> None:
    cid = sim.campaigns["active"]
    before = dict(sim.state.campaigns[cid])
    r = await api.patch(
        "/campaign/update/campaign",
        json={"workspace_id": sim.workspace_id, "campaign_id": cid, "camp_name": "New", **change},
    )
    assert r.status_code == status and message in r.json()["message"]
    assert sim.state.campaigns[cid] == before


async def test_patch_needs_the_api_key(sim: Sim) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as http:
        r = await http.patch("/campaign/update/campaign", json={"workspace_id": sim.workspace_id})
    assert r.status_code == 401


def test_update_campaign_sequences_helper_normalises_like_add_campaign() -> None:
    state, _, cid = _state_with([[("s", "b")]])
    state.update_campaign_sequences(cid, [{"wait_time": 3, "variations": [{"subject": "x"}]}])
    assert state.campaigns[cid]["sequences"] == [
        {"step": 1, "wait_time": 3, "variations": [{"variation": "A", "subject": "x", "body": ""}]}
    ]


async def test_control_route_creates_a_campaign_in_the_first_workspace(
    sim: Sim, control: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    body = {
        "name": "Made by a test",
        "sequences": [{"variations": [{"subject": "s", "body": "b"}]}, {"variations": [{}]}],
    }
    r = await control.post("/campaigns", json=body)
    assert r.status_code == 200
    cid = r.json()["id"]
    camp = (await api.get("/campaign/list-all", params={"workspace_id": sim.workspace_id, "campaign_id": cid})).json()[
        0
    ]
    assert camp["camp_name"] == "Made by a test" and camp["status"] == "ACTIVE"
    assert [s["wait_time"] for s in camp["sequences"]] == [0, 1]
    assert camp["email_accounts"] == ["alex@sender-one.test", "sam@sender-two.test"]
    bad = await control.post("/campaigns", json={"name": "x", "sequences": "nope"})
    assert bad.status_code == 400 and "sequences" in bad.json()["message"]
    paused = await control.post(
        "/campaigns",
        json={**body, "workspace_id": sim.workspace_id, "status": "PAUSED", "mailbox_emails": ["sam@sender-two.test"]},
    )
    assert sim.state.campaigns[paused.json()["id"]]["email_accounts"] == ["sam@sender-two.test"]


async def test_config_route_reads_and_sets_the_storage_rule_and_judge_mode(control: httpx.AsyncClient) -> None:
    assert (await control.get("/config")).json() == {"custom_storage": "verbatim", "judge_all_variants": False}
    set_ = await control.post("/config", json={"judge_all_variants": True})
    assert set_.json() == {"custom_storage": "verbatim", "judge_all_variants": True}
    assert (await control.post("/config", json={"custom_storage": "upper"})).status_code == 400
    assert (await control.post("/config", json={"judge_all_variants": "yes"})).status_code == 400
    assert (await control.post("/config", json={"other": 1})).status_code == 400
    assert (await control.get("/config")).json()["judge_all_variants"] is True


def test_cli_takes_the_storage_rule() -> None:
    assert build_parser().parse_args(["--custom-storage", "prefixed"]).custom_storage == "prefixed"
    assert build_parser().parse_args([]).custom_storage == "verbatim"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--custom-storage", "both"])


def test_demo_seed_adds_the_operator_campaign_after_the_others() -> None:
    state = SimulatorState()
    seeded = state.seed("demo")
    ids = seeded["campaigns"]
    assert list(state.campaigns) == [ids["active"], ids["paused"], ids["completed"], ids["operator"]]
    operator = state.campaigns[ids["operator"]]
    assert operator["status"] == "ACTIVE" and operator["camp_name"].startswith("Operator templates")
    assert [len(s["variations"]) for s in operator["sequences"]] == [2, 1]
    text = str(operator["sequences"])
    for token in (
        "{% if job_title != blank %}",
        "{{fallback|{{first_name}}|there}}",
        "{{random|Hi|Hello}}",
        "{{custom_audit_grade}}",
        "{{audit_url}}",
        "{{top_issue}}",
        "{{email_body_1}}",
        "{{email_body_2}}",
        "{{sender_first_name}}",
    ):
        assert token in text


def _operator_run(job_title: str | None, rule: str) -> list[dict[str, Any]]:
    state = SimulatorState(judge_all_variants=True, custom_storage=rule)
    seeded = state.seed("demo")
    custom = {"audit_grade": "B", "audit_url": "https://r.test/a", "top_issue": "slow pages"}
    custom |= {"custom_audit_grade": "B", "email_body_1": "Body one.", "email_body_2": "Body two."}
    if job_title is not None:
        custom["job_title"] = job_title
    lead = {"email": "nora@example.test", "first_name": "Nora", "company_name": "Northwind", "custom_variables": custom}
    state.api_lead_add(
        {"workspace_id": seeded["workspace_id"], "campaign_id": seeded["campaigns"]["operator"], "leads": [lead]}
    )
    return state.tick() + state.tick()


def test_operator_campaign_renders_fully_for_a_complete_lead_under_verbatim() -> None:
    without_title = _operator_run("", "verbatim")
    assert [m["problems"] for m in without_title] == [[], []]
    assert without_title[1]["subject"].startswith("Re: ")
    with_title = _operator_run("CTO", "verbatim")
    if with_title[0]["variation"] == "A":
        assert "As CTO at Northwind" in with_title[0]["body"]
    else:
        assert "as CTO:" in with_title[0]["body"]
    missing_title = _operator_run(None, "verbatim")  # nil != blank: the job_title branch is reached, empty
    assert {(p["variation"], p["key"]) for p in missing_title[0]["problems"]} == {
        ("A", "job_title"),
        ("B", "job_title"),
    }


def test_operator_campaign_under_prefixed_reports_the_bare_tokens() -> None:
    keys = {p["key"] for m in _operator_run("", "prefixed") for p in m["problems"]}
    # job_title too: it is stored as custom_job_title, so `job_title` is nil, `!= blank` holds, and it is empty.
    assert keys == {"audit_url", "top_issue", "email_body_1", "email_body_2", "job_title"}
