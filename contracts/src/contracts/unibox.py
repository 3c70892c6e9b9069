"""Events published by the unibox service."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import AwareDatetime

from contracts.envelope import EventData

ActivityKind = Literal["sent", "replied", "bounced", "opened", "label_changed", "system_alert", "other"]


class EmailActivityReceived(EventData):
    """Unibox turned a verified PlusVibe webhook (or an observed open) into activity for a lead.
    Consumed by leads: enrichment and forward-only status moves."""

    PRODUCER: ClassVar[str] = "unibox"
    EVENT_TYPE: ClassVar[str] = "EmailActivityReceived"
    lead_id: UUID | None
    activity: ActivityKind
    webhook_event: str
    email: str | None = None
    campaign_id: str | None = None
    label: str | None = None
    sentiment: str | None = None
    subject: str | None = None
    is_camp_paused: bool | None = None
    alert: str | None = None
    observed_at: AwareDatetime
    raw_payload: dict[str, Any]


class ReplySent(EventData):
    """Unibox sent an operator's reply through PlusVibe (exactly once per idempotency key)."""

    PRODUCER: ClassVar[str] = "unibox"
    EVENT_TYPE: ClassVar[str] = "ReplySent"
    reply_id: UUID
    lead_id: UUID | None
    reply_to_id: str
    from_address: str
    to_address: str
    subject: str
    plusvibe_email_id: str | None
    sent_at: AwareDatetime


class ThreadMarkedRead(EventData):
    """Unibox marked a PlusVibe thread read on an operator's request."""

    PRODUCER: ClassVar[str] = "unibox"
    EVENT_TYPE: ClassVar[str] = "ThreadMarkedRead"
    thread_id: str
    lead_id: UUID | None
    marked_at: AwareDatetime
