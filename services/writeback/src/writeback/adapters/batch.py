"""Applies the events of one consumer batch set-wise, inside the batch's transaction.

Handlers only stage their event; `WritebackUnitOfWork.commit()` calls `flush()`, which locks the
projection rows of every lead in the batch with ONE query, applies the events in order in memory (the
pure rules of `domain`), then writes projections, attempts and outbox rows with a few multi-row
statements. A batch of 500 unlinked leads is a handful of round trips instead of 500 × several.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from contracts.audits import AuditCompleted
from contracts.leads import LeadPushed, LeadRemovedFromCampaign, LeadUpserted, WritebackRequested
from copywriter import Tone
from servicekit.messaging.events import Decoded
from servicekit.messaging.uow import UnitOfWork
from servicekit.process.tracing import continued_from, traceparent_now
from writeback.adapters.repository import WritebackRepository
from writeback.domain import attempts as st
from writeback.domain.payload import build_variables, payload_hash
from writeback.domain.projection import (
    AuditOrder,
    LeadState,
    apply_audit,
    apply_pushed,
    apply_removed,
    apply_snapshot,
    dedupe_key,
    order_audit,
)

log = logging.getLogger(__name__)


@dataclass
class _Head:
    status: str
    key: str
    row: dict[str, Any] | None = None  # set when the attempt was created in this batch


@dataclass
class StagedBatch:
    tone: Tone
    # Each staged event with the trace context it was consumed in: applied later, at commit, inside it.
    items: list[tuple[Decoded, str | None]] = field(default_factory=list)
    # Set by flush when a linked lead got a pending delivery: the worker is woken after commit.
    wake_delivery: bool = False

    def stage(self, item: Decoded) -> None:
        self.items.append((item, traceparent_now()))

    async def flush(self, uow: UnitOfWork, repo: WritebackRepository) -> None:
        items, self.items = self.items, []
        if not items:
            return
        now = datetime.now(UTC)
        lead_ids = [item.event.lead_id for item, _ in items if hasattr(item.event, "lead_id")]
        states = await repo.lock_states(lead_ids, now)
        heads = {k: _Head(*v) for k, v in (await repo.attempt_heads(
            s.last_attempt_id for s in states.values() if s.last_attempt_id is not None)).items()}
        known = await repo.known_requests(
            i.event.request_id for i, _ in items if isinstance(i.event, WritebackRequested))
        run = _Run(self, uow, now, heads, known)
        for item, traceparent in items:
            with continued_from(traceparent, f"apply {item.envelope.event_type}"):
                run.apply(item, states[item.event.lead_id])  # type: ignore[attr-defined]
        await repo.save_states((states[i] for i in sorted(run.dirty, key=str)), now)
        await repo.supersede(run.superseded, now)
        await repo.insert_attempts(run.new_rows)


# The projection's part of each event, shared by the live consumers (`_Run.apply`, which adds the writebacks)
# and the rebuild of the projection from the topics (writeback.ops), so both apply the same rules.
PROJECTED = (LeadUpserted, LeadPushed, LeadRemovedFromCampaign, AuditCompleted)


def project(state: LeadState, item: Decoded) -> bool:
    """Applies a LeadUpserted, LeadPushed, LeadRemovedFromCampaign or AuditCompleted to the lead's state by the
    newest-wins rules of `domain.projection`; True when the state changed."""
    event = item.event
    if isinstance(event, LeadUpserted):
        return apply_snapshot(state, event)
    if isinstance(event, LeadPushed):
        return apply_pushed(state, event)
    if isinstance(event, LeadRemovedFromCampaign):
        return apply_removed(state, event)
    if isinstance(event, AuditCompleted):
        return project_audit(state, item, event) is AuditOrder.NEWER
    return False


def project_audit(state: LeadState, item: Decoded, event: AuditCompleted) -> AuditOrder:
    """An AuditCompleted newer than the lead's audit becomes it (with the envelope's event and correlation id)."""
    order = order_audit(state, event)
    if order is AuditOrder.NEWER:
        env = item.envelope
        apply_audit(state, event, event_id=env.event_id, correlation_id=env.correlation_id or env.event_id)
    return order


class _Run:
    """The in-memory pass over one batch."""

    def __init__(self, batch: StagedBatch, uow: UnitOfWork, now: datetime, heads: dict[UUID, _Head],
                 known_requests: set[UUID]) -> None:
        self.batch, self.uow, self.now, self.heads, self.known = batch, uow, now, heads, known_requests
        self.dirty: set[UUID] = set()
        self.superseded: list[UUID] = []
        self.new_rows: list[dict[str, Any]] = []

    def apply(self, item: Decoded, state: LeadState) -> None:
        event = item.event
        changed = False
        if isinstance(event, LeadUpserted | LeadPushed | LeadRemovedFromCampaign):
            changed = project(state, item)
        elif isinstance(event, AuditCompleted):
            order = project_audit(state, item, event)
            if order is AuditOrder.STALE:
                log.info("stale AuditCompleted ignored", extra={"fields": {"audit_run_id": str(event.audit_run_id)}})
                return
            changed = self._writeback(state, item, kind="auto") or order is AuditOrder.NEWER
        elif isinstance(event, WritebackRequested):
            if event.request_id in self.known:
                return  # this operator request was already handled (replay)
            self.known.add(event.request_id)
            if state.audit_run_id is None:
                log.warning("WritebackRequested for a lead without a completed audit; nothing to write back",
                            extra={"fields": {"lead_id": str(event.lead_id)}})
                return
            changed = self._writeback(state, item, kind="manual", campaign=event.campaign_id,
                                      request_id=event.request_id)
        if changed:
            self.dirty.add(state.lead_id)

    def _writeback(self, state: LeadState, item: Decoded, *, kind: str, campaign: str | None = None,
                   request_id: UUID | None = None) -> bool:
        inputs = state.copy_inputs()
        assert inputs is not None and state.audit_run_id is not None and state.audit_requested_at is not None
        target = state.target(campaign)
        key = dedupe_key(state.audit_run_id, inputs, target)
        head = self.heads.get(state.last_attempt_id) if state.last_attempt_id else None
        if kind == "auto" and head is not None and st.is_replay(head.status, head.key, key):
            return False  # same run, same inputs, same destination, already done or under way
        if head is not None and head.status == st.PENDING:
            head.status = st.SUPERSEDED
            if head.row is not None:
                head.row["status"] = st.SUPERSEDED
            elif state.last_attempt_id is not None:
                self.superseded.append(state.last_attempt_id)
        env = item.envelope
        row: dict[str, Any] = {
            "id": uuid.uuid4(), "lead_id": state.lead_id, "audit_run_id": state.audit_run_id,
            "audit_requested_at": state.audit_requested_at, "kind": kind, "request_id": request_id,
            "campaign_id": target.campaign_id if target else (campaign or state.campaign_id),
            "email": target.email if target else None, "inputs": inputs.to_json(), "dedupe_key": key,
            "status": st.PENDING, "delivered": False, "variables": None, "payload_hash": None,
            "payload_keys": None, "steps": None, "error": None, "attempts": 0, "created_at": self.now,
            "updated_at": self.now, "first_try_at": None, "next_try_at": self.now, "lease_until": None,
            "completed_at": None, "causation_event_id": env.event_id,
            "correlation_id": env.correlation_id or env.event_id, "traceparent": traceparent_now(),
        }
        if target is None:
            # Nothing to send: the payload is ready for a later push (1 step; leads fills more on push).
            variables = build_variables(inputs, steps=1, tone=self.batch.tone)
            row.update(status=st.UNLINKED, variables=variables, payload_hash=payload_hash(variables),
                       payload_keys=sorted(variables), steps=1, next_try_at=None, completed_at=self.now,
                       error=None if state.campaign_id is None or state.deleted else "contact_email_missing")
            self.uow.publish(st.completed(row, variables=variables, delivered=False, steps=1, at=self.now),
                             causation=env)
        else:
            self.batch.wake_delivery = True
        self.new_rows.append(row)
        self.heads[row["id"]] = _Head(row["status"], key, row)
        state.last_attempt_id = row["id"]
        return True
