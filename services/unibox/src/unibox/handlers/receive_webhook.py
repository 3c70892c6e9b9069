"""A verified PlusVibe webhook: stored raw first, de-duplicated, mapped to a lead, emitted once.

`receive` commits the raw payload before anything else, then processes it in a second transaction. The
processing claims the row (`processed_at IS NULL` → set) in the same transaction as the outbox row, so a
redelivery, a concurrent delivery or the sweeper can never emit it twice. A row whose processing failed,
or whose email has no lead in the projection yet, stays unprocessed; `sweep` retries it.

A webhook belongs to the platform workspace it arrived for: it only ever resolves a lead of that workspace (the same
address may be a lead in another), and its event carries that workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from contracts.integrations import DEFAULT_WORKSPACE
from contracts.unibox import EmailActivityReceived
from unibox.adapters.repositories import StoredWebhook
from unibox.adapters.uow import UniboxUnitOfWork
from unibox.domain.webhooks import classify, dedupe_key, event_name

log = logging.getLogger(__name__)
UowFactory = Callable[[], UniboxUnitOfWork]


@dataclass(frozen=True, slots=True)
class Receipt:
    webhook_id: UUID
    duplicate: bool
    emitted: bool


async def receive(payload: dict[str, Any], uows: UowFactory, *, match_grace_s: float,
                  workspace: str = DEFAULT_WORKSPACE) -> Receipt:
    """`workspace`: the platform workspace the delivery was verified for; the stored row and its event belong to it."""
    now = datetime.now(UTC)
    async with uows() as uow:
        stored, first = await uow.webhooks.record(
            dedupe_key=dedupe_key(payload), webhook_event=event_name(payload), payload=payload, at=now,
            workspace=workspace)
        await uow.commit()
    if not first:
        log.info("duplicate webhook delivery", extra={"fields": {"webhook_id": str(stored.id),
                                                                  "webhook_event": stored.webhook_event}})
    if stored.processed:
        return Receipt(stored.id, duplicate=not first, emitted=False)
    try:
        emitted = await process(stored, uows, now=now, match_grace_s=match_grace_s)
    except Exception:  # the raw payload is safe; the sweeper retries it
        log.exception("webhook processing failed; left for the sweeper")
        emitted = False
    return Receipt(stored.id, duplicate=not first, emitted=emitted)


async def process(stored: StoredWebhook, uows: UowFactory, *, now: datetime, match_grace_s: float) -> bool:
    """Emits EmailActivityReceived for one stored webhook; False when deferred or already done."""
    activity = classify(stored.payload)
    if activity.activity == "other":
        log.warning("unknown PlusVibe webhook event kept and emitted as 'other'",
                    extra={"fields": {"webhook_event": activity.webhook_event, "webhook_id": str(stored.id)}})
    async with uows() as uow:
        lead = (await uow.leads.find(stored.workspace, activity.email, activity.campaign_id)
                if activity.email else None)
        waiting = now - stored.received_at < timedelta(seconds=match_grace_s)
        if lead is None and activity.email and activity.activity != "system_alert" and waiting:
            return False  # the LeadUpserted may still be on its way; the sweeper retries
        lead_id = lead.lead_id if lead is not None else None
        outcome = "emitted" if lead_id is not None or not activity.email else "emitted_unmatched"
        if not await uow.webhooks.claim(stored.id, activity=activity.activity, lead_id=lead_id, outcome=outcome,
                                        at=now):
            return False
        uow.publish(
            EmailActivityReceived(
                lead_id=lead_id,
                activity=activity.activity,  # type: ignore[arg-type,unused-ignore]  # classify() yields ActivityKind values
                webhook_event=activity.webhook_event,
                email=activity.email,
                campaign_id=activity.campaign_id,
                label=activity.label,
                sentiment=activity.sentiment,
                subject=activity.subject,
                is_camp_paused=activity.is_camp_paused,
                alert=activity.alert,
                observed_at=activity.observed_at or stored.received_at,
                raw_payload=stored.payload,
            ),
            lead_id=lead_id,
            workspace_id=stored.workspace,  # the platform workspace (the payload's workspace_id is PlusVibe's)
        )
        await uow.commit()
    return True


async def sweep(uows: UowFactory, *, match_grace_s: float, limit: int = 200) -> int:
    """Retries every unprocessed webhook; returns how many were emitted."""
    async with uows() as uow:
        pending = await uow.webhooks.unprocessed(limit)
    emitted = 0
    for stored in pending:
        try:
            if await process(stored, uows, now=datetime.now(UTC), match_grace_s=match_grace_s):
                emitted += 1
        except Exception:
            log.exception("webhook sweep failed for one row; will retry")
    return emitted
