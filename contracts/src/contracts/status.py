"""The lead pipeline status, with the two label sets of the product help page.

Owned by the leads service (the only writer of a lead's status); every other service reads it from
events. `sent` is a deprecated stored value kept only so old rows and old events still decode.
"""

from __future__ import annotations

from enum import StrEnum


class LeadStatus(StrEnum):
    NEW = "new"
    AUDIT_QUEUED = "audit_queued"
    AUDIT_COMPLETE = "audit_complete"
    EMAIL_GENERATED = "email_generated"
    EMAIL_SENT = "email_sent"
    BOUNCED = "bounced"
    OPENED = "opened"
    REPLIED = "replied"
    RETARGETED = "retargeted"
    CONVERTED = "converted"
    SENT_LEGACY = "sent"


# Leads-table badge labels (seed: "Status values" table).
BADGE_LABELS: dict[LeadStatus, str] = {
    LeadStatus.NEW: "New",
    LeadStatus.AUDIT_QUEUED: "Audit Queued",
    LeadStatus.AUDIT_COMPLETE: "Audited",
    LeadStatus.EMAIL_GENERATED: "Email Ready",
    LeadStatus.EMAIL_SENT: "Email Sent",
    LeadStatus.BOUNCED: "Bounced",
    LeadStatus.OPENED: "Opened",
    LeadStatus.REPLIED: "Replied",
    LeadStatus.RETARGETED: "Retargeted",
    LeadStatus.CONVERTED: "Converted",
    LeadStatus.SENT_LEGACY: "Sent (legacy)",
}

# Detail-dropdown labels: the stored value with underscores as spaces. The legacy value is never offered.
DROPDOWN_STATUSES: tuple[LeadStatus, ...] = tuple(s for s in LeadStatus if s is not LeadStatus.SENT_LEGACY)
DROPDOWN_LABELS: dict[LeadStatus, str] = {s: s.value.replace("_", " ") for s in DROPDOWN_STATUSES}

# Statuses in which a lead may be enrolled once its variables are stored (seed: "the ready set").
READY_STATUSES: frozenset[LeadStatus] = frozenset(
    {
        LeadStatus.EMAIL_GENERATED,
        LeadStatus.EMAIL_SENT,
        LeadStatus.OPENED,
        LeadStatus.REPLIED,
        LeadStatus.RETARGETED,
        LeadStatus.CONVERTED,
    }
)
