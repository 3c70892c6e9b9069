"""The membership watchdog replaces a member whose join has not settled for the stall time, and only that one:
a settled member without partitions (more members than partitions) is left alone, and a join that settles in
time is never touched."""

from __future__ import annotations

from typing import Any

from servicekit.messaging.membership_watchdog import MembershipWatchdog, rejoining

STALL_S = 120.0


class FakeState:
    def __init__(self, joining: bool) -> None:
        self.subscription: object | None = object()
        self.reassignment_in_progress = joining


class FakeConsumer:
    def __init__(self, joining: bool) -> None:
        self._subscription = FakeState(joining)


class FakeSubscriber:
    def __init__(self, group: str, *, joining: bool, fail_starts: int = 0) -> None:
        self.group_id = group
        self.consumer: Any = FakeConsumer(joining)
        self.calls: list[str] = []
        self.fail_starts = fail_starts

    async def stop(self) -> None:
        self.calls.append("stop")
        self.consumer = None

    async def start(self) -> None:
        self.calls.append("start")
        if self.fail_starts:
            self.fail_starts -= 1
            raise ConnectionError("broker away")
        self.consumer = FakeConsumer(joining=True)  # a new member joins first, then settles


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_join_unsettled_for_the_stall_time_gets_a_new_member() -> None:
    clock, stuck = Clock(), FakeSubscriber("svc.on_x", joining=True)
    watchdog = MembershipWatchdog([stuck], stall_after_s=STALL_S, clock=clock)
    await watchdog.check()
    clock.now += STALL_S - 1
    await watchdog.check()
    assert stuck.calls == [] and watchdog.restarts == 0
    clock.now += 1
    await watchdog.check()
    assert stuck.calls == ["stop", "start"] and watchdog.restarts == 1
    # the new member's own join gets the full stall time again
    clock.now += STALL_S - 1
    await watchdog.check()
    assert watchdog.restarts == 1


async def test_a_join_that_settles_in_time_and_an_idle_settled_member_are_left_alone() -> None:
    clock = Clock()
    settles, idle = FakeSubscriber("svc.on_x", joining=True), FakeSubscriber("svc.on_y", joining=False)
    watchdog = MembershipWatchdog([settles, idle], stall_after_s=STALL_S, clock=clock)
    await watchdog.check()
    clock.now += STALL_S / 2
    settles.consumer._subscription.reassignment_in_progress = False
    await watchdog.check()
    clock.now += STALL_S / 2 + 1
    settles.consumer._subscription.reassignment_in_progress = True  # a later, normal rebalance starts its own clock
    await watchdog.check()
    clock.now += STALL_S * 10
    idle.consumer._subscription.reassignment_in_progress = False
    settles.consumer._subscription.reassignment_in_progress = False
    await watchdog.check()
    assert settles.calls == [] and idle.calls == [] and watchdog.restarts == 0


async def test_a_new_member_that_cannot_start_is_started_again_on_the_next_check() -> None:
    clock, stuck = Clock(), FakeSubscriber("svc.on_x", joining=True, fail_starts=1)
    watchdog = MembershipWatchdog([stuck], stall_after_s=STALL_S, clock=clock)
    await watchdog.check()
    clock.now += STALL_S
    await watchdog.check()
    assert stuck.calls == ["stop", "start", "stop"]
    await watchdog.check()
    assert stuck.calls == ["stop", "start", "stop", "start"]
    assert stuck.consumer is not None and watchdog.restarts == 1


def test_without_a_subscription_state_nothing_is_a_stall() -> None:
    assert not rejoining(object())
    consumer = FakeConsumer(joining=True)
    consumer._subscription.subscription = None  # not subscribed yet
    assert not rejoining(consumer)
