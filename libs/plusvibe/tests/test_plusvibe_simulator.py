"""Simulator behaviour: auth, rendering, send loop, empty-placeholder record, webhooks, controls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from plusvibe.client import PlusVibeClient
from plusvibe.models import LeadIn
from plusvibe.simulator import Renderer, SimulatorState, create_app
from plusvibe.testing import Sim, free_port, root_url, running_simulator


def test_renderer_empty_or_unknown_variable_renders_empty_and_is_reported() -> None:
    out = Renderer().render("Hi {{first_name}}, {{unknown}}!", {"first_name": ""})
    assert out.text == "Hi , !"
    assert out.empty_keys == ["first_name", "unknown"]


def test_renderer_fallback_and_random_are_plusvibe_like() -> None:
    r = Renderer("seed")
    assert r.render("{{fallback|{{first_name}}|there}}", {}).text == "there"
    assert r.render("{{FALLBACK|{{first_name}}|there}}", {"first_name": "Ana"}).text == "Ana"
    assert r.render("{{fallback|{{a}}|{{b}}}}", {}).empty_keys == ["fallback|{{a}}|{{b}}"]
    picks = {r.render("{{random|A|B|C}}", {}, salt=str(i)).text for i in range(40)}
    assert picks == {"A", "B", "C"}
    assert r.render("{{random|A|B}}", {}, "x").text == r.render("{{random|A|B}}", {}, "x").text
    assert r.render("{{ score }}", {"score": {"status": "done", "val": 7}}).text == "7"


async def test_unknown_key_is_401_and_bad_workspace_is_400(sim: Sim) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as http:
        assert (await http.get("/authenticate")).status_code == 401
        assert (await http.get("/authenticate", headers={"x-api-key": "nope"})).status_code == 401
        ok = {"x-api-key": sim.state.api_key}
        missing = await http.get("/campaign/list-all", headers=ok)
        unknown = await http.get("/campaign/list-all", headers=ok, params={"workspace_id": "f" * 24})
    assert missing.status_code == 400 and missing.json()["status"] == "error"
    assert unknown.status_code == 400


async def test_send_loop_renders_steps_and_records_empty_placeholders(client: PlusVibeClient, sim: Sim) -> None:
    active = sim.campaigns["active"]
    full = {f"{f}_{n}": f"{f}{n}" for f in ("email_subject", "email_body", "email_cta") for n in (1, 2, 3)}
    await client.add_leads(active, [LeadIn(email="full@example.test", first_name="Ana", custom_variables=full)])
    partial = {"email_subject_1": "S", "email_body_1": "B", "email_cta_1": "C"}
    await client.add_leads(active, [LeadIn(email="part@example.test", custom_variables=partial)])
    await client.add_leads(sim.campaigns["paused"], [LeadIn(email="paused@example.test")])
    first = sim.state.tick()
    assert sorted(m["email"] for m in first) == ["full@example.test", "part@example.test"]
    ana = next(m for m in first if m["email"] == "full@example.test")
    assert ana["subject"] == "email_subject1"
    assert "Ana," in ana["body"] and "email_body1" in ana["body"] and ("Alex" in ana["body"] or "Sam" in ana["body"])
    assert sim.state.empty_placeholders == []
    second = sim.state.tick()
    assert {m["step"] for m in second} == {2}
    part = next(m for m in second if m["email"] == "part@example.test")
    assert part["subject"] == "Re: S"
    assert sorted(part["empty_keys"]) == ["email_body_2", "email_cta_2"]
    assert [r["email"] for r in sim.state.empty_placeholders] == ["part@example.test"]
    sim.state.tick()
    assert sim.state.tick() == []  # three steps, then done
    assert {r.status for r in await client.get_lead("full@example.test")} == {"COMPLETED"}


async def test_reply_bounce_label_and_open_change_the_lead(client: PlusVibeClient, sim: Sim) -> None:
    active = sim.campaigns["active"]
    await client.add_leads(active, [LeadIn(email=f"e{i}@example.test") for i in range(3)])
    sim.state.tick()
    sim.state.inject_reply("e0@example.test", "yes please", label="INTERESTED")
    sim.state.inject_bounce("e1@example.test", is_camp_paused=True)
    sim.state.inject_label("e2@example.test", "MEETING_BOOKED")
    rows = {e: (await client.get_lead(e))[0] for e in ("e0@example.test", "e1@example.test", "e2@example.test")}
    assert rows["e0@example.test"].status == "REPLIED" and rows["e0@example.test"].email_replied
    assert rows["e1@example.test"].status == "BOUNCED"
    assert rows["e2@example.test"].lead_data.label == "MEETING_BOOKED"
    assert (await client.get_campaign(active)).status == "PAUSED"
    await client.update_lead_variables("e2@example.test", {})  # harmless no-op upsert
    sim.state.set_campaign_status(active, "ACTIVE")
    assert [m["email"] for m in sim.state.tick()] == ["e2@example.test"]


class Receiver:
    """A loopback webhook receiver that fails the first ``fail_first`` deliveries."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[tuple[dict[str, Any], str | None]] = []
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> JSONResponse:
            self.received.append((await request.json(), request.headers.get("x-plusvibe-secret")))
            if len(self.received) <= self.fail_first:
                return JSONResponse({"error": "down"}, status_code=500)
            return JSONResponse({"ok": True})

        self.app = app


