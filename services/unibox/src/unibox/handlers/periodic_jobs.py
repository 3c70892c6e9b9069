"""The service's own periodic jobs, one loop beside the consumers (registered by the bootstrap): the opens poller
and the webhook sweeper, each one transaction at a time. A job whose interval is 0 or less is off."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from plusvibe.port import PlusVibePort
from servicekit.process.runtime import run_every
from unibox.handlers.poll_opens import UowFactory, poll_opens_once
from unibox.handlers.receive_webhook import sweep
from unibox.settings import UniboxSettings

# Database connections the jobs hold at most at once: each runs one transaction at a time, side by side.
PERIODIC_JOB_CONNECTIONS = 2


async def run_periodic_jobs(stop: asyncio.Event, *, uows: UowFactory, plusvibe: PlusVibePort,
                            settings: UniboxSettings) -> None:
    s = settings

    async def opens() -> int:
        return await poll_opens_once(uows, plusvibe, lead_statuses=s.opens_lead_statuses,
                                     campaign_statuses=s.opens_campaign_statuses, batch_size=s.opens_batch_size)

    async def sweeper() -> int:
        return await sweep(uows, match_grace_s=s.webhook_match_grace_s)

    jobs: list[tuple[float, Callable[[], Awaitable[int]], str]] = [
        (s.opens_poll_interval_s, opens, "opens"), (s.webhook_sweep_interval_s, sweeper, "webhook-sweep")]
    await asyncio.gather(*(run_every(interval, job, stop, name) for interval, job, name in jobs if interval > 0))
