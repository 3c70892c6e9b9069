"""Events published by the leads service (the only writer of a lead's status)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.common import LeadSnapshot, NonEmptyStr, ValueObject
from contracts.copy_settings import MAX_COPY_STEPS, CopyTone
from contracts.envelope import EventData
from contracts.status import LeadStatus


class LeadEvent(EventData):
    PRODUCER: ClassVar[str] = "leads"
    lead_id: UUID


class LeadUpserted(LeadEvent):
    """Leads publishes the full snapshot after every change of a lead (create, edit, status, link, delete).
    Consumed by writeback and unibox projections and by other teams; keyed by lead, newest `version` wins."""

    EVENT_TYPE: ClassVar[str] = "LeadUpserted"
    lead: LeadSnapshot
    deleted: bool = False


class LeadStatusChanged(LeadEvent):
    """Leads publishes every applied status change with who made it and why."""

    EVENT_TYPE: ClassVar[str] = "LeadStatusChanged"
    from_status: LeadStatus | None
    to_status: LeadStatus
    actor: NonEmptyStr
    reason: str
    version: int = Field(ge=1)
    changed_at: AwareDatetime


class AuditRequested(LeadEvent):
    """Leads asks for an audit of the lead's domain (Start audit). Consumed by audits."""

    EVENT_TYPE: ClassVar[str] = "AuditRequested"
    audit_run_id: UUID
    domain: NonEmptyStr
    requested_at: AwareDatetime
    requested_by: NonEmptyStr


class WritebackRequested(LeadEvent):
    """Leads asks for a manual writeback of the most recent completed audit (PlusVibe Writeback button).
    Consumed by writeback."""

    EVENT_TYPE: ClassVar[str] = "WritebackRequested"
    request_id: UUID
    campaign_id: NonEmptyStr
    audit_run_id: UUID | None = None
    requested_by: NonEmptyStr
    requested_at: AwareDatetime
    # The copy setting in force for the campaign when the operator pressed (CopySettingsChanged): writeback writes
    # with it rather than with the setting it holds, so a tone saved just before the press is never missed. Absent
    # (older events): writeback's own copy of the setting.
    tone: CopyTone | None = None
    steps: int | None = Field(default=None, ge=1, le=MAX_COPY_STEPS)


class LeadPushed(LeadEvent):
    """Leads enrolled the lead in a PlusVibe campaign with every custom variable. Consumed by writeback
    (campaign link) and unibox (active campaigns for opens)."""

    EVENT_TYPE: ClassVar[str] = "LeadPushed"
    campaign_id: NonEmptyStr
    email: NonEmptyStr
    variables: dict[str, str]
    pushed_at: AwareDatetime


class LeadRemovedFromCampaign(LeadEvent):
    """Leads removed the lead from its PlusVibe campaign (campaign-scoped delete) and cleared the link."""

    EVENT_TYPE: ClassVar[str] = "LeadRemovedFromCampaign"
    campaign_id: NonEmptyStr
    email: NonEmptyStr
    removed_at: AwareDatetime


class LeadCompletedInCampaign(LeadEvent):
    """Leads marked the lead COMPLETED in its PlusVibe campaign (its sequence stops)."""

    EVENT_TYPE: ClassVar[str] = "LeadCompletedInCampaign"
    campaign_id: NonEmptyStr
    email: NonEmptyStr
    completed_at: AwareDatetime


class SendProblem(ValueObject):
    """One placeholder of a campaign that would render empty for a lead: where, and why."""

    token: str
    step: int
    variation: str
    part: str  # subject | body
    reason: str  # variables_empty, template_variable_unknown, ...


class LeadSendAtRisk(LeadEvent):
    """The lead's campaign was edited in PlusVibe after the lead was enrolled, and its current templates would
    now render an empty placeholder for it (`resolved=False`), or no longer do (`resolved=True`). Published by
    leads' periodic template check; `writeback_requested` says a writeback refresh was asked for the tokens the
    writeback produces."""

    EVENT_TYPE: ClassVar[str] = "LeadSendAtRisk"
    campaign_id: NonEmptyStr
    resolved: bool = False
    problems: list[SendProblem] = Field(default_factory=list)
    writeback_requested: bool = False
    detected_at: AwareDatetime
