"""The service's own periodic jobs, one loop beside the consumers (registered by the bootstrap): the opens poller,
run for each served workspace with that workspace's PlusVibe port, and the webhook sweeper, each one transaction at
a time. A job whose interval is 0 or less is off."""

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


async def run_periodic_jobs(stop: asyncio.Event, *, uows: UowFactory, plusvibe: Callable[[str], PlusVibePort],
                            settings: UniboxSettings) -> None:
    """`plusvibe(workspace)`: the port of a workspace."""
    s = settings
    # Sorted: the workspaces take turns in a stable order, one after the other (one transaction at a time).
    workspaces = sorted(s.served_workspaces())

    async def opens() -> int:
        emitted = 0
        for workspace in workspaces:
            emitted += await poll_opens_once(uows, plusvibe(workspace), workspace=workspace,
                                             lead_statuses=s.opens_lead_statuses,
                                             campaign_statuses=s.opens_campaign_statuses, batch_size=s.opens_batch_size)
        return emitted

    async def sweeper() -> int:
        # Every workspace's rows at once: processing calls no PlusVibe and resolves each row in its own workspace.
        return await sweep(uows, match_grace_s=s.webhook_match_grace_s)

    jobs: list[tuple[float, Callable[[], Awaitable[int]], str]] = [
        (s.opens_poll_interval_s, opens, "opens"), (s.webhook_sweep_interval_s, sweeper, "webhook-sweep")]
    await asyncio.gather(*(run_every(interval, job, stop, name) for interval, job, name in jobs if interval > 0))
