"""The kit subscriber's fetch (`GroupSubscriber.fetch`): no extra sleep after a fetch that waited its whole timeout, no spinning when a
fetch comes back empty at once, records of every partition in one batch, and the lag of each assigned partition
noted from the fetch (high watermark minus the position after the last record; 0 when a fetch is empty, unless the
member lingers)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple

from servicekit.messaging.consumer import ConsumerStats
from servicekit.messaging.kafka_config import resolve
from servicekit.messaging.subscriber import GroupSubscriber, batch_offsets, rewind


class TP(NamedTuple):
    topic: str
    partition: int


class Rec(NamedTuple):
    value: str
    offset: int


P0, P1, P2 = TP("t", 0), TP("t", 1), TP("t", 2)


class FakeKafka:
    def __init__(self, *, wait_s: float, batches: dict[TP, list[Rec]] | None = None,
                 highwater: dict[TP, int] | None = None) -> None:
        self.wait_s, self.batches, self.calls = wait_s, batches or {}, []
        self.highwaters = highwater or {}

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TP, list[Rec]]:
        self.calls.append((timeout_ms, max_records))
        await asyncio.sleep(self.wait_s)
        return self.batches

    def assignment(self) -> set[TP]:
        return {P0, P1, P2}

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)


async def _timed(kafka: FakeKafka, timeout_ms: int = 100, lag: dict[tuple[str, int], int] | None = None
                 ) -> tuple[tuple[Any, ...], float]:
    subscriber = _subscriber(timeout_ms, 7)
    if lag is not None:
        subscriber.handler.stats.lag = lag
    started = time.monotonic()
    result = await subscriber.fetch(kafka)
    return result, time.monotonic() - started


class _Handler:
    def __init__(self) -> None:
        self.group, self.stats = "g", ConsumerStats()


def _subscriber(timeout_ms: int, max_records: int) -> GroupSubscriber:
    return GroupSubscriber(_Handler(), topic="t", bootstrap="127.0.0.1:9", security=resolve(None),  # type: ignore[arg-type]
                           max_records=max_records, batch_timeout_ms=timeout_ms)


async def test_an_empty_fetch_that_waited_its_timeout_returns_without_sleeping_again() -> None:
    result, took = await _timed(FakeKafka(wait_s=0.1))
    assert result == ()
    assert took < 0.16  # FastStream's own fetch took ≥ 0.2 s here: the wait plus a second 0.1 s sleep


async def test_an_empty_fetch_that_returned_at_once_waits_out_the_timeout() -> None:
    result, took = await _timed(FakeKafka(wait_s=0.0))
    assert result == ()
    assert took >= 0.095  # an idle or paused consumer does not spin


async def test_records_of_every_partition_come_back_as_one_batch_at_once() -> None:
    a, b, c = Rec("a", 10), Rec("b", 11), Rec("c", 3)
    kafka = FakeKafka(wait_s=0.0, batches={P0: [a, b], P1: [c]})
    result, took = await _timed(kafka)
    assert result == (a, b, c)
    assert took < 0.05
    assert kafka.calls == [(100, 7)]


async def test_the_lag_of_each_fetched_partition_is_its_high_watermark_after_the_last_record() -> None:
    lag: dict[tuple[str, int], int] = {("gone", 0): 5}  # a partition no longer assigned is forgotten
    kafka = FakeKafka(wait_s=0.0, batches={P0: [Rec("a", 10), Rec("b", 11)], P1: [Rec("c", 3)]},
                      highwater={P0: 20, P1: 4})
    await _timed(kafka, lag=lag)
    assert lag == {("t", 0): 8, ("t", 1): 0}  # P2 sent nothing and has no known watermark: not guessed
    await _timed(FakeKafka(wait_s=0.0), lag=lag)  # an empty fetch: every assigned partition is caught up
    assert lag == {("t", 0): 0, ("t", 1): 0, ("t", 2): 0}


async def test_an_empty_fetch_of_a_lingering_member_leaves_its_lag_as_its_last_batch_showed_it() -> None:
    """The broker may be holding records for a lingering member when its fetch comes back empty: not "caught up"."""
    subscriber = _subscriber(100, 7)
    subscriber.linger_ms = 250
    lag = subscriber.handler.stats.lag
    await subscriber.fetch(FakeKafka(wait_s=0.0, batches={P0: [Rec("a", 10)]}, highwater={P0: 15}))
    assert lag == {("t", 0): 4}
    await subscriber.fetch(FakeKafka(wait_s=0.0))
    assert lag == {("t", 0): 4}


def test_a_failed_batch_rewinds_each_partition_to_its_first_record_in_the_batch() -> None:
    class Seeks:
        def __init__(self) -> None:
            self.to: dict[Any, int] = {}

        def seek(self, tp: Any, offset: int) -> None:
            self.to[(tp.topic, tp.partition)] = offset

    class R(NamedTuple):
        topic: str
        partition: int
        offset: int

    kafka = Seeks()
    rewind(kafka, [R("t", 0, 12), R("t", 1, 3), R("t", 0, 10), R("t", 0, 11)])
    assert kafka.to == {("t", 0): 10, ("t", 1): 3}
    applied = batch_offsets([R("t", 0, 12), R("t", 1, 3), R("t", 0, 10), R("t", 0, 11)])  # type: ignore[list-item]
    assert {(tp.topic, tp.partition): offset for tp, offset in applied.items()} == {("t", 0): 13, ("t", 1): 4}
