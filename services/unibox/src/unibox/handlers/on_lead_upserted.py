"""Keeps the email→lead projection from leads.LeadUpserted (newest version wins), in the platform workspace of the
event (its envelope's `workspace_id`)."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts.integrations import event_workspace
from contracts.leads import LeadUpserted
from servicekit.messaging.events import Decoded
from unibox.adapters.uow import UniboxUnitOfWork


async def handle(item: Decoded, uow: UniboxUnitOfWork) -> None:
    event = item.event
    if not isinstance(event, LeadUpserted):
        raise TypeError(f"unexpected event {type(event).__name__}")
    await uow.leads.apply(event.lead, deleted=event.deleted, at=datetime.now(UTC),
                          workspace=event_workspace(item.envelope.workspace_id))
