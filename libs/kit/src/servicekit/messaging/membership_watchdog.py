"""Restarts a subscriber whose consumer-group (re)join has not settled for `KAFKA_REJOIN_STALL_S` (default 120 s).

Why: in two full-size chaos runs (10,000 leads, the broker killed -9 and restarted under load), one group
member never got its partitions back: it kept rejoining for minutes while its lag grew, and nothing in the process
noticed (its loops were all alive, so liveness said ok). The cause is below the kit (aiokafka's coordinator or the
broker's); a fresh member (a new aiokafka consumer, a new member id, a new JoinGroup) is what an operator would do
by restarting the pod, so the kit does it for that one subscriber and counts it
(`consumer_membership_restarts_total{group}`, and an ERROR log line naming the group).

A member with no partitions is not a stall: a group with more members than partitions leaves some idle, settled
members. Only a join still in progress counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from servicekit.process.metrics import record_membership_restart

log = logging.getLogger(__name__)

_STOP_TIMEOUT_S = 60.0  # a stuck member's goodbye (LeaveGroup, final commit) may never be answered


def stall_s() -> float:
    """`KAFKA_REJOIN_STALL_S`: how long a join may stay unsettled before the member is replaced; 0 turns it off."""
    return float(os.environ.get("KAFKA_REJOIN_STALL_S", "120"))


def rejoining(kafka_consumer: Any) -> bool:
    """True while the consumer's group membership awaits an assignment.

    aiokafka has no public flag for it: `assignment()` is empty both while (re)joining and for a settled member the
    group gave no partition, and only the first is a stall. Its subscription state says which; absent (another
    aiokafka layout), nothing is ever called a stall."""
    state = getattr(kafka_consumer, "_subscription", None)
    if state is None or getattr(state, "subscription", None) is None:
        return False
    return bool(getattr(state, "reassignment_in_progress", False))


class MembershipWatchdog:
    """Watches subscribers (`.consumer`, the aiokafka member; `.start()`, `.stop()`, `.group_id`): the kit's
    `servicekit.messaging.subscriber.GroupSubscriber`s."""

    def __init__(self, subscribers: Iterable[Any], *, stall_after_s: float,
                 clock: Callable[[], float] = time.monotonic, stop_timeout_s: float = _STOP_TIMEOUT_S) -> None:
        self.subscribers = list(subscribers)
        self.stall_after_s = stall_after_s
        self.clock = clock
        self.stop_timeout_s = stop_timeout_s
        self._since: dict[int, float] = {}
        self._down: list[Any] = []  # restarted, but the new member's start failed: started again on the next check
        self.restarts = 0

    async def run(self, stop: asyncio.Event, *, interval_s: float = 5.0) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except Exception:  # the watchdog must never take the consumers down with it
                log.exception("membership watchdog check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    async def check(self) -> None:
        for subscriber in list(self._down):
            await self._start(subscriber)
        now = self.clock()
        for subscriber in self.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is None or subscriber in self._down or not rejoining(consumer):
                self._since.pop(id(subscriber), None)
                continue
            since = self._since.setdefault(id(subscriber), now)
            if now - since >= self.stall_after_s:
                self._since.pop(id(subscriber), None)
                await self._restart(subscriber, now - since)

    async def _restart(self, subscriber: Any, stalled_s: float) -> None:
        group = str(getattr(subscriber, "group_id", "?"))
        self.restarts += 1
        record_membership_restart(group)
        log.error("group %s: this member's join has not settled for %.0fs; replacing it with a new member", group,
                  stalled_s, extra={"fields": {"group": group, "stalled_s": round(stalled_s, 1)}})
        with contextlib.suppress(Exception):  # the stuck member's goodbye may fail; the new member needs none
            await asyncio.wait_for(subscriber.stop(), self.stop_timeout_s)
        await self._start(subscriber)

    async def _start(self, subscriber: Any) -> None:
        try:
            await subscriber.start()
        except Exception as exc:
            log.error("group %s: the new member could not start (%s: %s); trying again", getattr(
                subscriber, "group_id", "?"), type(exc).__name__, exc)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(subscriber.stop(), self.stop_timeout_s)
            if subscriber not in self._down:
                self._down.append(subscriber)
            return
        if subscriber in self._down:
            self._down.remove(subscriber)
