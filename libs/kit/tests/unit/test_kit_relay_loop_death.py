"""`run_relay_until_stopped` ends with the relay's failure instead of idling without a relay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from servicekit.process import runtime as runtime_module
from servicekit.process.runtime import run_relay_until_stopped


class FakeProducer:
    def __init__(self) -> None:
        self.stopped = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True


class Relays:
    """Records the fake relays the runtime builds; `outcome` says how their loop ends."""

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome
        self.built: list[Any] = []
        self.options: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        relays = self
        self.options.append(kwargs)

        class FakeRelay:
            def __init__(self) -> None:
                self.stopping = asyncio.Event()
                relays.built.append(self)

            async def run(self) -> None:
                if relays.outcome == "raise":
                    raise ValueError("outbox table missing")
                if relays.outcome == "return":
                    return
                await self.stopping.wait()

            def stop(self) -> None:
                self.stopping.set()

        return FakeRelay()


def fake_runtime(outbox_keep_sent_s: float = 0.0) -> Any:
    settings = SimpleNamespace(kafka_bootstrap_servers="127.0.0.1:9", service_name="svc", relay_batch_size=10,
                               relay_poll_interval_s=0.1, outbox_keep_sent_s=outbox_keep_sent_s,
                               gc_young_threshold=12_345)
    return SimpleNamespace(settings=settings, engine=None, schema=None, signal=None)


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> FakeProducer:
    fake = FakeProducer()
    monkeypatch.setattr(runtime_module, "make_producer", lambda *a, **k: fake)
    return fake


async def test_a_relay_that_raises_ends_the_loop_with_its_error(monkeypatch: pytest.MonkeyPatch,
                                                               producer: FakeProducer) -> None:
    monkeypatch.setattr(runtime_module, "OutboxRelay", Relays("raise"))
    with pytest.raises(ValueError, match="outbox table missing"):
        await asyncio.wait_for(run_relay_until_stopped(fake_runtime(), asyncio.Event()), 5)
    assert producer.stopped


async def test_a_relay_that_returns_early_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                                     producer: FakeProducer) -> None:
    monkeypatch.setattr(runtime_module, "OutboxRelay", Relays("return"))
    with pytest.raises(RuntimeError, match="returned before stop"):
        await asyncio.wait_for(run_relay_until_stopped(fake_runtime(), asyncio.Event()), 5)


async def test_stop_ends_a_healthy_relay_cleanly(monkeypatch: pytest.MonkeyPatch, producer: FakeProducer) -> None:
    relays = Relays("run")
    monkeypatch.setattr(runtime_module, "OutboxRelay", relays)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_relay_until_stopped(fake_runtime(), stop))
    await asyncio.sleep(0.05)
    assert not loop.done()
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert relays.built[0].stopping.is_set()
    assert producer.stopped


@pytest.mark.parametrize("keep_s", [0.0, 90.5])
async def test_the_relay_is_built_with_the_settings_keep_time_and_the_heap_settled_with_its_threshold(
        monkeypatch: pytest.MonkeyPatch, producer: FakeProducer, keep_s: float) -> None:
    relays = Relays("run")
    monkeypatch.setattr(runtime_module, "OutboxRelay", relays)
    settled: list[int | None] = []
    monkeypatch.setattr(runtime_module, "settle_heap", settled.append)
    stop = asyncio.Event()
    loop = asyncio.create_task(run_relay_until_stopped(fake_runtime(outbox_keep_sent_s=keep_s), stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert relays.options[0]["keep_sent"] == timedelta(seconds=keep_s)
    assert settled == [12_345]
