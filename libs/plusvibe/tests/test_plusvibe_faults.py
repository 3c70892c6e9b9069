"""PlusVibe faults (429 with Retry-After, 5xx, timeouts, dropped connections) against the simulator over real
HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from email.utils import formatdate

import pytest

from plusvibe.client import PlusVibeClient
from plusvibe.errors import (
    AmbiguousSendError,
    AuthenticationError,
    CircuitOpenError,
    DeadlineExceededError,
    NotFoundError,
    PermanentError,
    PlusVibeError,
    RateLimitedError,
    TransientError,
)
from plusvibe.models import LeadIn
from plusvibe.simulator.faults import FaultRule
from plusvibe.testing import Sim

UPDATE = "/api/v1/lead/data/update"


async def _enrol(client: PlusVibeClient, sim: Sim, n: int = 1) -> list[str]:
    emails = [f"f{i}@example.test" for i in range(n)]
    await client.add_leads(sim.campaigns["active"], [LeadIn(email=e) for e in emails])
    return emails


async def test_retry_after_seconds_is_waited_before_the_next_attempt(client: PlusVibeClient, sim: Sim) -> None:
    (email,) = await _enrol(client, sim)
    sim.state.faults.add(FaultRule(path=UPDATE, status=429, retry_after="1"))
    await client.update_lead_variables(email, {"k": "v"})
    first, second = sim.state.request_log(UPDATE)
    assert (first.status, second.status) == (429, 200)
    waited = second.mono - first.mono
    print(f"Retry-After 1 s -> waited {waited:.3f} s")
    assert 0.9 <= waited <= 1.1


async def test_retry_after_http_date_is_waited_until_that_time(client: PlusVibeClient, sim: Sim) -> None:
    (email,) = await _enrol(client, sim)
    target = int(time.time()) + 2
    sim.state.faults.add(FaultRule(path=UPDATE, status=429, retry_after=formatdate(target, usegmt=True)))
    await client.update_lead_variables(email, {"k": "v"})
    first, second = sim.state.request_log(UPDATE)
    assert first.status == 429 and second.status == 200
    print(f"Retry-After date -> second attempt {second.at - target:+.3f} s from the date")
    assert abs(second.at - target) <= 0.1


async def test_retry_after_above_the_cap_fails_at_once(make_client: Callable[..., PlusVibeClient], sim: Sim) -> None:
    async with make_client(max_retry_after_s=5) as client:
        (email,) = await _enrol(client, sim)
        sim.state.faults.add(FaultRule(path=UPDATE, status=429, retry_after="120"))
        started = time.monotonic()
        with pytest.raises(RateLimitedError) as caught:
            await client.update_lead_variables(email, {"k": "v"})
    assert caught.value.retry_after == 120
    assert time.monotonic() - started < 0.5
    assert len(sim.state.request_log(UPDATE)) == 1


async def test_random_5xx_all_logical_calls_succeed_within_three_attempts(client: PlusVibeClient, sim: Sim) -> None:
    """30 % of requests fail (seeded). The spec's "total ≤ 1.1 × logical" cannot hold when 30 % of
    requests fail (the floor is 1/(1-0.3) ≈ 1.43×), so we assert the meaningful part: no request
    beyond the ones the injected failures force (total == logical + failures) and ≤ 3 attempts each.
    Logical calls run one after another so each call's attempts are consecutive requests."""
    logical = 60
    emails = await _enrol(client, sim, logical)
    rule = sim.state.faults.add(
        FaultRule(path=UPDATE, status=503, times=None, probability=0.3, seed=11, max_consecutive=2)
    )
    for i, email in enumerate(emails):
        await client.update_lead_variables(email, {"n": str(i)})
    log = sim.state.request_log(UPDATE)
    failures = sum(1 for r in log if r.status == 503)
    print(f"random 5xx: logical={logical} requests={len(log)} injected={failures} ratio={len(log) / logical:.2f}")
    assert failures == rule.hits and failures >= logical * 0.15
    assert len(log) == logical + failures
    run = worst = 0
    for r in log:
        run = run + 1 if r.status == 503 else 0
        worst = max(worst, run)
    assert worst <= 2  # ≤ 3 attempts per logical call
    rows = [(await client.get_lead(e))[0].variable("n") for e in emails]
    assert rows == [str(i) for i in range(logical)]


