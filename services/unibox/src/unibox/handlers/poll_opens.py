"""Opens: PlusVibe has no open webhook, so a periodic job reads `email_opened` (GET /lead/get) for leads
linked to an active campaign and emits EmailActivityReceived(opened) once per lead and campaign.

Each cycle checks at most `batch_size` leads, least recently checked first, so the job's PlusVibe traffic
is bounded and shares the account's rate limiter with everything else in the process. A cycle is one platform
workspace's: its leads, asked of its own PlusVibe account, its events carry it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.unibox import EmailActivityReceived
from plusvibe.errors import PlusVibeError
from plusvibe.port import PlusVibePort
from unibox.adapters.uow import UniboxUnitOfWork

log = logging.getLogger(__name__)
UowFactory = Callable[[], UniboxUnitOfWork]
OPENED_EVENT = "EMAIL_OPENED"  # synthetic: not a PlusVibe webhook name, set by the poller


async def poll_opens_once(uows: UowFactory, pv: PlusVibePort, *, lead_statuses: Sequence[str],
                          campaign_statuses: Sequence[str], batch_size: int,
                          workspace: str = DEFAULT_WORKSPACE) -> int:
    """One cycle; returns how many opens were emitted. PlusVibe errors end the cycle early (next one retries)."""
    wanted = {s.upper() for s in campaign_statuses}
    try:
        active = {c.id for c in await pv.list_campaigns() if c.status.upper() in wanted}
    except PlusVibeError as exc:
        log.warning("opens poll skipped: campaigns unavailable: %s", exc)
        return 0
    async with uows() as uow:
        candidates = await uow.leads.open_candidates(workspace, lead_statuses, batch_size)
    emitted = 0
    for lead in candidates:
        now = datetime.now(UTC)
        row = None
        if lead.campaign_id in active:
            try:
                rows = await pv.get_lead(lead.email, lead.campaign_id)
            except PlusVibeError as exc:
                log.warning("opens poll stopped early: %s", exc)
                break
            row = next((r for r in rows if r.campaign == lead.campaign_id), None)
        async with uows() as uow:
            await uow.leads.mark_checked(workspace, lead.lead_id, now)
            if row is not None and row.email_opened and lead.campaign_id is not None \
                    and await uow.opens.mark(workspace, lead.lead_id, lead.campaign_id, now):
                uow.publish(EmailActivityReceived(
                    lead_id=lead.lead_id, activity="opened", webhook_event=OPENED_EVENT, email=lead.email,
                    campaign_id=lead.campaign_id, label=row.lead_data.label, observed_at=now,
                    raw_payload=row.model_dump(mode="json"),
                ), lead_id=lead.lead_id, workspace_id=workspace)
                emitted += 1
            await uow.commit()
    return emitted
