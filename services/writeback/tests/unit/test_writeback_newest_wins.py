"""Newest-wins rules of the per-lead projection (pure)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from writeback_testkit import T0, audit_completed, lead_pushed, lead_removed, lead_upserted

from writeback.domain.projection import (
    AuditOrder,
    LeadState,
    Target,
    apply_audit,
    apply_pushed,
    apply_removed,
    apply_snapshot,
    order_audit,
)


def test_an_older_snapshot_version_changes_nothing() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead)
    assert apply_snapshot(state, lead_upserted(lead, version=3, email="new@acme.test"))
    assert not apply_snapshot(state, lead_upserted(lead, version=2, email="old@acme.test"))
    assert state.contact_email == "new@acme.test" and state.snapshot_version == 3


def test_push_links_the_lead_with_the_pushed_email_and_removal_clears_it() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead)
    apply_snapshot(state, lead_upserted(lead, email="contact@acme.test"))
    assert state.target() is None
    assert apply_pushed(state, lead_pushed(lead, "camp-1", "pushed@acme.test", at=T0 + timedelta(minutes=1)))
    assert state.target() == Target("camp-1", "pushed@acme.test")
    assert apply_removed(state, lead_removed(lead, "camp-1", "pushed@acme.test", at=T0 + timedelta(minutes=2)))
    assert state.target() is None


def test_a_late_removal_of_an_earlier_link_does_not_unlink_a_newer_push() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead)
    apply_pushed(state, lead_pushed(lead, "camp-2", "jo@acme.test", at=T0 + timedelta(minutes=5)))
    assert not apply_removed(state, lead_removed(lead, "camp-1", "jo@acme.test", at=T0 + timedelta(minutes=1)))
    assert not apply_removed(state, lead_removed(lead, "camp-1", "jo@acme.test", at=T0 + timedelta(minutes=9)))
    assert state.campaign_id == "camp-2"


def test_audits_are_ordered_by_requested_at_and_an_older_one_is_stale() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead)
    newer = audit_completed(lead, requested_at=T0 + timedelta(hours=1))
    older = audit_completed(lead, requested_at=T0)
    assert order_audit(state, newer) is AuditOrder.NEWER
    apply_audit(state, newer, event_id=uuid.uuid4(), correlation_id=None)
    assert order_audit(state, older) is AuditOrder.STALE
    assert order_audit(state, newer) is AuditOrder.SAME
    later = audit_completed(lead, requested_at=T0 + timedelta(hours=2))
    assert order_audit(state, later) is AuditOrder.NEWER


def test_a_snapshot_of_a_deleted_lead_unlinks_it() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead)
    apply_snapshot(state, lead_upserted(lead, campaign_id="camp-1"))
    assert state.target() == Target("camp-1", "jo@acme.test")
    deleted = lead_upserted(lead, version=2, campaign_id="camp-1").model_copy(update={"deleted": True})
    apply_snapshot(state, deleted)
    assert state.target() is None


def test_a_snapshot_as_old_as_the_push_does_not_undo_the_link() -> None:
    lead = uuid.uuid4()
    state = LeadState(lead)
    apply_pushed(state, lead_pushed(lead, "camp-1", "jo@acme.test", at=T0))
    apply_snapshot(state, lead_upserted(lead, campaign_id=None, at=T0))
    assert state.campaign_id == "camp-1"
    apply_snapshot(state, lead_upserted(lead, version=2, campaign_id=None, at=T0 + timedelta(seconds=1)))
    assert state.campaign_id is None