async def test_outage_opens_the_breaker_then_only_probes_then_recovers(
    make_client: Callable[..., PlusVibeClient], sim: Sim
) -> None:
    async with make_client(breaker_failure_threshold=3, breaker_cooldown_s=0.5, attempts=3) as client:
        emails = await _enrol(client, sim, 10)
        sim.state.faults.add(FaultRule(path="/api/v1/*", status=503, times=None))
        parked: list[str] = []
        outcomes: list[type[PlusVibeError]] = []
        deadline = time.monotonic() + 1.8
        i = 0
        while time.monotonic() < deadline:
            email = emails[i % len(emails)]
            try:
                await client.update_lead_variables(email, {"x": "1"})
            except TransientError as exc:
                outcomes.append(type(exc))
                parked.append(email)
            i += 1
            await asyncio.sleep(0.02)
        during = [r for r in sim.state.request_log() if r.status == 503]
        assert outcomes[0] is TransientError
        assert outcomes.count(CircuitOpenError) >= len(outcomes) - 5
        # 3 failures open the breaker; after that one probe per cool-down (1.8 s / 0.5 s ≤ 4 probes).
        assert 3 <= len(during) <= 3 + 4
        print(
            f"outage: logical={len(outcomes)} requests={len(during)} open-rejections={outcomes.count(CircuitOpenError)}"
        )
        sim.state.faults.clear()
        await asyncio.sleep(0.55)
        for email in dict.fromkeys(parked):
            await client.update_lead_variables(email, {"x": "1"})
        for email in dict.fromkeys(parked):
            assert (await client.get_lead(email))[0].variable("x") == "1"


DRAIN_CALLS = int(os.environ.get("PLUSVIBE_DRAIN_CALLS", "200"))


@pytest.mark.timeout(60 + DRAIN_CALLS / 4)
async def test_queued_calls_never_exceed_five_per_second_and_drain_fast(
    make_client: Callable[..., PlusVibeClient], sim: Sim
) -> None:
    """DRAIN_CALLS logical calls queued, drained by 20 workers over four client instances of one account."""
    sim.state.rate_limit_per_s = 5
    clients = [make_client(requests_per_second=5.0, total_deadline_s=DRAIN_CALLS) for _ in range(4)]
    # Warm each client's connection first (a service authenticates at start-up), so queueing the
    # calls below does not stall the loop between the first release and its socket write.
    for c in clients:
        await c.authenticate()
    await asyncio.sleep(1.0)
    sim.state.requests.clear()
    started = time.monotonic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(DRAIN_CALLS):
        queue.put_nowait(i)

    async def worker(client: PlusVibeClient) -> None:
        while not queue.empty():
            queue.get_nowait()
            await client.authenticate()

    # 20 concurrent workers over four clients keep every call queued on the shared limiter.
    await asyncio.gather(*(worker(clients[w % 4]) for w in range(20)))
    elapsed = time.monotonic() - started
    for c in clients:
        await c.aclose()
    log = sim.state.request_log("/api/v1/authenticate")
    rate = len(log) / elapsed
    worst = sim.state.max_requests_in_any_second("/api/v1/authenticate")
    print(f"drain: calls={DRAIN_CALLS} requests={len(log)} elapsed={elapsed:.1f}s rate={rate:.2f}/s max-in-1s={worst}")
    limited = [round(r.mono - log[0].mono, 3) for r in log if r.status != 200]
    assert limited == [], f"429s at these offsets (s) from the first request: {limited}"
    assert len(log) == DRAIN_CALLS
    assert worst <= 5
    # The limiter spaces slots at 5 × 0.93 = 4.65/s; a loaded 2-core machine delays some wake-ups past their
    # slot (they take a new one), which cost up to 5 % in CI (4.43/s). 85 % of the limit still proves the
    # queue drains at the limit, not at a fraction of it.
    assert DRAIN_CALLS / elapsed >= 4.25


async def test_slow_drip_response_is_aborted_at_the_total_deadline(
    make_client: Callable[..., PlusVibeClient], sim: Sim
) -> None:
    async with make_client(total_deadline_s=2.5, read_timeout_s=5.0) as client:
        (email,) = await _enrol(client, sim)
        sim.state.faults.add(FaultRule(path="/api/v1/lead/get", trickle_interval_s=1.0, times=None))
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            await client.get_lead(email)
    elapsed = time.monotonic() - started
    print(f"slow drip aborted after {elapsed:.2f} s")
    assert 2.4 <= elapsed <= 3.0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, PermanentError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (422, PermanentError),
    ],
)
async def test_permanent_4xx_is_not_retried(
    client: PlusVibeClient, sim: Sim, status: int, error: type[PlusVibeError]
) -> None:
    (email,) = await _enrol(client, sim)
    sim.state.faults.add(FaultRule(path=UPDATE, status=status))
    with pytest.raises(error) as caught:
        await client.update_lead_variables(email, {"k": "v"})
    assert caught.value.status_code == status
    assert len(sim.state.request_log(UPDATE)) == 1


