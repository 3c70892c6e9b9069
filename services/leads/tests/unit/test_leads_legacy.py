"""The deprecated `sent` status."""

from __future__ import annotations

import pytest

from contracts.status import LeadStatus
from leads.domain.legacy import is_legacy, normalise_status


def test_legacy_sent_normalises_to_email_sent() -> None:
    assert normalise_status("sent") is LeadStatus.EMAIL_SENT
    assert normalise_status(LeadStatus.SENT_LEGACY) is LeadStatus.EMAIL_SENT
    assert is_legacy("sent") and not is_legacy(LeadStatus.EMAIL_SENT)


@pytest.mark.parametrize("status", [s for s in LeadStatus if s is not LeadStatus.SENT_LEGACY])
def test_current_statuses_are_unchanged(status: LeadStatus) -> None:
    assert normalise_status(status) is status
    assert normalise_status(status.value) is status


def test_no_status_stays_none_and_garbage_is_rejected() -> None:
    assert normalise_status(None) is None
    with pytest.raises(ValueError):
        normalise_status("shipped")
