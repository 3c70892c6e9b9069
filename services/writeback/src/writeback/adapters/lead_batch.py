"""The leads one consumer batch touches, read and written set-wise inside the batch's transaction.

`LeadBatch.load` locks the projection rows of every lead in the batch with ONE query (sorted, so concurrent
batches lock in the same order; two batches that still conflict are retried by the kit) and reads their newest
attempts, the operator requests already handled and, when the batch may write copy back, the default copy setting
of its leads' workspaces (ONE query: the tone of an unlinked lead's copy); the handler applies its events in order in
memory (the rules of `domain`); `save` writes projections, attempts and outbox rows with a few multi-row statements.
A batch of 500 unlinked leads is a handful of round trips instead of 500 × several.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from contracts.audits import AuditCompleted
from contracts.integrations import event_workspace
from contracts.leads import WritebackRequested
from servicekit.messaging.consumer import consuming
from servicekit.messaging.events import Decoded
from writeback.adapters.uow import WritebackUnitOfWork
from writeback.domain.projection import LeadState, belongs
from writeback.domain.writebacks import AttemptHead, BatchPlan

log = logging.getLogger(__name__)
# The events that write a lead's copy back (the others only change the projection).
WRITING_BACK = (AuditCompleted, WritebackRequested)


@dataclass
class LeadBatch:
    uow: WritebackUnitOfWork
    states: dict[UUID, LeadState]
    plan: BatchPlan

    @classmethod
    async def load(cls, uow: WritebackUnitOfWork, items: Sequence[Decoded]) -> LeadBatch:
        now = datetime.now(UTC)
        repo = uow.repo
        # The audit profile, the attempt heads and the workspaces' default copy settings serve a writeback only: a
        # batch of snapshots, pushes and removals (two of writeback's three events per lead) skips those reads.
        writes_back = any(isinstance(item.event, WRITING_BACK) for item in items)
        states = await repo.lock_states(first_workspaces(items), now, with_profile=writes_back)
        heads: dict[UUID, AttemptHead] = {}
        if writes_back:
            last = (s.last_attempt_id for s in states.values() if s.last_attempt_id is not None)
            heads = {k: AttemptHead(*v) for k, v in (await repo.attempt_heads(last)).items()}
        known = await repo.known_requests(
            item.event.request_id for item in items if isinstance(item.event, WritebackRequested))
        defaults = await uow.copy_settings.defaults(s.workspace for s in states.values()) if writes_back else {}
        return cls(uow, states, BatchPlan(now, heads, known, defaults))

    def state(self, item: Decoded) -> LeadState:
        return self.states[item.event.lead_id]  # type: ignore[attr-defined]

    async def save(self) -> None:
        plan, repo = self.plan, self.uow.repo
        await repo.save_states((self.states[i] for i in sorted(plan.dirty, key=str)), plan.now)
        await repo.supersede(plan.superseded, plan.now)
        await repo.insert_attempts(plan.new_rows)


def first_workspaces(items: Sequence[Decoded]) -> dict[UUID, str]:
    """Each lead of the batch with the workspace of its first event: the workspace of a row made now."""
    workspaces: dict[UUID, str] = {}
    for item in items:
        lead_id = getattr(item.event, "lead_id", None)
        if isinstance(lead_id, UUID):
            workspaces.setdefault(lead_id, event_workspace(item.envelope.workspace_id))
    return workspaces


def of_its_workspace(state: LeadState, item: Decoded) -> bool:
    """False (logged) for an event naming the lead under another workspace than the lead's: not applied."""
    workspace = event_workspace(item.envelope.workspace_id)
    if belongs(state, workspace):
        return True
    log.warning("event for a lead of another workspace ignored", extra={"fields": {
        "event_id": str(item.envelope.event_id), "event_type": item.envelope.event_type,
        "lead_id": str(state.lead_id), "event_workspace": workspace, "lead_workspace": state.workspace}})
    return False


async def apply_in_batch(items: Sequence[Decoded], uow: WritebackUnitOfWork,
                         apply: Callable[[BatchPlan, LeadState, Decoded], None]) -> BatchPlan:
    """Loads the batch's leads, `apply`s each event of the lead's workspace in order (inside its consume span),
    saves what changed; returns the plan (what the handler announces, and whether the delivery loop has work)."""
    batch = await LeadBatch.load(uow, items)
    for item in items:
        with consuming(item):
            state = batch.state(item)
            if of_its_workspace(state, item):
                apply(batch.plan, state, item)
    await batch.save()
    return batch.plan


def announce_and_wake(plan: BatchPlan, uow: WritebackUnitOfWork) -> None:
    """Writes each unlinked lead's WritebackCompleted to the outbox, and wakes the delivery loop once the batch has
    committed when a linked lead's writeback waits for it (`handlers/deliver_writebacks.py`)."""
    for event, cause, workspace in plan.completed:
        uow.publish(event, causation=cause, workspace_id=workspace)
    if plan.to_deliver and uow.delivery_signal is not None:
        uow.after_commit(uow.delivery_signal.notify)
