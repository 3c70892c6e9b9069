"""EmailActivityReceived from unibox: a system alert is kept (handlers/record_plusvibe_alert.py); any other activity
enriches its lead (label, sentiment, last subject, raw payload, opens) and moves its status forward only; a late or
duplicated event never moves a lead backwards. Only a lead of the event's
workspace is changed (unibox resolves addresses per workspace; a lead of another one is unknown here)."""

from __future__ import annotations

from collections.abc import Collection

from contracts.integrations import event_workspace
from contracts.status import LeadStatus
from contracts.unibox import EmailActivityReceived
from leads.adapters.lead_changes import announce, apply_status
from leads.adapters.uow import LeadsUnitOfWork
from leads.domain import transitions
from leads.domain.transitions import ActivityKind, EmailActivity
from leads.handlers.record_plusvibe_alert import record_plusvibe_alert
from servicekit.messaging.events import Decoded

_KIND = {
    "sent": ActivityKind.SENT,
    "opened": ActivityKind.OPENED,
    "replied": ActivityKind.REPLIED,
    "bounced": ActivityKind.BOUNCED,
    "label_changed": ActivityKind.LABELLED,
}


def _fit(text: str | None, size: int) -> str | None:
    """A webhook's free text cut to its column (PlusVibe labels are operator-defined; an overlong one must not make
    the event poison)."""
    return text[:size] if text else text


async def handle(
    item: Decoded, uow: LeadsUnitOfWork, *, converting_labels: Collection[str]
) -> None:
    event = item.event
    assert isinstance(event, EmailActivityReceived)
    if event.activity == "system_alert":
        await record_plusvibe_alert(item, uow)
        return
    if event.lead_id is None:
        return  # an address no lead has; unibox keeps the raw webhook
    lead = await uow.leads.get(event.lead_id, workspace=event_workspace(item.envelope.workspace_id), for_update=True)
    if lead is None:
        return
    # Every webhook is kept with its raw payload (the Timeline shows them), whatever it changes on the lead.
    uow.leads.add_webhook(event_id=item.envelope.event_id, lead_id=lead.id, workspace=lead.workspace,
                          activity=event.activity, webhook_event=event.webhook_event[:100],
                          label=_fit(event.label, 100), subject=event.subject, observed_at=event.observed_at,
                          raw_payload=dict(event.raw_payload))
    kind = _KIND.get(event.activity, ActivityKind.OTHER)
    if kind is ActivityKind.OTHER:
        return  # system alerts and unknown webhooks concern campaigns, not this lead's state
    newer = lead.pv_last_activity_at is None or event.observed_at >= lead.pv_last_activity_at
    if newer:
        # Enrichment follows the newest activity; an older event arriving late does not overwrite it.
        if event.label:
            lead.pv_label = _fit(event.label, 100)
        if event.sentiment:
            lead.pv_reply_sentiment = _fit(event.sentiment, 50)
        if event.subject:
            lead.pv_last_email_subject = event.subject
        lead.pv_raw_payload = dict(event.raw_payload)
        lead.pv_last_activity_at = event.observed_at
    if kind is ActivityKind.OPENED:
        lead.opens = (lead.opens or 0) + 1
    current = LeadStatus(lead.status) if lead.status else None
    decision = transitions.email_activity(
        current, EmailActivity(kind=kind, label=event.label or event.webhook_event), converting_labels=converting_labels
    )
    apply_status(uow, lead, decision, causation=item.envelope)
    await announce(uow, lead, causation=item.envelope)