@contextlib.asynccontextmanager
async def _serve(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    task = asyncio.create_task(server.serve())
    for _ in range(500):  # bounded: 5 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task


async def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_webhooks_are_flat_carry_the_secret_and_are_redelivered(client: PlusVibeClient, sim: Sim) -> None:
    receiver = Receiver(fail_first=1)
    async with _serve(receiver.app) as url:
        await client.add_webhook(url, ["EMAIL_SENT", "ALL_EMAIL_REPLIES", "LEAD_MARKED_AS_INTERESTED"], secret="shh")
        await client.add_leads(sim.campaigns["active"], [LeadIn(email="w@example.test", first_name="Wes")])
        sim.state.tick()
        await _wait_for(lambda: len(receiver.received) >= 2)
        (first, secret1), (again, secret2) = receiver.received[:2]
        assert first == again  # redelivered after the 500: the receiver sees a duplicate
        assert secret1 == secret2 == "shh"
        assert first["webhook_event"] == "EMAIL_SENT"
        assert first["email"] == "w@example.test" and first["first_name"] == "Wes"
        assert first["campaign_id"] == first["camp_id"] == sim.campaigns["active"]
        assert first["workspace_id"] == sim.workspace_id and first["campaign_name"]
        sim.state.inject_reply("w@example.test", "interested!", label="INTERESTED")
        await _wait_for(lambda: len(receiver.received) >= 4)
        events = {p["webhook_event"]: p for p, _ in receiver.received[2:]}
        reply = events["ALL_EMAIL_REPLIES"]
        assert reply["text_body"] == "interested!" and reply["sentiment"] == "POSITIVE"
        assert reply["last_email_id"] and reply["last_thread_id"] and reply["email_account_name"]
        labelled = events["LEAD_MARKED_AS_INTERESTED"]
        assert labelled["label"] == "INTERESTED"
        assert labelled["last_lead_reply_subject"].startswith("Re: ")
        # last_email_id is usable directly as reply_to_id.
        result = await client.reply(
            reply["last_email_id"],
            reply["email_account_name"],
            "w@example.test",
            labelled["last_lead_reply_subject"],
            "<p>ok</p>",
        )
        assert result.status == "success"


async def test_control_api_ticks_scripts_faults_and_reads_the_request_log(
    sim: Sim, client: PlusVibeClient, control: httpx.AsyncClient
) -> None:
    await client.add_leads(sim.campaigns["active"], [LeadIn(email="ctl@example.test")])
    ticked = (await control.post("/tick", json={"count": 1})).json()
    assert [m["email"] for m in ticked["sent"]] == ["ctl@example.test"]
    assert len((await control.get("/empty-placeholders")).json()) == 1  # no copy variables set
    fault = await control.post("/faults", json={"path": "/api/v1/authenticate", "status": 503, "times": 1})
    assert fault.status_code == 200
    await client.authenticate()
    log = (await control.get("/requests", params={"path": "/api/v1/authenticate"})).json()
    assert [r["status"] for r in log["requests"]] == [503, 200]
    assert "test-key" not in json.dumps(log)
    assert (await control.post("/inject/reply", json={"email": "ctl@example.test", "text": "hi"})).status_code == 200
    assert (await control.post("/inject/open", json={"email": "ctl@example.test"})).status_code == 200
    assert (await client.get_lead("ctl@example.test"))[0].email_opened
    assert (await control.post("/faults", json={"bogus": 1})).status_code == 400
    assert (await control.post("/reset")).status_code == 200
    assert sim.state.leads == {}


def test_state_persists_to_a_json_file(tmp_path: Path) -> None:
    path = str(tmp_path / "sim.json")
    state = SimulatorState(persist_path=path)
    ids = state.seed()
    state.api_lead_add(
        {
            "workspace_id": ids["workspace_id"],
            "campaign_id": ids["campaigns"]["active"],
            "leads": [{"email": "p@example.test"}],
        }
    )
    state.tick()
    again = SimulatorState(persist_path=path)
    assert len(again.leads) == 1 and len(again.emails) == 1 and again.tick_count == 1


async def test_in_process_asgi_transport_works_for_plain_calls() -> None:
    state = SimulatorState()
    ids = state.seed()
    transport = httpx.ASGITransport(app=create_app(state, dispatch_webhooks=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as http:
        response = await http.get("/api/v1/authenticate", headers={"x-api-key": state.api_key})
    assert response.json()["workspaces"][0]["_id"] == ids["workspace_id"]


def test_running_simulator_helper_yields_a_live_loopback_url() -> None:
    with running_simulator() as (base_url, state):
        assert base_url.startswith("http://127.0.0.1:")
        health = httpx.get(root_url(base_url) + "/_sim/health", trust_env=False)
        assert health.json()["status"] == "ok" and state.workspaces


def test_module_entry_point_serves_on_loopback() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "plusvibe.simulator", "--port", str(port), "--seed", "demo", "--tick-seconds", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        end = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/authenticate",
                    headers={"x-api-key": "sim-api-key"},
                    trust_env=False,
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < end and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["workspaces"]
        ticks = httpx.get(f"http://127.0.0.1:{port}/_sim/health", trust_env=False).json()["tick"]
        time.sleep(0.5)
        assert httpx.get(f"http://127.0.0.1:{port}/_sim/health", trust_env=False).json()["tick"] > ticks
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_module_entry_point_refuses_non_loopback_bind() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "plusvibe.simulator", "--host", "0.0.0.0"], check=False, capture_output=True, timeout=30
    )
    assert proc.returncode != 0 and b"loopback" in proc.stderr


@pytest.mark.parametrize("url", ["http://10.1.2.3/x", "http://example.test/x", "ftp://127.0.0.1/x"])
def test_webhook_url_must_be_loopback(url: str) -> None:
    from plusvibe.simulator.webhooks import is_loopback_url

    assert not is_loopback_url(url)
    assert is_loopback_url("http://127.0.0.1:8000/x") and is_loopback_url("http://[::1]:80/x")


async def test_system_alerts_and_closed_label_reach_the_hooks_that_take_them(
    client: PlusVibeClient, sim: Sim, control: httpx.AsyncClient
) -> None:
    receiver = Receiver()
    active = sim.campaigns["active"]
    async with _serve(receiver.app) as url:
        with pytest.raises(Exception, match="ALL"):  # PlusVibe takes SYSTEM_ALERT only for every campaign
            await client.add_webhook(url, ["SYSTEM_ALERT"], camp_ids=[active])
        await client.add_webhook(url, ["SYSTEM_ALERT", "LEAD_MARKED_AS_CLOSED"], alerts=["CAMPAIGN_AUTO_PAUSED"])
        await client.add_webhook(url, ["EMAIL_SENT"])  # takes no alert
        unwanted = await control.post("/inject/alert", json={"alert": "WEBHOOK_DISABLED",
                                                             "workspace_id": sim.workspace_id})
        paused = await control.post("/inject/alert", json={"alert": "CAMPAIGN_AUTO_PAUSED", "campaign_id": active})
        assert (unwanted.json()["queued"], paused.json()["queued"]) == (0, 1)
        assert (await client.get_campaign(active)).status == "PAUSED"
        await client.add_leads(active, [LeadIn(email="c@example.test")])
        assert (await control.post("/inject/label", json={"email": "c@example.test", "label": "CLOSED"})).is_success
        await _wait_for(lambda: len(receiver.received) >= 2)
    alert, closed = (p for p, _ in receiver.received)
    assert (alert["webhook_event"], alert["alert"], alert["campaign_id"]) == ("SYSTEM_ALERT", "CAMPAIGN_AUTO_PAUSED",
                                                                              active)
    assert alert["is_camp_paused"] is True and alert["workspace_id"] == sim.workspace_id
    assert (closed["webhook_event"], closed["label"]) == ("LEAD_MARKED_AS_CLOSED", "CLOSED")
    no_campaign = await control.post("/inject/alert", json={"alert": "CAMPAIGN_AUTO_PAUSED",
                                                           "workspace_id": sim.workspace_id})
    assert no_campaign.status_code == 400
    assert (await control.post("/inject/alert", json={})).status_code == 400


async def test_the_request_log_names_the_lead_of_each_call_about_one_lead(
    sim: Sim, client: PlusVibeClient, control: httpx.AsyncClient
) -> None:
    await client.add_leads(sim.campaigns["active"], [LeadIn(email="Per.Lead@example.test")])
    await client.update_lead_variables("Per.Lead@example.test", {"audit_grade": "B"},
                                       campaign_id=sim.campaigns["active"])
    rows = await client.get_lead("per.lead@example.test")
    assert rows and (rows[0].lead_data.model_extra or {}).get("audit_grade") == "B"  # the body read for the log reached the route
    log = (await control.get("/requests")).json()["requests"]
    about = {r["path"]: r["lead"] for r in log if r["lead"]}
    assert about == {"/api/v1/lead/data/update": "per.lead@example.test", "/api/v1/lead/get": "per.lead@example.test"}
    assert next(r for r in log if r["path"] == "/api/v1/lead/add")["lead"] == ""  # a batch names no one lead
