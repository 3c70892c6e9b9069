"""The deprecated stored status `sent` and its normalisation to `email_sent`."""

from __future__ import annotations

from contracts.status import LeadStatus


def is_legacy(status: LeadStatus | str | None) -> bool:
    return status == LeadStatus.SENT_LEGACY


def normalise_status(status: LeadStatus | str | None) -> LeadStatus | None:
    """Stored value → current enum: `sent` becomes `email_sent`; None stays None (no status).

    Raises ValueError for a value that is not a status at all (bad input, never silently "new").
    """
    if status is None:
        return None
    parsed = LeadStatus(status)
    return LeadStatus.EMAIL_SENT if parsed is LeadStatus.SENT_LEGACY else parsed
