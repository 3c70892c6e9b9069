"""The simulator is the judge of the account's rate: it stamps each PlusVibe request as it comes in. Its own
heavy work (a send-loop tick over thousands of leads, a large control answer) must not hold those stamps back, or
a request sent on its slot is stamped next to the following one and the judge sees a limit broken that was kept
(the 10,000-lead chaos run saw six requests in one second that way)."""

from __future__ import annotations

import asyncio
import time

import httpx

from plusvibe.client import PlusVibeClient
from plusvibe.models import LeadIn
from plusvibe.testing import Sim

LEADS = 8000
FULL = {f"{f}_{n}": f"{f}{n}" for f in ("email_subject", "email_body", "email_cta") for n in (1, 2, 3)}


async def _stamp_delay_while(sim: Sim, busy: asyncio.Task[httpx.Response]) -> float:
    """Seconds between sending a PlusVibe request (while `busy` runs) and the simulator's stamp of it."""
    await asyncio.sleep(0.3)
    assert not busy.done(), "the busy call ended before the probe: it proves nothing"
    async with httpx.AsyncClient(base_url=sim.base_url, trust_env=False) as http:
        sent_at = time.monotonic()
        await http.get("/authenticate", headers={"x-api-key": sim.state.api_key})
    return sim.state.request_log("/api/v1/authenticate")[-1].mono - sent_at


async def test_a_long_tick_does_not_hold_back_the_stamp_of_a_request_arriving_meanwhile(
    sim: Sim, client: PlusVibeClient
) -> None:
    await client.add_leads(sim.campaigns["active"],
                           [LeadIn(email=f"l{i}@example.test", custom_variables=FULL) for i in range(LEADS)])
    async with httpx.AsyncClient(base_url=sim.control, trust_env=False, timeout=300) as control:
        began = time.monotonic()
        tick = asyncio.create_task(control.post("/tick", json={"count": 1}))
        delay = await _stamp_delay_while(sim, tick)
        sent = (await tick).json()["sent"]
        took = time.monotonic() - began
    assert len(sent) == LEADS  # every lead's first step, the tick done a few leads at a time
    assert took > 1.0, f"the tick took {took:.2f}s: too short to have held a stamp back"
    assert delay < 0.15, f"a request sent during a {took:.1f}s tick was stamped {delay * 1000:.0f} ms after it left"


async def test_a_large_control_answer_does_not_hold_back_the_stamp_of_a_request_arriving_meanwhile(
    sim: Sim,
) -> None:
    # A request log the size of a long run's (the chaos harness reads it while PlusVibe calls keep coming).
    for i in range(200_000):
        sim.state.log_request("POST", "/api/v1/lead/data/update", 200, "fp", lead=f"l{i}@example.test")
    async with httpx.AsyncClient(base_url=sim.control, trust_env=False, timeout=300) as control:
        began = time.monotonic()
        answer = asyncio.create_task(control.get("/requests"))
        delay = await _stamp_delay_while(sim, answer)
        log = (await answer).json()["requests"]
        took = time.monotonic() - began
    assert len(log) >= 180_000
    assert took > 1.0, f"the answer took {took:.2f}s: too short to have held a stamp back"
    assert delay < 0.15, f"a request sent while a {took:.1f}s answer was built was stamped {delay * 1000:.0f} ms late"