async def test_unknown_key_is_an_authentication_error_without_retry(
    make_client: Callable[..., PlusVibeClient], sim: Sim
) -> None:
    async with make_client(api_key="wrong-key") as client:
        with pytest.raises(AuthenticationError):
            await client.authenticate()
    assert [r.status for r in sim.state.request_log("/api/v1/authenticate")] == [401]


async def test_ambiguous_lead_add_is_retried_without_duplicate_enrolment(client: PlusVibeClient, sim: Sim) -> None:
    sim.state.faults.add(FaultRule(path="/api/v1/lead/add", drop="after"))
    result = await client.add_leads(
        sim.campaigns["active"], [LeadIn(email="amb@example.test")], skip_lead_in_active_pause_camp=True
    )
    log = sim.state.request_log("/api/v1/lead/add")
    assert [r.fault for r in log] == ["drop-after", ""]
    assert (result.leads_uploaded, result.already_in_campaign) == (0, 1)
    rows = await client.get_lead("amb@example.test")
    assert len(rows) == 1
    sim.state.tick()
    assert [s["email"] for s in sim.state.sent] == ["amb@example.test"]


async def _thread_with_inbound(client: PlusVibeClient, sim: Sim) -> tuple[str, str, str, str]:
    (email,) = await _enrol(client, sim)
    sim.state.tick()
    inbound = sim.state.inject_reply(email, "Tell me more")
    return inbound["id"], inbound["eaccount"], email, inbound["subject"]


async def test_ambiguous_reply_is_not_resent_by_the_client(client: PlusVibeClient, sim: Sim) -> None:
    reply_to, mailbox, lead, subject = await _thread_with_inbound(client, sim)
    sim.state.faults.add(FaultRule(path="/api/v1/unibox/emails/reply", drop="after"))
    with pytest.raises(AmbiguousSendError):
        await client.reply(reply_to, mailbox, lead, f"Re: {subject}", "<p>Here is more</p>")
    assert len(sim.state.request_log("/api/v1/unibox/emails/reply")) == 1
    thread = [e async for e in client.iter_unibox_emails(lead=lead)]
    # The reply was applied exactly once; the caller reconciles by reading this thread.
    assert sum(1 for e in thread if e.body.html == "<p>Here is more</p>") == 1


async def test_reply_server_error_is_ambiguous_and_not_retried(client: PlusVibeClient, sim: Sim) -> None:
    reply_to, mailbox, lead, subject = await _thread_with_inbound(client, sim)
    sim.state.faults.add(FaultRule(path="/api/v1/unibox/emails/reply", status=502))
    with pytest.raises(AmbiguousSendError):
        await client.reply(reply_to, mailbox, lead, f"Re: {subject}", "<p>x</p>")
    assert len(sim.state.request_log("/api/v1/unibox/emails/reply")) == 1


async def test_reply_rate_limited_is_retried_because_nothing_was_sent(client: PlusVibeClient, sim: Sim) -> None:
    reply_to, mailbox, lead, subject = await _thread_with_inbound(client, sim)
    sim.state.faults.add(FaultRule(path="/api/v1/unibox/emails/reply", status=429, retry_after="0.2"))
    result = await client.reply(reply_to, mailbox, lead, f"Re: {subject}", "<p>y</p>")
    assert result.status == "success"
    assert [r.status for r in sim.state.request_log("/api/v1/unibox/emails/reply")] == [429, 200]


async def test_simulator_answers_429_with_retry_after_over_five_per_second(sim: Sim) -> None:
    import httpx

    sim.state.rate_limit_per_s = 5
    async with httpx.AsyncClient(trust_env=False) as http:
        codes = []
        for _ in range(7):
            r = await http.get(sim.base_url + "/authenticate", headers={"x-api-key": sim.state.api_key})
            codes.append((r.status_code, r.headers.get("retry-after")))
    assert codes[:5] == [(200, None)] * 5
    assert codes[5] == (429, "1")


async def test_reply_cut_by_the_deadline_is_ambiguous(make_client: Callable[..., PlusVibeClient], sim: Sim) -> None:
    async with make_client(total_deadline_s=1.5) as client:
        reply_to, mailbox, lead, subject = await _thread_with_inbound(client, sim)
        sim.state.faults.add(FaultRule(path="/api/v1/unibox/emails/reply", trickle_interval_s=1.0))
        with pytest.raises(AmbiguousSendError):
            await client.reply(reply_to, mailbox, lead, f"Re: {subject}", "<p>z</p>")
    assert len(sim.state.request_log("/api/v1/unibox/emails/reply")) == 1
