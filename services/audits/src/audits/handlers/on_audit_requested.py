"""AuditRequested → a queued audit run (inside the consumer's transaction, with the inbox record).

The audit itself does not run here: a multi-second fetch inside the consumer's batch transaction would hold
a connection and the partition. The audit worker (handlers/run_audits.py) picks queued runs up. A request
for a run id that already exists — in any state — changes nothing, so redeliveries and replays are no-ops.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from audits.adapters.runs import QUEUED
from audits.adapters.uow import AuditsUnitOfWork
from contracts.integrations import event_workspace
from contracts.leads import AuditRequested
from servicekit.messaging.events import Decoded
from servicekit.process.errors import PermanentError
from servicekit.process.tracing import traceparent_now


def new_report_slug() -> str:
    """Unguessable: 192 random bits."""
    return secrets.token_urlsafe(24)


async def handle(item: Decoded, uow: AuditsUnitOfWork) -> None:
    event = item.event
    if not isinstance(event, AuditRequested):
        raise PermanentError(f"unexpected event {type(event).__name__}")
    env = item.envelope
    await uow.runs.enqueue({
        "id": event.audit_run_id,
        "lead_id": event.lead_id,
        "domain": event.domain[:300],
        "status": QUEUED,
        "requested_at": event.requested_at,
        "requested_by": event.requested_by[:200],
        "request_event_id": env.event_id,
        "correlation_id": env.correlation_id or env.event_id,
        "workspace_id": event_workspace(env.workspace_id),
        "traceparent": traceparent_now(),  # the consume span of this record: the worker continues it
        "queued_at": datetime.now(UTC),
        "attempts": 0,
        "report_slug": new_report_slug(),
    })
