"""The consumers process's periodic jobs: the opens poller and the webhook sweeper."""

from __future__ import annotations

import asyncio

from servicekit.runtime import run_every
from unibox.bootstrap import UniboxService
from unibox.handlers.poll_opens import poll_opens_once
from unibox.handlers.receive_webhook import sweep


async def run_jobs(service: UniboxService, stop: asyncio.Event) -> None:
    s = service.settings

    async def opens() -> int:
        return await poll_opens_once(service.uow, service.plusvibe, lead_statuses=s.opens_lead_statuses,
                                     campaign_statuses=s.opens_campaign_statuses, batch_size=s.opens_batch_size)

    async def sweeper() -> int:
        return await sweep(service.uow, match_grace_s=s.webhook_match_grace_s)

    await asyncio.gather(run_every(s.opens_poll_interval_s, opens, stop, "opens"),
                         run_every(s.webhook_sweep_interval_s, sweeper, stop, "webhook-sweep"))
