"""A PlusVibe SYSTEM_ALERT (EmailActivityReceived with activity `system_alert`) is kept for the workspace, so the
dashboard can show it on the campaign picker and on the leads of the campaign it names (docs/CAMPAIGN-STATES.md).
Nothing else changes: an auto-paused campaign is refused by the next push because PlusVibe reports it PAUSED."""

from __future__ import annotations

from contracts.integrations import event_workspace
from contracts.unibox import EmailActivityReceived
from leads.adapters.orm import PlusVibeAlertRow
from leads.adapters.uow import LeadsUnitOfWork
from servicekit.messaging.events import Decoded

_MESSAGE_KEYS = ("message", "alert_message", "description", "reason")


def _text(raw: dict[str, object], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


async def record_plusvibe_alert(item: Decoded, uow: LeadsUnitOfWork) -> None:
    event = item.event
    assert isinstance(event, EmailActivityReceived)
    raw = dict(event.raw_payload)
    await uow.alerts.add_once(PlusVibeAlertRow(
        id=item.envelope.event_id,
        workspace=event_workspace(item.envelope.workspace_id),
        alert=(event.alert or "UNKNOWN")[:100],
        campaign_id=(event.campaign_id or "")[:100] or None,  # the column's size: an overlong id is no poison
        campaign_name=(_text(raw, ("campaign_name", "camp_name")) or "")[:300] or None,
        message=_text(raw, _MESSAGE_KEYS),
        campaign_paused=event.is_camp_paused,
        observed_at=event.observed_at,
        raw_payload=raw,
    ))
