"""The account's send slots when a reservation's answer comes back late (a busy database or event loop in one
process): that process must not send late for its slot, next to another process's on-time request. Two guards share
one slot sequence; one of them gets every answer 150 ms late. Judged like the server judges: no 1-second window of
the requests as sent may hold more than the account's 5."""

from __future__ import annotations

import asyncio

from plusvibe.breaker import CircuitBreaker
from plusvibe.limits import AccountGuard
from plusvibe.simulator.state import max_in_any_second
from plusvibe.slots import ProcessSlots

RATE = 5.0 * 0.93  # the deployment's spacing (PlusVibeSettings.rate_safety_factor)
LATE_S = 0.15


class LateAnswers:
    """The shared slots, answered LATE_S after the reservation was made."""

    def __init__(self, shared: ProcessSlots) -> None:
        self.shared = shared

    async def reserve(self, account: str, interval_s: float) -> float:
        raise AssertionError("the guard reserves slots as instants")

    async def reserve_at(self, account: str, interval_s: float) -> float:
        slot = await self.shared.reserve_at(account, interval_s)
        await asyncio.sleep(LATE_S)
        return slot

    async def close(self) -> None:
        return None


async def test_a_late_answer_never_sends_late_next_to_an_on_time_request() -> None:
    shared = ProcessSlots()
    guards = [AccountGuard(CircuitBreaker(5, 30.0), RATE, LateAnswers(shared), "acct"),
              AccountGuard(CircuitBreaker(5, 30.0), RATE, shared, "acct")]
    sent: dict[int, list[float]] = {0: [], 1: []}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4.0

    async def sender(n: int) -> None:
        while loop.time() < deadline:
            slot = await guards[n].acquire()
            sent[n].append(loop.time())
            slot.mark_sent()

    await asyncio.gather(sender(0), sender(1))
    assert sent[0] and sent[1]  # the late one still sends (a later slot), it does not starve
    assert max_in_any_second(sent[0] + sent[1]) <= 5, sorted(sent[0] + sent[1])
