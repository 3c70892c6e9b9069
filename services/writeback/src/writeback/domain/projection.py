"""The per-lead projection and its newest-wins rules (no I/O)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from contracts.audits import AuditCompleted
from contracts.envelope import Envelope, EventData
from contracts.integrations import DEFAULT_WORKSPACE
from contracts.leads import LeadPushed, LeadRemovedFromCampaign, LeadUpserted
from writeback.domain.payload import CopyInputs, digest


@dataclass
class LeadState:
    """What writeback knows of one lead, kept from leads' and audits' events."""

    lead_id: UUID
    snapshot_version: int = 0
    deleted: bool = False
    company_name: str | None = None
    domain: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job_title: str | None = None
    contact_email: str | None = None
    campaign_id: str | None = None
    # The address PlusVibe knows the lead by (from LeadPushed); PlusVibe finds leads by email.
    link_email: str | None = None
    link_at: datetime | None = None
    audit_run_id: UUID | None = None
    audit_requested_at: datetime | None = None
    audit_completed_at: datetime | None = None
    profile: dict[str, str] | None = None
    audit_event_id: UUID | None = None
    audit_correlation_id: UUID | None = None
    last_attempt_id: UUID | None = None
    # The platform workspace the lead belongs to: that of the first event writeback saw for it (never changed).
    workspace: str = DEFAULT_WORKSPACE

    def copy_inputs(self) -> CopyInputs | None:
        if self.profile is None:
            return None
        return CopyInputs(dict(self.profile), self.company_name, self.domain, self.first_name, self.last_name,
                          self.job_title)

    def target(self, campaign_override: str | None = None) -> Target | None:
        """Where the variables go: the linked campaign and the email PlusVibe knows; None when unlinked."""
        campaign = campaign_override or self.campaign_id
        email = (self.link_email if campaign == self.campaign_id else None) or self.contact_email
        if self.deleted or not campaign or not email:
            return None
        return Target(campaign, email)


@dataclass(frozen=True)
class Target:
    campaign_id: str
    email: str


def belongs(state: LeadState, workspace: str) -> bool:
    """Is an event of `workspace` about this lead? A lead stays in the workspace it was first seen in: an event
    naming it under another workspace is not applied (a producer's error, never a move)."""
    return state.workspace == workspace


def _newer_or_same(at: datetime, current: datetime | None) -> bool:
    return current is None or at >= current


def apply_snapshot(state: LeadState, event: LeadUpserted) -> bool:
    """A newer snapshot replaces contact, company and (by its update time) the campaign link."""
    lead = event.lead
    if lead.version <= state.snapshot_version:
        return False
    state.snapshot_version = lead.version
    state.deleted = event.deleted
    state.company_name = lead.company_name
    state.domain = lead.domain
    state.first_name = lead.contact.first_name
    state.last_name = lead.contact.last_name
    state.job_title = lead.contact.title
    state.contact_email = lead.contact.email
    # Ties go to the explicit LeadPushed/LeadRemovedFromCampaign (they carry the email PlusVibe knows).
    if (state.link_at is None or lead.updated_at > state.link_at) and lead.campaign_id != state.campaign_id:
        state.campaign_id = lead.campaign_id
        state.link_email = None
        state.link_at = lead.updated_at
    return True


def apply_pushed(state: LeadState, event: LeadPushed) -> bool:
    if not _newer_or_same(event.pushed_at, state.link_at):
        return False
    state.campaign_id = event.campaign_id
    state.link_email = event.email
    state.link_at = event.pushed_at
    return True


def apply_removed(state: LeadState, event: LeadRemovedFromCampaign) -> bool:
    """Clears the link, unless the lead was (re)linked to another campaign after the removal."""
    if not _newer_or_same(event.removed_at, state.link_at):
        return False
    if state.campaign_id not in (None, event.campaign_id):
        return False
    state.campaign_id = None
    state.link_email = None
    state.link_at = event.removed_at
    return True


class AuditOrder(enum.Enum):
    NEWER = "newer"  # becomes the lead's audit
    SAME = "same"  # the audit already applied (a replay or a re-publication)
    STALE = "stale"  # older than the applied one: changes nothing


def order_audit(state: LeadState, event: AuditCompleted) -> AuditOrder:
    """Runs of one lead are ordered by `requested_at` (ties broken by run id, so every replica agrees)."""
    if state.audit_run_id is None or state.audit_requested_at is None:
        return AuditOrder.NEWER
    if event.audit_run_id == state.audit_run_id:
        return AuditOrder.SAME
    mine = (event.requested_at, str(event.audit_run_id))
    theirs = (state.audit_requested_at, str(state.audit_run_id))
    return AuditOrder.NEWER if mine > theirs else AuditOrder.STALE


def apply_audit(state: LeadState, event: AuditCompleted, *, event_id: UUID, correlation_id: UUID | None) -> None:
    state.audit_run_id = event.audit_run_id
    state.audit_requested_at = event.requested_at
    state.audit_completed_at = event.completed_at
    state.profile = event.profile.model_dump()
    state.audit_event_id = event_id
    state.audit_correlation_id = correlation_id


def dedupe_key(audit_run_id: UUID, inputs: CopyInputs, target: Target | None) -> str:
    """Identifies "the same writeback": same run, same copy inputs, same destination."""
    where = None if target is None else [target.campaign_id, target.email.strip().lower()]
    return digest([str(audit_run_id), inputs.fingerprint(), where])


# The events the projection is made of: applied by the live consumers (which add the writebacks) and by the
# rebuild of the projection from the topics (writeback.ops), with the same rules.
PROJECTED = (LeadUpserted, LeadPushed, LeadRemovedFromCampaign, AuditCompleted)


def project(state: LeadState, event: EventData, envelope: Envelope) -> bool:
    """Applies a LeadUpserted, LeadPushed, LeadRemovedFromCampaign or AuditCompleted to the lead's state by the
    newest-wins rules above; True when the state changed."""
    if isinstance(event, LeadUpserted):
        return apply_snapshot(state, event)
    if isinstance(event, LeadPushed):
        return apply_pushed(state, event)
    if isinstance(event, LeadRemovedFromCampaign):
        return apply_removed(state, event)
    if isinstance(event, AuditCompleted):
        return project_audit(state, event, envelope) is AuditOrder.NEWER
    return False


def project_audit(state: LeadState, event: AuditCompleted, envelope: Envelope) -> AuditOrder:
    """An AuditCompleted newer than the lead's audit becomes it (with the envelope's event and correlation id)."""
    order = order_audit(state, event)
    if order is AuditOrder.NEWER:
        apply_audit(state, event, event_id=envelope.event_id,
                    correlation_id=envelope.correlation_id or envelope.event_id)
    return order
