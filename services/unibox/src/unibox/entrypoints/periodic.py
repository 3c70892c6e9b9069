"""The consumers process's periodic jobs: the opens poller and the webhook sweeper."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from unibox.bootstrap import UniboxService
from unibox.handlers.poll_opens import poll_opens_once
from unibox.handlers.receive_webhook import sweep

log = logging.getLogger(__name__)


async def every(interval_s: float, job: Callable[[], Awaitable[object]], stop: asyncio.Event, name: str) -> None:
    """Runs `job` now and then every `interval_s` until `stop`; a failing run is logged, never fatal."""
    while not stop.is_set():
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def run_jobs(service: UniboxService, stop: asyncio.Event) -> None:
    s = service.settings

    async def opens() -> int:
        return await poll_opens_once(service.uow, service.plusvibe, lead_statuses=s.opens_lead_statuses,
                                     campaign_statuses=s.opens_campaign_statuses, batch_size=s.opens_batch_size)

    async def sweeper() -> int:
        return await sweep(service.uow, match_grace_s=s.webhook_match_grace_s)

    await asyncio.gather(every(s.opens_poll_interval_s, opens, stop, "opens"),
                         every(s.webhook_sweep_interval_s, sweeper, stop, "webhook-sweep"))
