"""Events published by the writeback service."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.envelope import EventData


class WritebackEvent(EventData):
    PRODUCER: ClassVar[str] = "writeback"
    lead_id: UUID
    audit_run_id: UUID
    # The audit run's request time, so leads can apply newest-wins without a lookup.
    audit_requested_at: AwareDatetime


class WritebackCompleted(WritebackEvent):
    """Writeback built the merge variables of an audit run and, when the lead is linked, delivered them
    to PlusVibe (`delivered`). Consumed by leads: stores the variables and sets `email_generated` atomically."""

    EVENT_TYPE: ClassVar[str] = "WritebackCompleted"
    variables: dict[str, str]
    delivered: bool
    campaign_id: str | None = None
    steps: int = Field(ge=1)
    completed_at: AwareDatetime
    request_id: UUID | None = None
    tone: str | None = None  # the tone the copy was written in (absent from events before copy settings)


class WritebackFailed(WritebackEvent):
    """Writeback gave up after its retries; the lead stays `audit_complete`. Consumed by leads."""

    EVENT_TYPE: ClassVar[str] = "WritebackFailed"
    error: str
    attempts: int = Field(ge=0)
    failed_at: AwareDatetime
    request_id: UUID | None = None
