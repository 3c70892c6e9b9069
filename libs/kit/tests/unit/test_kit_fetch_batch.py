"""The kit subscribers' fetch: no extra sleep after a fetch that waited its whole timeout, no spinning when a
fetch comes back empty at once, records of every partition in one batch, and the lag of each assigned partition
noted from the fetch (high watermark minus the position after the last record; 0 when a fetch is empty)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, NamedTuple

from faststream.kafka import KafkaBroker

from servicekit.messaging.consumer import _fetch_batch, subscribe


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
    fetch = _fetch_batch(timeout_ms, 7, {} if lag is None else lag)
    started = time.monotonic()
    result = await fetch(object(), kafka)
    return result, time.monotonic() - started


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


async def test_subscribe_installs_the_fetch_on_the_faststream_subscriber() -> None:
    from kit_apps.counter_service import build_consumer
    from sqlalchemy.ext.asyncio import create_async_engine

    broker = KafkaBroker("127.0.0.1:9", apply_types=False)
    engine = create_async_engine("sqlite+aiosqlite://")
    subscribe(broker, build_consumer(engine, broker, "p.", None), topic_name="t", max_records=9, batch_timeout_ms=30)
    subscriber: Any = broker.subscribers[-1]
    assert subscriber.get_msg.__func__.__qualname__ == "_fetch_batch.<locals>.get_msg"
    x = Rec("x", 0)
    kafka = FakeKafka(wait_s=0.0, batches={P0: [x]})
    assert await subscriber.get_msg(kafka) == (x,)
    assert kafka.calls == [(30, 9)]
    await engine.dispose()
