"""Which writebacks a batch of events makes, decided in memory (no I/O).

A `BatchPlan` holds what one consumer batch found in the database (the leads' newest attempts, the operator
requests already handled, the default copy settings of their workspaces) and collects what the batch changes:
leads whose projection changed, pending attempts a newer one supersedes, the new attempts, and the
WritebackCompleted of each lead that is not linked (its copy is built here, in the tone of its workspace's default
setting, and announced at once; a linked lead's attempt stays pending for the delivery loop, which writes it with
its campaign's setting).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from contracts.audits import AuditCompleted
from contracts.envelope import Envelope, EventData
from contracts.leads import WritebackRequested
from contracts.writeback import WritebackCompleted
from copywriter import CopySetting
from writeback.domain import attempts as st
from writeback.domain.copy_settings import copy_for
from writeback.domain.payload import build_variables, payload_hash
from writeback.domain.projection import AuditOrder, LeadState, dedupe_key, project, project_audit

log = logging.getLogger(__name__)


@dataclass
class AttemptHead:
    """A lead's newest attempt as far as the batch knows: its status and dedupe key (and its row, when the batch
    created it)."""

    status: str
    key: str
    row: dict[str, Any] | None = None


@dataclass
class BatchPlan:
    now: datetime
    heads: dict[UUID, AttemptHead]
    known_requests: set[UUID]
    # The default copy setting of each workspace of the batch that has one: the tone of an unlinked lead's copy.
    default_copy: dict[str, CopySetting] = field(default_factory=dict)
    dirty: set[UUID] = field(default_factory=set)
    superseded: list[UUID] = field(default_factory=list)
    new_rows: list[dict[str, Any]] = field(default_factory=list)
    # Each unlinked lead's WritebackCompleted with the event that caused it and the lead's workspace.
    completed: list[tuple[WritebackCompleted, Envelope, str]] = field(default_factory=list)
    # A linked lead got a pending attempt: the delivery loop has work.
    to_deliver: bool = False

    def changed(self, state: LeadState, changed: bool) -> None:
        if changed:
            self.dirty.add(state.lead_id)

    def project(self, state: LeadState, event: EventData, cause: Envelope) -> None:
        """A snapshot, push or removal changes the lead's projection only (newest wins); no writeback."""
        self.changed(state, project(state, event, cause))

    def audit_completed(self, state: LeadState, event: AuditCompleted, cause: Envelope,
                        traceparent: str | None) -> AuditOrder:
        """The newer audit becomes the lead's, and its copy is written back unless this run's copy for these
        inputs and this destination is already done or under way (a replay). A stale audit changes nothing."""
        order = project_audit(state, event, cause)
        if order is not AuditOrder.STALE:
            wrote = self._writeback(state, cause, traceparent, kind="auto")
            self.changed(state, wrote or order is AuditOrder.NEWER)
        return order

    def writeback_requested(self, state: LeadState, event: WritebackRequested, cause: Envelope,
                            traceparent: str | None) -> bool:
        """An operator's writeback of the lead's current copy, once per request id; False when the request was
        handled before or the lead has no completed audit (nothing to write back)."""
        if event.request_id in self.known_requests:
            return False
        self.known_requests.add(event.request_id)
        if state.audit_run_id is None:
            log.warning("WritebackRequested for a lead without a completed audit; nothing to write back",
                        extra={"fields": {"lead_id": str(event.lead_id)}})
            return False
        self.changed(state, self._writeback(state, cause, traceparent, kind="manual", campaign=event.campaign_id,
                                            request_id=event.request_id, copy_tone=event.tone,
                                            copy_steps=event.steps))
        return True

    def _writeback(self, state: LeadState, cause: Envelope, traceparent: str | None, *, kind: str,
                   campaign: str | None = None, request_id: UUID | None = None, copy_tone: str | None = None,
                   copy_steps: int | None = None) -> bool:
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
        row: dict[str, Any] = {
            "id": uuid.uuid4(), "lead_id": state.lead_id, "workspace": state.workspace, "audit_run_id": state.audit_run_id,
            "audit_requested_at": state.audit_requested_at, "kind": kind, "request_id": request_id,
            "campaign_id": target.campaign_id if target else (campaign or state.campaign_id),
            "email": target.email if target else None, "inputs": inputs.to_json(), "dedupe_key": key,
            "status": st.PENDING, "delivered": False, "variables": None, "payload_hash": None,
            "payload_keys": None, "steps": None, "error": None, "attempts": 0, "created_at": self.now,
            "updated_at": self.now, "first_try_at": None, "next_try_at": self.now, "lease_until": None,
            "completed_at": None, "causation_event_id": cause.event_id,
            "correlation_id": cause.correlation_id or cause.event_id, "traceparent": traceparent,
            "copy_tone": copy_tone, "copy_steps": copy_steps,
        }
        if target is None:
            # Nothing to send: the payload is ready for a later push (1 step, in the tone of the workspace's
            # default setting; leads fills more on push).
            copy = copy_for(None, self.default_copy.get(state.workspace), linked=False)
            steps = copy.steps or 1
            variables = build_variables(inputs, steps=steps, tone=copy.tone)
            row.update(status=st.UNLINKED, variables=variables, payload_hash=payload_hash(variables),
                       payload_keys=sorted(variables), steps=steps, next_try_at=None, completed_at=self.now,
                       error=None if state.campaign_id is None or state.deleted else "contact_email_missing")
            self.completed.append((st.completed(row, variables=variables, delivered=False, steps=steps,
                                                tone=copy.tone, at=self.now), cause, state.workspace))
        else:
            self.to_deliver = True
        self.new_rows.append(row)
        self.heads[row["id"]] = AttemptHead(row["status"], key, row)
        state.last_attempt_id = row["id"]
        return True
